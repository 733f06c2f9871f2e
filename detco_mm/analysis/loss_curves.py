"""Every DetCo loss term per stage, and their sum, from a pre-training run's log, with the
chance level of each term.

``tools/analysis/plot_loss_curves.py WORK_DIR`` is the command line over this module. A work
dir is the run's MMEngine work dir (``work_dirs/<config>``; every launch in it is read,
``<timestamp>/vis_data/scalars.json``, a resumed launch replacing the iterations it repeats) or
one ``scalars.json`` file. The figure has one panel per stage (``res2`` ... ``res5``) with its
terms (``g2g``, ``l2l``, ``l2g``, and ``g2l`` where the config enables it), as logged: each
multiplied by its stage's weight (0.1, 0.4, 0.7, 1.0 in the paper), plus a panel with the
total ``loss``, the DetCo objective. The x axis is the training iteration. The PNG is drawn
with matplotlib's Agg canvas and carries no date, so the same log gives the same file.

**Chance level.** Each term is an InfoNCE loss: a cross-entropy over one positive key and the K
negative keys of its queue, weighted by its stage's ``w``. An encoder whose query tells the
positive apart no better than a random guess scores ``w * ln(K + 1)`` (6.93 for w = 1,
K = 1024). A term that ends near that line has learnt nothing; :func:`chance_levels` reads K
and the weights from the run's dumped config and the plot draws each level as a dashed line.
"""
import glob
import json
import math
import os.path as osp
import re
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
    """The last logged value of every curve."""
    return {key: values[-1] for key, (steps, values) in curves.items() if values}


DEFAULT_LOSS_WEIGHTS = (0.1, 0.4, 0.7, 1.0)  # HierarchicalContrastiveHead's, res2..res5


def dumped_config(path: str) -> Optional[str]:
    """The newest launch's dumped config (``<ts>/vis_data/config.py``) of a work dir, or of the
    launch a ``scalars.json`` belongs to; None when there is none."""
    if osp.isfile(path):
        candidate = osp.join(osp.dirname(path), 'config.py')
        return candidate if osp.isfile(candidate) else None
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'config.py')))
    return files[-1] if files else None


def chance_levels(curves: Dict[str, Curve], config: dict) -> Dict[str, float]:
    """``w * ln(K + 1)`` for every term curve (and their sum for ``loss``), from a DetCo config.

    Args:
        curves: As :func:`loss_curves` returns them.
        config: The run's config as a dict (``model.queue_len``, ``model.head.loss_weights``
            and the stages the terms are named after).

    Returns:
        ``{curve key: chance level}``; empty when the config has no ``model.queue_len``.
    """
    model = config.get('model') if isinstance(config, dict) else None
    queue_len = model.get('queue_len') if isinstance(model, dict) else None
    if not isinstance(queue_len, int) or queue_len < 1:
        return {}
    head = model.get('head') if isinstance(model.get('head'), dict) else {}
    weights = head.get('loss_weights', DEFAULT_LOSS_WEIGHTS)
    stages: List[str] = []
    for key in curves:
        match = TERM.match(key)
        if match and match.group(2) not in stages:
            stages.append(match.group(2))
    if not isinstance(weights, (list, tuple)) or len(weights) != len(stages):
        return {}
    per_stage = dict(zip(stages, (float(w) * math.log(queue_len + 1) for w in weights)))
    levels = {}
    for key in curves:
        match = TERM.match(key)
        if match:
            levels[key] = per_stage[match.group(2)]
    if levels and 'loss' in curves:
        levels['loss'] = sum(levels.values())
    return levels


def read_chance_levels(path: str, curves: Dict[str, Curve]) -> Dict[str, float]:
    """:func:`chance_levels` from the dumped config of the run at ``path`` (read with ``ast``,
    never executed); empty when there is no readable config."""
    from detco_mm.benchmark.config_reader import ConfigReadError, read_config
    config_path = dumped_config(path)
    if config_path is None:
        return {}
    try:
        config, _ = read_config(config_path)
    except ConfigReadError:
        return {}
    return chance_levels(curves, config)


def render_png(curves: Dict[str, Curve], title: str = '', dpi: int = 100,
               chance: Optional[Dict[str, float]] = None) -> bytes:
    """The figure as PNG bytes: one panel per stage and one for the total; each curve's chance
    level (``chance``, see :func:`chance_levels`) as a dashed line of its colour."""
    chance = chance or {}
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
            if 'loss' in chance:
                axes.axhline(chance['loss'], color='black', linestyle='--', linewidth=0.8,
                             label=f'chance {chance["loss"]:.2f}')
            axes.set_title('total: the DetCo objective')
        else:
            for t, term in enumerate(TERM_ORDER):
                key = f'loss_{term}_{panel}'
                if key in curves:
                    steps, values = curves[key]
                    axes.plot(steps, values, color=f'C{t}', linewidth=1.0, label=key)
                    if key in chance:
                        axes.axhline(chance[key], color=f'C{t}', linestyle='--',
                                     linewidth=0.8)
            if any(k.endswith(f'_{panel}') for k in chance):
                axes.plot([], [], color='grey', linestyle='--', linewidth=0.8,
                          label='chance w ln(K+1)')
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
