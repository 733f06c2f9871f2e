"""One comparison of initialisations on the demo data: pre-train, export, fine-tune, compare.

The steps run the project's own tools as a user would (:mod:`.steps`):

- :func:`pretrain`: ``tools/train.py`` with a pre-training config of :data:`METHODS`, then
  ``tools/model_converters/export_backbone.py`` of its last checkpoint;
- :func:`finetune`: ``mim train mmdet`` :data:`FINETUNE_CONFIG` from an exported backbone, or
  from random init (``model.backbone.init_cfg=None``; everything else the same);
- :func:`compare`: ``tools/benchmark_table.py`` over the fine-tune runs (runs of the same
  weights, labels and batch are trials: mean +- std), then :func:`comparison_rows` puts every
  row beside random init's at the same labels.

``make demo`` (``tools/demo.py``) runs one seed of each; ``tools/analysis/init_study.py``
(:mod:`detco_mm.analysis.init_study`) several seeds of pre-training and fine-tuning at two label
budgets.
"""
import json
import math
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .steps import Console, StepFailed, last_checkpoint, mim_command, rel, run_step

FINETUNE_CONFIG = 'configs/finetune/retinanet_detco_demo.py'
RANDOM_INIT = 'random'


@dataclass(frozen=True)
class Method:
    """A pre-training method of the comparison."""
    key: str
    label: str
    config: str


#: The pre-training methods, by key; plus :data:`RANDOM_INIT` (no pre-training).
METHODS: Dict[str, Method] = {
    'mocov2': Method('mocov2', 'MoCo v2', 'configs/detco/mocov2_r18_demo.py'),
    'detco': Method('detco', 'DetCo', 'configs/detco/detco_r18_demo.py'),
}
LABELS = {RANDOM_INIT: 'random init', **{k: m.label for k, m in METHODS.items()}}


def pretrain(method: str, work_dir: str, data_root: str, seed: int, env: Dict[str, str],
             console: Console, log_dir: str, extra: Sequence[str] = ()) -> str:
    """Pre-train ``method`` on ``data_root`` (MMSelfSup layout) with ``seed``, export the
    backbone; return the exported file (mmdet format), relative to the checkout.

    Args:
        method: A key of :data:`METHODS`.
        work_dir: The run's work dir.
        data_root: The pre-training data (``data/demo/pretrain/``).
        seed: ``randomness.seed`` of the run.
        env: The steps' environment (:func:`.steps.child_env`).
        console: Where progress goes.
        log_dir: Where the steps' logs go (``<log_dir>/pretrain_<name>.log``, ``export_...``).
        extra: More ``--cfg-options`` (e.g. a learning rate).
    """
    import sys
    config = METHODS[method].config
    name = osp.basename(osp.normpath(work_dir))
    run_step([sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
              '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
              f'randomness.seed={seed}', *extra],
             osp.join(log_dir, f'pretrain_{name}.log'), env, console)
    checkpoint = rel(last_checkpoint(osp.abspath(work_dir)))
    backbone = osp.join(work_dir, 'backbone_mmdet.pth')
    run_step([sys.executable, 'tools/model_converters/export_backbone.py', checkpoint, backbone],
             osp.join(log_dir, f'export_{name}.log'), env, console)
    return backbone


def finetune(weights: str, work_dir: str, data_root: str, train_ann_file: Optional[str],
             seed: int, env: Dict[str, str], console: Console, log_dir: str,
             extra: Sequence[str] = ()) -> None:
    """Fine-tune :data:`FINETUNE_CONFIG` from ``weights`` (an exported backbone, or
    :data:`RANDOM_INIT`) on ``data_root`` and evaluate it.

    Args:
        weights: Exported backbone file, or :data:`RANDOM_INIT`.
        work_dir: The run's work dir.
        data_root: The detection data (``data/demo/detection/``).
        train_ann_file: The labelled scenes (relative to ``data_root``); None: the config's.
        seed: ``randomness.seed`` of the run.
        env, console, log_dir, extra: As for :func:`pretrain`.
    """
    init = (['model.backbone.init_cfg=None'] if weights == RANDOM_INIT
            else [f'pretrained={weights}'])
    # the dataset key itself: config variables such as train_ann_file are resolved when the
    # file is parsed, so overriding the variable would not reach the dataset
    labels = [f'train_dataloader.dataset.ann_file={train_ann_file}'] if train_ann_file else []
    name = osp.basename(osp.normpath(work_dir))
    run_step([mim_command(), 'train', 'mmdet', FINETUNE_CONFIG, '--work-dir', work_dir,
              '--cfg-options', *init, f'data_root={data_root}', *labels,
              f'randomness.seed={seed}', *extra],
             osp.join(log_dir, f'finetune_{name}.log'), env, console)


