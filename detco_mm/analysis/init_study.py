"""Does pre-training help? Random init vs MoCo v2 vs DetCo on the demo data, with seeds.

``tools/analysis/init_study.py`` is the command line over :func:`run_study`. For each seed s it
pre-trains MoCo v2 and DetCo (:data:`detco_mm.demo.experiment.METHODS`, the demo configs: the
same data, views, batch, optimizer, schedule) with ``randomness.seed=s`` and exports their
backbones; then, for each label budget, it fine-tunes RetinaNet from random init and from each
seed-s backbone with ``randomness.seed=s``. So every row has one trial per seed, and a
method's spread covers both its pre-training and its fine-tuning randomness.

The results are read back with ``tools/benchmark_table.py`` (every fine-tune run's final COCO
evaluation) and written to ``WORK_ROOT/study.md`` (the table: mean ± sample std per
initialisation and budget, and the differences DetCo - random init and DetCo - MoCo v2 with
their standard error), ``study.json`` and ``study.png``.

A step whose outputs are complete is not run again (``WORK_ROOT/<run>/study_step.json`` is
written last, with the options it was run with), so an interrupted study continues where it
stopped; a finished step made with other ``--pretrain-options`` / ``--finetune-options`` is
refused rather than reused.
"""
import json
import os.path as osp
import time
from dataclasses import asdict
from typing import Dict, Optional, Sequence

from detco_mm.demo.experiment import (LABELS, METHODS, RANDOM_INIT, compare, comparison_rows,
                                      finetune, pretrain, render_comparison, verdict)
from detco_mm.demo.steps import Console, fmt_time
from detco_mm.fileio import atomic_write

STEP_DONE = 'study_step.json'


def _done(work_dir: str, options: dict) -> bool:
    """Whether ``work_dir`` holds a finished step made with ``options``; a finished step made
    with other options is an error, never silently reused or overwritten."""
    path = osp.join(work_dir, STEP_DONE)
    if not osp.isfile(path):
        return False
    with open(path, encoding='utf-8') as f:
        made_with = json.load(f).get('options', dict(pretrain=[], finetune=[]))
    if made_with != options:
        raise ValueError(
            f'{work_dir} was made with other options ({made_with}, now {options}): use another '
            f'--work-root for other settings, or delete {work_dir} to redo it')
    return True


def _mark_done(work_dir: str, info: dict) -> None:
    with atomic_write(osp.join(work_dir, STEP_DONE), 'w', encoding='utf-8',
                      tmp=osp.join(work_dir, f'.{STEP_DONE}.part')) as f:
        json.dump(info, f, indent=1, sort_keys=True)


def ann_file_of(budget: Optional[int]) -> str:
    """The demo's training annotation file for a label budget (None: all scenes)."""
    return ('annotations/instances_train2017.json' if budget is None
            else f'annotations/instances_train2017_{budget}.json')


