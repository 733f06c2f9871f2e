"""Plot every DetCo loss term per stage, and their sum, from a pre-training run's log.

Usage::

    python tools/analysis/plot_loss_curves.py WORK_DIR [--out FILE.png] [--dpi N]

WORK_DIR is the run's MMEngine work dir (``work_dirs/<config>``; every launch in it is read,
``<timestamp>/vis_data/scalars.json``, a resumed launch replacing the iterations it repeats) or
one ``scalars.json`` file. The figure has one panel per stage (``res2`` ... ``res5``) with its
terms (``g2g``, ``l2l``, ``l2g``, and ``g2l`` where the config enables it), as logged: each
multiplied by its stage's weight (0.1, 0.4, 0.7, 1.0 in the paper), plus a panel with the
total ``loss``, the DetCo objective. The x axis is the training iteration. The PNG is drawn
with matplotlib's Agg canvas and carries no date, so the same log gives the same file.
Default ``--out``: ``WORK_DIR/loss_curves.png``.

It prints the last logged value of every term (``--quiet`` to skip).
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Tuple

TERM = re.compile(r'^loss_(g2g|l2l|l2g|g2l)_(\w+)$')
TERM_ORDER = ('g2g', 'l2l', 'l2g', 'g2l')

Curve = Tuple[List[int], List[float]]


class LossLogError(RuntimeError):
    """No scalars log, or one without DetCo loss terms."""


def scalars_files(path: str) -> List[str]:
    """The ``scalars.json`` files of a work dir, oldest launch first (or ``[path]``)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise LossLogError(f'{path} is neither a work dir nor a scalars.json file')
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise LossLogError(f'{path} holds no <timestamp>/vis_data/scalars.json: not an MMEngine '
                           f'work dir, or no launch logged an iteration yet')
    return files


def read_training_records(path: str) -> List[dict]:
    """The training-iteration records (those with a ``loss``), by step, over all launches;
    a later launch's record of a step replaces an earlier one (resumed runs)."""
    by_step: Dict[int, dict] = {}
    for file in scalars_files(path):
        with open(file, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:  # a launch killed while writing its last line
                    continue
                if isinstance(record, dict) and 'loss' in record and 'step' in record:
                    by_step[int(record['step'])] = record
    return [by_step[step] for step in sorted(by_step)]


def loss_curves(records: List[dict]) -> Dict[str, Curve]:
    """``{'loss': (steps, values), 'loss_g2g_res2': ..., ...}`` in display order: the total,
    then per stage (in the order logged) its terms in :data:`TERM_ORDER`."""
    stages: List[str] = []
    terms = set()
    for record in records:
        for key in record:
            match = TERM.match(key)
            if match:
                terms.add(key)
                if match.group(2) not in stages:
                    stages.append(match.group(2))
    if not terms:
        raise LossLogError('the log has no DetCo loss terms (loss_g2g_res2, ...): is it a '
                           'DetCo pre-training run?')
    keys = ['loss'] + [f'loss_{t}_{s}' for s in stages for t in TERM_ORDER
                       if f'loss_{t}_{s}' in terms]
    curves = {}
    for key in keys:
        points = [(int(r['step']), float(r[key])) for r in records if key in r]
        curves[key] = ([p[0] for p in points], [p[1] for p in points])
    return curves


def last_values(curves: Dict[str, Curve]) -> Dict[str, float]:
    return {key: values[-1] for key, (steps, values) in curves.items() if values}


def render_png(curves: Dict[str, Curve], title: str = '', dpi: int = 100) -> bytes:
    """The figure as PNG bytes: one panel per stage and one for the total."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stages: List[str] = []
    for key in curves:
        match = TERM.match(key)
        if match and match.group(2) not in stages:
            stages.append(match.group(2))
    panels = stages + ['total']
    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows), dpi=dpi)
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        if panel == 'total':
            steps, values = curves['loss']
            axes.plot(steps, values, color='black', linewidth=1.2, label='loss (sum)')
            axes.set_title('total: the DetCo objective')
        else:
            for t, term in enumerate(TERM_ORDER):
                key = f'loss_{term}_{panel}'
                if key in curves:
                    steps, values = curves[key]
                    axes.plot(steps, values, color=f'C{t}', linewidth=1.0, label=key)
            axes.set_title(f'{panel} (weighted terms)')
        axes.set_xlabel('iteration')
        axes.grid(linewidth=0.3)
        axes.legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', metadata={'Software': None})
    return buffer.getvalue()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='plot_loss_curves.py',
        description='Every DetCo loss term per stage, and the total, from a pre-training log.')
    parser.add_argument('work_dir', help='MMEngine work dir of the run, or a scalars.json file')
    parser.add_argument('--out', help='PNG to write (default: WORK_DIR/loss_curves.png)')
    parser.add_argument('--title', help='figure title (default: the work dir)')
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--quiet', action='store_true', help='do not print the last values')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    out = args.out
    if out is None:
        base = args.work_dir if osp.isdir(args.work_dir) else osp.dirname(args.work_dir)
        out = osp.join(base, 'loss_curves.png')
    try:
        records = read_training_records(args.work_dir)
        curves = loss_curves(records)
    except LossLogError as e:
        print(f'plot_loss_curves.py: error: {e}', file=sys.stderr)
        return 2
    title = args.title if args.title is not None else (
        f'DetCo pre-training losses: {osp.basename(osp.normpath(args.work_dir))}')
    png = render_png(curves, title, args.dpi)
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out, 'wb') as f:
        f.write(png)
    if not args.quiet:
        steps = curves['loss'][0]
        print(f'last values (iteration {steps[-1]}):')
        for key, value in last_values(curves).items():
            print(f'  {key:<15} {value:.4f}')
    print(f'plot_loss_curves.py: {len(curves)} curves, {len(records)} logged iterations -> {out}',
          file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