def compare(finetune_dirs: Sequence[str], out_json: str, env: Dict[str, str], console: Console,
            log_dir: str, out_markdown: Optional[str] = None) -> dict:
    """``tools/benchmark_table.py`` over ``finetune_dirs``; returns its JSON."""
    import sys
    cmd = [sys.executable, 'tools/benchmark_table.py', *finetune_dirs, '--measured-only',
           '--json', out_json]
    if out_markdown:
        cmd += ['--markdown', out_markdown]
    run_step(cmd, osp.join(log_dir, 'benchmark_table.log'), env, console)
    with open(out_json, encoding='utf-8') as f:
        return json.load(f)


@dataclass
class ComparisonRow:
    """Fine-tune results of one initialisation at one label budget, beside random init's."""
    init: str  # a key of LABELS
    labels: str  # the training annotation file
    trials: int
    mean: Dict[str, float]  # column -> mean over trials, percent
    std: Dict[str, Optional[float]]
    values: Dict[str, List[float]]  # column -> per trial
    delta: Dict[str, Optional[float]]  # column -> mean minus random init's mean (same labels)
    delta_std: Dict[str, Optional[float]]  # spread of that difference (see comparison_rows)


def _init_of(weights: str, weights_to_init: Dict[str, str]) -> Optional[str]:
    if weights == 'random init':
        return RANDOM_INIT
    return weights_to_init.get(osp.normpath(weights))


def _delta_spread(a: List[float], b: List[float]) -> Optional[float]:
    """Standard error of ``mean(a) - mean(b)`` (needs two trials on each side)."""
    if len(a) < 2 or len(b) < 2:
        return None

    def var(x):
        m = sum(x) / len(x)
        return sum((v - m) ** 2 for v in x) / (len(x) - 1)
    return math.sqrt(var(a) / len(a) + var(b) / len(b))


def comparison_rows(tables: dict, weights_to_init: Dict[str, str]) -> List[ComparisonRow]:
    """Rows of ``tools/benchmark_table.py --json`` output, pooled by initialisation.

    Args:
        tables: The benchmark table JSON (one benchmark: the demo fine-tune schedule).
        weights_to_init: ``{exported backbone path: method key}``: backbones of several
            pre-training seeds of a method pool into one row, every fine-tune run a trial.

    Returns:
        One row per (initialisation, training labels), random init first, with the difference
        to random init at the same labels: mean minus mean, and its spread, the standard error
        ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` (None below two trials a side).

    Raises:
        StepFailed: A fine-tune run has no result, or the runs fall in several benchmarks.
    """
    benchmarks = tables.get('benchmarks', [])
    if len(benchmarks) != 1:
        raise StepFailed(f'expected the fine-tune runs in one benchmark table, got '
                         f'{[b.get("title") for b in benchmarks]}')
    benchmark = benchmarks[0]
    for problem in benchmark.get('problem_runs', []):
        raise StepFailed(f'fine-tune run {problem["name"]} has no result: {problem["status"]}: '
                         f'{problem["reason"]}')
    columns = [c['name'] for c in benchmark['columns']]
    pooled: Dict[tuple, Dict[str, List[float]]] = {}
    for row in benchmark['our_rows']:
        init = _init_of(row['weights'], weights_to_init)
        if init is None:
            raise StepFailed(f'fine-tune row from {row["weights"]} is none of the compared '
                             f'initialisations {sorted(weights_to_init)}')
        values = pooled.setdefault((init, row.get('train_data', '')), {c: [] for c in columns})
        for run in row['runs']:
            for c in columns:
                values[c].append(run['values'][c])
    order = [RANDOM_INIT] + list(METHODS)

    def sort_key(item):  # label budgets in increasing order, all labels last
        (init, labels), _ = item
        tail = osp.splitext(osp.basename(labels))[0].rsplit('_', 1)[-1]
        return (int(tail) if tail.isdigit() else math.inf, labels, order.index(init))
    rows = []
    for (init, labels), values in sorted(pooled.items(), key=sort_key):
        n = len(values[columns[0]])
        mean = {c: sum(v) / n for c, v in values.items()}
        std = {c: (math.sqrt(sum((x - mean[c]) ** 2 for x in v) / (n - 1)) if n > 1 else None)
               for c, v in values.items()}
        base = pooled.get((RANDOM_INIT, labels))
        delta = {c: (mean[c] - sum(base[c]) / len(base[c]) if base and init != RANDOM_INIT
                     else None) for c in columns}
        delta_std = {c: (_delta_spread(values[c], base[c]) if base and init != RANDOM_INIT
                         else None) for c in columns}
        rows.append(ComparisonRow(init, labels, n, mean, std, values, delta, delta_std))
    return rows


