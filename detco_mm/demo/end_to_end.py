"""``make demo``: does DetCo pre-training help a detector? End to end on embedded data.

``tools/demo.py`` is the command line over :func:`run_demo`. Nothing is downloaded: the data
are made from the photographs bundled with scikit-image (:mod:`detco_mm.demo.data`). Steps:

1. data: ``DATA_ROOT/pretrain`` (random crops, MMSelfSup's ImageNet layout) and
   ``DATA_ROOT/detection`` (objects cut from the photographs on photo backgrounds, COCO
   layout); built once, then verified against their manifests and reused;
2. pre-training DetCo (``tools/train.py configs/detco/detco_r18_demo.py``) and exporting its
   backbone (``tools/model_converters/export_backbone.py``);
3. pre-training MoCo v2 the same way (``configs/detco/mocov2_r18_demo.py``: same data, views,
   batch, optimizer and schedule), the baseline DetCo must beat;
4. fine-tuning RetinaNet (``mim train mmdet configs/finetune/retinanet_detco_demo.py``) on the
   demo's small labelled set from random init, from MoCo v2 and from DetCo, each evaluated
   with COCO bbox AP;
5. the results: ``tools/benchmark_table.py`` over the three fine-tune runs, the comparison
   table (each initialisation beside random init) with the verdict line, and the loss curves
   of the DetCo run with every term's chance level (``loss_curves.png``);
6. a summary: where everything is, each loss term against its chance level, the table, the
   wall time of each step (also ``WORK_DIR/summary.json``).
"""
import json
import os
import os.path as osp
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List

from detco_mm.analysis.loss_curves import (last_values, loss_curves, read_chance_levels,
                                           read_training_records, render_png)

from .data import DemoDataSpec, prepare_demo_data
from .experiment import (LABELS, RANDOM_INIT, compare, comparison_rows, finetune, pretrain,
                         render_comparison, verdict)
from .steps import ROOT, Console, child_env, fmt_time, rel, resolve_device

#: What the demo writes directly in its work dir (removed at the start of a new demo run).
OUTPUTS = ('detco_r18_demo', 'mocov2_r18_demo', 'finetune', 'logs', 'benchmark.md',
           'benchmark.json', 'comparison.md', 'loss_curves.png', 'summary.json')
NUM_STEPS = 6


@dataclass
class Preset:
    """Sizes of one demo mode and the ``--cfg-options`` that shrink the configs to them."""
    data: DemoDataSpec
    pretrain: List[str] = field(default_factory=list)
    finetune: List[str] = field(default_factory=list)
    train_ann_file: str = 'annotations/instances_train2017_40.json'


PRESETS: Dict[str, Preset] = {
    # `make demo`: the configs as they are
    'full': Preset(DemoDataSpec()),
    # the test suite: same code, configs and image sizes; fewer images and iterations
    'tiny': Preset(
        DemoDataSpec(num_crops=64, det_train=16, det_val=8, det_budgets=(8, )),
        pretrain=['train_dataloader.batch_size=8', 'model.queue_len=64',
                  'train_cfg.max_epochs=1', 'default_hooks.logger.interval=2'],
        finetune=['train_cfg.max_iters=6', 'train_cfg.val_interval=6',
                  'default_hooks.checkpoint.interval=6', 'default_hooks.logger.interval=2',
                  'param_scheduler.0.end=2', 'param_scheduler.1.end=6',
                  'param_scheduler.1.milestones=[4]', 'train_dataloader.batch_size=4',
                  # an untrained detector's scores are all low: keep them, so AP is computed
                  'model.test_cfg.score_thr=0.0'],
        train_ann_file='annotations/instances_train2017_8.json'),
}


def clean_work_dir(work_dir: str, console: Console) -> None:
    """Remove what an earlier demo run wrote in ``work_dir`` (only :data:`OUTPUTS`)."""
    old = [name for name in OUTPUTS if osp.lexists(osp.join(work_dir, name))]
    if old:
        console.say(f'removing the previous demo run\'s outputs in {work_dir}: {", ".join(old)}')
    for name in old:
        path = osp.join(work_dir, name)
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    os.makedirs(work_dir, exist_ok=True)