def render_png(rows, column: str = 'AP') -> bytes:
    """Bars of mean ``column`` per budget and initialisation, ±1 std, every trial a dot."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from detco_mm.demo.experiment import budget_of
    budgets = []
    for row in rows:
        if row.labels not in budgets:
            budgets.append(row.labels)
    inits = [i for i in [RANDOM_INIT, *METHODS] if any(r.init == i for r in rows)]
    figure = Figure(figsize=(2.2 + 2.2 * len(budgets), 3.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(inits)
    for k, init in enumerate(inits):
        for b, labels in enumerate(budgets):
            row = next((r for r in rows if r.init == init and r.labels == labels), None)
            if row is None:
                continue
            x = b + (k - (len(inits) - 1) / 2) * width
            axes.bar(x, row.mean[column], width * 0.9, color=f'C{k}',
                     yerr=row.std[column] or 0, capsize=3,
                     label=LABELS[init] if b == 0 else None)
            axes.plot([x] * len(row.values[column]), row.values[column], 'k.', markersize=4)
    axes.set_xticks(range(len(budgets)))
    axes.set_xticklabels([budget_of(b) for b in budgets])
    axes.set_ylabel(f'bbox {column} (%)')
    axes.set_title('RetinaNet R18-FPN on the demo scenes: mean ± std, dots = trials',
                   fontsize=9)
    axes.grid(axis='y', linewidth=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', metadata={'Software': None})
    return buffer.getvalue()


def run_study(work_root: str, data: Dict[str, str], seeds: Sequence[int],
              budgets: Sequence[Optional[int]], env: Dict[str, str], console: Console,
              methods: Sequence[str] = tuple(METHODS),
              pretrain_options: Sequence[str] = (),
              finetune_options: Sequence[str] = ()) -> dict:
    """Run (or continue) the study; return its summary (also ``WORK_ROOT/study.json``).

    Args:
        work_root: Where the runs and results go (relative to the checkout, or absolute).
        data: ``{'pretrain': dir, 'detection': dir}`` (:func:`detco_mm.demo.prepare_demo_data`).
        seeds: Seeds of pre-training and fine-tuning (one trial each per row).
        budgets: Label budgets (first N training scenes; None: all of them).
        env: The steps' environment.
        console: Where progress goes.
        methods: Pre-training methods (keys of ``METHODS``); random init always runs.
        pretrain_options: More ``--cfg-options`` for every pre-training.
        finetune_options: More ``--cfg-options`` for every fine-tuning.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f'unknown methods {unknown}: choose from {sorted(METHODS)}')
    logs = osp.join(work_root, 'logs')
    options = dict(pretrain=list(pretrain_options), finetune=list(finetune_options))
    times: Dict[str, float] = {}
    start = time.monotonic()
    backbones: Dict[str, str] = {}  # exported backbone -> method
    by_seed: Dict[tuple, str] = {}
    plan = [('pretrain', m, s, None) for s in seeds for m in methods]
    plan += [('finetune', i, s, b) for b in budgets for s in seeds
             for i in [RANDOM_INIT, *methods]]
    console.total_steps = len(plan) + 1
    for number, (kind, init, seed, budget) in enumerate(plan, 1):
        t0 = time.monotonic()
        if kind == 'pretrain':
            work_dir = osp.join(work_root, 'pretrain', f'{init}_s{seed}')
            backbone = osp.join(work_dir, 'backbone_mmdet.pth')
            console.step(number, f'pre-training {LABELS[init]}, seed {seed}')
            if _done(work_dir, options) and osp.isfile(backbone):
                console.say(f'done before: {work_dir}')
            else:
                backbone = pretrain(init, work_dir, data['pretrain'], seed, env, console, logs,
                                    pretrain_options)
                _mark_done(work_dir, dict(method=init, seed=seed, backbone=backbone,
                                          options=options))
            backbones[osp.normpath(backbone)] = init
            by_seed[(init, seed)] = backbone
        else:
            tag = 'all' if budget is None else str(budget)
            work_dir = osp.join(work_root, 'finetune', f'{init}_labels{tag}_s{seed}')
            console.step(number, f'fine-tuning from {LABELS[init]} (seed {seed}), '
                         f'{tag} labelled scenes')
            if _done(work_dir, options):
                console.say(f'done before: {work_dir}')
            else:
                weights = RANDOM_INIT if init == RANDOM_INIT else by_seed[(init, seed)]
                finetune(weights, work_dir, data['detection'], ann_file_of(budget), seed, env,
                         console, logs, finetune_options)
                _mark_done(work_dir, dict(init=init, seed=seed, budget=budget, options=options))
        times[f'{kind} {init} s{seed}' + (f' labels {budget}' if kind == 'finetune' else '')] = (
            time.monotonic() - t0)
    console.step(len(plan) + 1, 'results')
    tables = compare([osp.join(work_root, 'finetune')], osp.join(work_root, 'benchmark.json'),
                     env, console, logs)
    rows = comparison_rows(tables, backbones)
    table = render_comparison(rows)
    lines = verdict(rows, pretrain_seeds=len(seeds))
    total = time.monotonic() - start
    summary = dict(seeds=list(seeds), budgets=list(budgets), methods=list(methods),
                   pretrain_options=list(pretrain_options),
                   finetune_options=list(finetune_options), rows=[asdict(r) for r in rows],
                   verdict=lines, wall_time_s={k: round(v, 1) for k, v in times.items()},
                   total_wall_time_s=round(total, 1))
    with open(osp.join(work_root, 'study.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
        f.write('\n')
    markdown = table + [''] + lines + ['', f'Wall time: {fmt_time(total)} ({len(plan)} runs).']
    with open(osp.join(work_root, 'study.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(markdown) + '\n')
    with open(osp.join(work_root, 'study.png'), 'wb') as f:
        f.write(render_png(rows))
    console.say('\n'.join(markdown))
    return summary


__all__ = ['run_study', 'ann_file_of', 'render_png', 'STEP_DONE']