def budget_of(labels: str) -> str:
    """``'40 labelled scenes'`` for ``.../instances_train2017_40.json`` (else the file name)."""
    stem = osp.splitext(osp.basename(labels))[0]
    tail = stem.rsplit('_', 1)[-1]
    return f'{tail} labelled scenes' if tail.isdigit() else (osp.basename(labels) or '?')


def _pm(mean: float, std: Optional[float]) -> str:
    return f'{mean:.1f} ± {std:.1f}' if std is not None else f'{mean:.1f}'


def render_comparison(rows: Sequence[ComparisonRow], column: str = 'AP',
                      num_labels: Optional[Dict[str, int]] = None) -> List[str]:
    """A markdown table of :func:`comparison_rows`: init, labels, trials, every column's
    mean ± std, and the difference to random init in ``column``."""
    if not rows:
        return []
    columns = list(rows[0].mean)
    lines = ['| initialisation | labelled scenes | trials | ' + ' | '.join(
        f'bbox {c}' for c in columns) + f' | {column} - random init |',
        '|:--|--:|--:|' + '--:|' * len(columns) + '--:|']
    for row in rows:
        budget = (num_labels or {}).get(row.labels) or budget_of(row.labels).split()[0]
        delta = ('' if row.delta[column] is None else
                 f'{row.delta[column]:+.1f}' + (f' ± {row.delta_std[column]:.1f}'
                                                if row.delta_std[column] is not None else ''))
        lines.append(f'| {LABELS[row.init]} | {budget} | {row.trials} | ' + ' | '.join(
            _pm(row.mean[c], row.std[c]) for c in columns) + f' | {delta} |')
    return lines


def verdict(rows: Sequence[ComparisonRow], method: str = 'detco', column: str = 'AP',
            pretrain_seeds: int = 1) -> List[str]:
    """One line per label budget: ``DetCo pre-training: +X AP over random init at N labelled
    scenes, K seeds`` (and against MoCo v2 when it ran)."""
    lines = []
    for row in rows:
        if row.init != method or row.delta[column] is None:
            continue
        spread = (f' ± {row.delta_std[column]:.1f}' if row.delta_std[column] is not None
                  else '')
        seeds = (f'{row.trials} fine-tune trial{"s" if row.trials > 1 else ""} over '
                 f'{pretrain_seeds} pre-training seed{"s" if pretrain_seeds > 1 else ""}')
        line = (f'{LABELS[method]} pre-training: {row.delta[column]:+.1f}{spread} {column} over '
                f'random init at {budget_of(row.labels)}, {seeds}')
        others = [r for r in rows if r.labels == row.labels and r.init not in (method,
                                                                               RANDOM_INIT)]
        for other in others:
            diff = row.mean[column] - other.mean[column]
            spread = _delta_spread(row.values[column], other.values[column])
            line += (f'; {diff:+.1f}' + (f' ± {spread:.1f}' if spread is not None else '')
                     + f' over {LABELS[other.init]}')
        lines.append(line)
    return lines