def term_report(pretrain_dir: str) -> dict:
    """Last value, chance level and their ratio of every loss term of a DetCo run."""
    curves = loss_curves(read_training_records(pretrain_dir))
    chance = read_chance_levels(pretrain_dir, curves)
    last = last_values(curves)
    steps, values = curves['loss']
    peak = max(range(len(values)), key=values.__getitem__)
    return dict(iterations=steps[-1], final_losses=last, chance_levels=chance,
                ratio_to_chance={k: round(last[k] / chance[k], 4) for k in last if k in chance},
                peak_loss=dict(iteration=steps[peak], value=values[peak]),
                curves=curves)


def run_demo(mode: str, device: str, data_root: str, work_dir: str,
             console: Console) -> dict:
    """Run the demo (see the module docs); return its summary.

    Args:
        mode: ``'full'`` (``make demo``) or ``'tiny'`` (the test suite's), see :data:`PRESETS`.
        device: ``auto``, ``cpu`` or ``cuda``.
        data_root: Where the demo data are made and cached.
        work_dir: Where the runs, tables, plot and summary go.
        console: Where progress goes.

    Raises:
        detco_mm.demo.steps.StepFailed: A step failed (its message has the log's tail).
        detco_mm.demo.DemoDataError: The data root holds something that is not ours.
    """
    preset = PRESETS[mode]
    device = resolve_device(device)
    env = child_env(device)
    console.total_steps = NUM_STEPS
    work_dir, data_root = rel(work_dir), rel(data_root)
    logs = osp.join(work_dir, 'logs')
    times: Dict[str, float] = {}
    start = time.monotonic()
    console.say(f'DetCo demo ({mode}) on {device}: data in {data_root}, outputs in {work_dir} '
                f'(paths relative to {ROOT})')
    clean_work_dir(osp.join(ROOT, work_dir), console)

    def timed(name: str, fn: Callable[[], object]):
        t0 = time.monotonic()
        result = fn()
        times[name] = time.monotonic() - t0
        console.say(f'--- {name}: {fmt_time(times[name])}')
        return result

    console.step(1, 'data: crops and detection scenes from scikit-image\'s bundled photographs')
    data = timed('data', lambda: prepare_demo_data(data_root, preset.data, log=console.say))

    backbones = {}
    for number, method, name in ((2, 'detco', 'detco_r18_demo'),
                                 (3, 'mocov2', 'mocov2_r18_demo')):
        console.step(number, f'pre-training {LABELS[method]}, then exporting its backbone')
        backbones[method] = timed(f'pre-training {LABELS[method]}', lambda: pretrain(
            method, osp.join(work_dir, name), data['pretrain'], 0, env, console, logs,
            preset.pretrain))

    console.step(4, f'fine-tuning RetinaNet from random init, MoCo v2 and DetCo on '
                 f'{preset.train_ann_file}, COCO evaluation')
    finetune_dirs = {}
    for init in (RANDOM_INIT, 'mocov2', 'detco'):
        weights = RANDOM_INIT if init == RANDOM_INIT else backbones[init]
        finetune_dirs[init] = osp.join(work_dir, 'finetune', f'retinanet_{init}')
        timed(f'fine-tuning from {LABELS[init]}', lambda: finetune(
            weights, finetune_dirs[init], data['detection'], preset.train_ann_file, 0, env,
            console, logs, preset.finetune))

    console.step(5, 'results: benchmark table, comparison with random init, loss curves')
    table_md = osp.join(work_dir, 'benchmark.md')
    table_json = osp.join(work_dir, 'benchmark.json')
    comparison_md = osp.join(work_dir, 'comparison.md')
    png = osp.join(work_dir, 'loss_curves.png')
    pretrain_dir = osp.join(work_dir, 'detco_r18_demo')

    def report():
        tables = compare(list(finetune_dirs.values()), osp.join(ROOT, table_json), env, console,
                         logs, out_markdown=table_md)
        rows = comparison_rows(tables, {osp.normpath(b): m for m, b in backbones.items()})
        terms = term_report(osp.join(ROOT, pretrain_dir))
        with open(osp.join(ROOT, png), 'wb') as f:
            f.write(render_png(terms['curves'], 'DetCo pre-training losses (make demo); dashed: '
                               'chance level w ln(K+1)', chance=terms['chance_levels']))
        table, lines = render_comparison(rows), verdict(rows)
        with open(osp.join(ROOT, comparison_md), 'w', encoding='utf-8') as f:
            f.write('\n'.join(table + [''] + lines) + '\n')
        return rows, terms, table, lines
    rows, terms, table, lines = timed('results', report)
    times['total'] = time.monotonic() - start
    terms.pop('curves')
    return dict(
        mode=mode, device=device,
        data=dict(root=data_root, pretrain=data['pretrain'], detection=data['detection']),
        pretraining=dict(work_dir=pretrain_dir, **terms),
        backbones=backbones,
        finetuning=dict(labels=preset.train_ann_file, work_dirs=finetune_dirs,
                        rows=[asdict(r) for r in rows], table=table, verdict=lines),
        outputs=dict(benchmark_md=table_md, benchmark_json=table_json,
                     comparison_md=comparison_md, loss_curves_png=png, logs=logs,
                     summary=osp.join(work_dir, 'summary.json')),
        wall_time_s={k: round(v, 1) for k, v in times.items()})


