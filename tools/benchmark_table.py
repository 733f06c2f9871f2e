"""Regenerate the paper-style benchmark tables from finished fine-tune runs.

Usage::

    python tools/benchmark_table.py WORK_DIR [WORK_DIR ...]
        [--readme FILE] [--markdown FILE] [--csv FILE] [--json FILE] [--plot-dir DIR]
        [--measured-only] [--paper-data FILE]

Scans the MMEngine work dirs under each WORK_DIR (``work_dirs/`` holds one per fine-tune run),
recognises each run's benchmark, schedule and pre-trained weights from its dumped config, takes
its final evaluation, and writes one markdown table per benchmark with the paper's reference
rows (``tools/benchmark_data/paper_results.json``) beside ours. Runs of the same setting are
trials (mean ± std); runs without a final result are listed with the reason. Runs that never
trained (every launch failed before its first iteration, or is still starting) are left out of
the tables and named on stderr, as are such launches of runs that did train.

Outputs: ``--readme`` rewrites the part of a markdown file between
``<!-- detco-benchmark:start -->`` and ``<!-- detco-benchmark:end -->``; ``--markdown`` writes
the tables to a file of their own; ``--csv`` / ``--json`` write the same data for scripts;
``--plot-dir`` writes ``<benchmark>.png`` bar charts. With none of these the markdown goes to
stdout. Files are only rewritten when their content changes, and the content depends on the runs
only, so a second call with no new results changes nothing.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from detco_mm.benchmark import (PaperDataError, SectionError, build_report, load_paper_results,
                                render_png, replace_section)

DEFAULT_PAPER_DATA = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark_data',
                              'paper_results.json')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='benchmark_table.py',
        description='Paper-style benchmark tables from MMEngine fine-tune work dirs.')
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='a work dir, or a directory of work dirs (e.g. work_dirs/)')
    parser.add_argument('--readme', metavar='FILE',
                        help='rewrite the section between <!-- detco-benchmark:start --> and '
                        '<!-- detco-benchmark:end --> of this markdown file')
    parser.add_argument('--markdown', metavar='FILE', help='write the tables to this file')
    parser.add_argument('--csv', metavar='FILE', help='write one line per row and metric')
    parser.add_argument('--json', metavar='FILE', help='write the tables with every trial')
    parser.add_argument('--plot-dir', metavar='DIR', help='write <benchmark>.png bar charts')
    parser.add_argument('--measured-only', action='store_true',
                        help='only the benchmarks with runs of ours (default: every benchmark '
                        'of the paper, so the tables show where our rows will appear)')
    parser.add_argument('--paper-data', metavar='FILE', default=DEFAULT_PAPER_DATA,
                        help='the paper\'s numbers (default: %(default)s)')
    return parser.parse_args(argv)


def _write(path: str, data: bytes) -> bool:
    """Write ``data`` unless the file already holds exactly it; return whether it wrote."""
    if osp.isfile(path):
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    directory = osp.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    return True


def _fail(message: str) -> int:
    print(f'benchmark_table.py: error: {message}', file=sys.stderr)
    return 2


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for work_dir in args.work_dirs:
        if not osp.exists(work_dir):
            return _fail(f'work dir {work_dir!r} does not exist')
        if not osp.isdir(work_dir):
            return _fail(f'work dir {work_dir!r} is not a directory')
    readme_text = None
    if args.readme:
        if not osp.isfile(args.readme):
            return _fail(f'--readme {args.readme!r} does not exist')
        with open(args.readme, encoding='utf-8', newline='') as f:
            readme_text = f.read()
        try:
            replace_section(readme_text, '', args.readme)
        except SectionError as e:
            return _fail(str(e))
    try:
        paper = load_paper_results(args.paper_data)
    except PaperDataError as e:
        return _fail(str(e))

    result = build_report(args.work_dirs, paper, measured_only=args.measured_only)
    markdown, tables = result.markdown, result.tables

    report = []
    if args.readme:
        new = replace_section(readme_text, markdown, args.readme)
        changed = new != readme_text and _write(args.readme, new.encode('utf-8'))
        report.append(f'{args.readme}: {"updated" if changed else "unchanged"}')
    outputs = [(args.markdown, markdown), (args.csv, result.csv() if args.csv else None),
               (args.json, result.json() if args.json else None)]
    for path, text in outputs:
        if path:
            changed = _write(path, text.encode('utf-8'))
            report.append(f'{path}: {"written" if changed else "unchanged"}')
    if args.plot_dir:
        written = unchanged = 0
        for table in tables:
            png = render_png(table)
            if png is None:
                continue
            if _write(osp.join(args.plot_dir, f'{table.benchmark.key}.png'), png):
                written += 1
            else:
                unchanged += 1
        report.append(f'{args.plot_dir}: charts: {written} written, {unchanged} unchanged')
    if not (args.readme or args.markdown or args.csv or args.json or args.plot_dir):
        sys.stdout.write(markdown)

    measured = sum(row.trials for table in tables for row in table.our_rows)
    problems = sum(len(table.problem_rows) for table in tables)
    runs = result.runs
    summary = (f'benchmark_table.py: {len(runs)} run{"s" if len(runs) != 1 else ""}: '
               f'{measured} with a result, {problems} '
               f'without one, {len(result.unplaced)} in no table')
    print('; '.join([summary] + report), file=sys.stderr)
    never_trained = result.never_trained
    if never_trained:
        print(f'benchmark_table.py: skipped {_count(never_trained, "run")} that never trained '
              '(no training iteration or evaluation logged: failed before training, or still '
              'starting): ' + ', '.join(run.name for run in never_trained), file=sys.stderr)
    passed_over = [f'{run.name}/{launch}' for run in runs for launch in run.never_trained]
    if passed_over:
        print(f'benchmark_table.py: passed over {_count(passed_over, "launch")} that never '
              'trained, in runs that did: ' + ', '.join(passed_over), file=sys.stderr)
    return 0


def _count(items: list, noun: str) -> str:
    return f'{len(items)} {noun}' + ('' if len(items) == 1 else 'es' if noun.endswith('h') else 's')


if __name__ == '__main__':
    sys.exit(main())