def print_summary(summary: dict, console: Console) -> None:
    """The demo's last screen: times, loss terms vs chance, the comparison, the paths."""
    say = console.say
    pre, det, out, times = (summary['pretraining'], summary['finetuning'], summary['outputs'],
                            summary['wall_time_s'])
    console.step(NUM_STEPS, 'summary')
    say(f'DetCo demo ({summary["mode"]}) on {summary["device"]}: done in '
        f'{fmt_time(times["total"])}')
    say('\nwall time per step:')
    for name, seconds in times.items():
        if name != 'total':
            say(f'  {name:<30} {fmt_time(seconds)}')
    say(f'\nDetCo pre-training: final loss terms (iteration {pre["iterations"]}, weighted as '
        f'logged) and their chance level w ln(K+1):')
    losses, chance = pre['final_losses'], pre['chance_levels']
    peak = pre['peak_loss']
    for key, value in losses.items():
        level = (f'   chance {chance[key]:7.4f}  ({value / chance[key]:.0%} of it)'
                 if key in chance else '')
        say(f'  {key:<15} {value:8.4f}{level}')
    say(f'  (the total peaks at {peak["value"]:.4f}, iteration {peak["iteration"]})')
    say(f'\nfine-tuned RetinaNet ResNet-18-FPN on {det["labels"]}, COCO bbox AP in % on the '
        f'validation scenes (a demo with one seed per row, not comparable with the paper\'s '
        f'numbers; tools/analysis/init_study.py runs several seeds):')
    for line in det['table']:
        say('  ' + line)
    for line in det['verdict']:
        say('\n' + line)
    say('\nwhere everything is:')
    rows = [('demo data', summary['data']['root']),
            ('DetCo pre-training run', pre['work_dir']),
            ('exported backbones', ', '.join(summary['backbones'].values())),
            ('fine-tune runs', osp.dirname(next(iter(det['work_dirs'].values())))),
            ('benchmark table', f'{out["benchmark_md"]} (+ .json)'),
            ('comparison', out['comparison_md']),
            ('loss curves', out['loss_curves_png']),
            ('full logs', out['logs']),
            ('this summary', out['summary'])]
    for label, path in rows:
        say(f'  {label:<24} {path}')


def write_summary(summary: dict) -> None:
    """``summary.json`` of the demo's work dir."""
    with open(osp.join(ROOT, summary['outputs']['summary']), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
        f.write('\n')
