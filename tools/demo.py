"""DetCo end to end on embedded data: pre-train, export, fine-tune a detector, evaluate, report.

Usage::

    python tools/demo.py [--device auto|cpu|cuda] [--tiny] [--data-root DIR] [--work-dir DIR]
                         [--verbose]
    make demo            # installs when needed, then runs this

Nothing is downloaded: the data are made from the photographs bundled with scikit-image
(:mod:`detco_mm.demo`). The steps run the project's own tools, as a user would:

1. data: ``DATA_ROOT/pretrain`` (random crops, MMSelfSup's ImageNet layout) and
   ``DATA_ROOT/detection`` (shapes on photographs, COCO layout); built once, then verified
   against their manifests and reused;
2. pre-training: ``tools/train.py configs/detco/detco_r18_demo.py``, then
   ``tools/model_converters/export_backbone.py`` of its last checkpoint;
3. fine-tuning: ``mim train mmdet configs/finetune/retinanet_detco_demo.py`` (MMDetection's
   runner) from the exported backbone, evaluated with COCO bbox AP after the last iteration;
4. ``tools/benchmark_table.py`` on the fine-tune run (``benchmark.md`` / ``.json``) and
   ``tools/analysis/plot_loss_curves.py`` on the pre-training run (``loss_curves.png``);
5. a summary: where everything is, the last value of every loss term, the detector's AP, and
   the wall time of each step (also written to ``WORK_DIR/summary.json``).

The console shows the progress lines (with ETA) and the evaluation; each step's full output is
in ``WORK_DIR/logs/<step>.log``. ``--device auto`` (the default, or ``DETCO_DEMO_DEVICE``)
trains on a CUDA GPU when torch sees one, else on the CPU; ``--tiny`` is the same path with a
few dozen images and iterations (what the test suite runs, about a minute).
"""
import argparse
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # detco_mm from this checkout, also when run as `python tools/demo.py`

from detco_mm.demo import DemoDataError, DemoDataSpec, prepare_demo_data  # noqa: E402

PRETRAIN_CONFIG = 'configs/detco/detco_r18_demo.py'
FINETUNE_CONFIG = 'configs/finetune/retinanet_detco_demo.py'
PRETRAIN_NAME = 'detco_r18_demo'
FINETUNE_NAME = 'retinanet_detco_demo'
#: What the demo writes directly in its work dir (removed at the start of a new demo run).
OUTPUTS = (PRETRAIN_NAME, FINETUNE_NAME, 'logs', 'benchmark.md', 'benchmark.json',
           'loss_curves.png', 'summary.json')

# Console lines worth showing from the runners' output (everything is in the step's log).
SHOW = re.compile(r'(Epoch|Iter)\((train|val|test)\)|Average (Precision|Recall)|'
                  r'coco/bbox_mAP|load model from|DetCoFinetuneRunner:|Saving checkpoint|'
                  r'Training command is|'
                  r'^exported |benchmark_table\.py: |plot_loss_curves\.py: |Traceback|Error|'
                  r'\| (category|rectangle|ellipse|triangle)')


@dataclass
class Preset:
    data: DemoDataSpec
    pretrain: List[str] = field(default_factory=list)  # --cfg-options of the pre-training
    finetune: List[str] = field(default_factory=list)  # --cfg-options of the fine-tuning


PRESETS: Dict[str, Preset] = {
    # `make demo`: the configs as they are
    'full': Preset(DemoDataSpec()),
    # the test suite: same code, configs and image sizes; fewer images and iterations
    'tiny': Preset(
        DemoDataSpec(num_crops=64, det_train=16, det_val=8),
        pretrain=['train_dataloader.batch_size=8', 'model.queue_len=64',
                  'train_cfg.max_epochs=1', 'default_hooks.logger.interval=2'],
        finetune=['train_cfg.max_iters=6', 'train_cfg.val_interval=6',
                  'default_hooks.checkpoint.interval=6', 'default_hooks.logger.interval=2',
                  'param_scheduler.0.end=2', 'param_scheduler.1.end=6',
                  'param_scheduler.1.milestones=[4]', 'train_dataloader.batch_size=4',
                  # an untrained detector's scores are all low: keep them, so AP is computed
                  'model.test_cfg.score_thr=0.0']),
}


class StepFailed(RuntimeError):
    pass


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='demo.py', description='DetCo end to end on data made from scikit-image\'s '
        'bundled photographs: pre-train, export, fine-tune RetinaNet, evaluate, report.')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'],
                        default=os.environ.get('DETCO_DEMO_DEVICE', 'auto'),
                        help='auto (default; env DETCO_DEMO_DEVICE): CUDA when torch sees a GPU, '
                        'else CPU')
    parser.add_argument('--tiny', action='store_true',
                        help='the same path with a few dozen images and iterations (~1 min)')
    parser.add_argument('--data-root', help='where the demo data are made and cached '
                        '(default: data/demo, or data/demo_tiny with --tiny)')
    parser.add_argument('--work-dir', help='where the runs, table, plot and summary go '
                        '(default: work_dirs/demo, or work_dirs/demo_tiny with --tiny)')
    parser.add_argument('--verbose', action='store_true',
                        help='show the runners\' whole output, not only progress and results')
    args = parser.parse_args(argv)
    if args.device not in ('auto', 'cpu', 'cuda'):
        parser.error(f'DETCO_DEMO_DEVICE={args.device!r}: use auto, cpu or cuda')
    suffix = '_tiny' if args.tiny else ''
    # defaults in the checkout (whatever the current directory), given paths as usual
    args.data_root = osp.abspath(args.data_root or osp.join(ROOT, 'data', f'demo{suffix}'))
    args.work_dir = osp.abspath(args.work_dir or osp.join(ROOT, 'work_dirs', f'demo{suffix}'))
    return args


def rel(path: str) -> str:
    """``path`` relative to the checkout when inside it (the steps run there), else absolute."""
    path = osp.abspath(path)
    inside = osp.commonpath([path, ROOT]) == ROOT
    return osp.relpath(path, ROOT) if inside else path


def resolve_device(requested: str) -> str:
    import torch
    available = torch.cuda.is_available()
    if requested == 'cuda' and not available:
        raise SystemExit('demo.py: --device cuda, but torch sees no CUDA device '
                         f'(torch {torch.__version__}); use --device cpu')
    return 'cuda' if requested == 'cuda' or (requested == 'auto' and available) else 'cpu'


def child_env(device: str) -> Dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')  # custom_imports
    env['PYTHONUNBUFFERED'] = '1'  # progress lines as they happen
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''  # the runners take a visible GPU by themselves
    return env


class Console:
    def __init__(self, verbose: bool):
        self.verbose = verbose

    def say(self, text: str = '') -> None:
        print(text, flush=True)

    def step(self, number: int, title: str) -> None:
        self.say(f'\n=== [{number}/5] {title}')


def run_step(cmd: List[str], log_path: str, env: Dict[str, str], console: Console) -> str:
    """Run ``cmd`` in the repo root, its output into ``log_path``, the interesting lines (or all
    of them with --verbose) onto the console. Returns the output; raises StepFailed."""
    log_file = osp.join(ROOT, log_path)
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    console.say('$ ' + ' '.join(cmd))
    lines = []
    with open(log_file, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1,
                                errors='replace')
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if console.verbose or SHOW.search(line):
                console.say('  ' + line.rstrip('\n'))
        code = proc.wait()
    if code != 0:
        tail = ''.join(lines[-40:])
        raise StepFailed(f'{" ".join(cmd[:3])} ... exited with {code}; its last lines:\n{tail}'
                         f'\nfull output: {log_path}')
    return ''.join(lines)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint MMEngine saved last in ``work_dir`` (its ``last_checkpoint`` file)."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise StepFailed(f'{work_dir} has no last_checkpoint: the pre-training saved nothing')
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(ROOT, path)


def load_tool(name: str, path: str):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fmt_time(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f'{minutes} min {seconds:02d} s' if minutes else f'{seconds} s'


def clean_work_dir(work_dir: str, console: Console) -> None:
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


def run_demo(args: argparse.Namespace, console: Console) -> dict:
    preset = PRESETS['tiny' if args.tiny else 'full']
    device = resolve_device(args.device)
    env = child_env(device)
    python = sys.executable
    mim = shutil.which('mim', path=osp.dirname(python)) or shutil.which('mim')
    if mim is None:
        raise StepFailed('`mim` (openmim) is not installed next to this python; run make install')
    work_dir, data_root = rel(args.work_dir), rel(args.data_root)
    logs = osp.join(work_dir, 'logs')
    pretrain_dir = osp.join(work_dir, PRETRAIN_NAME)
    finetune_dir = osp.join(work_dir, FINETUNE_NAME)
    backbone = osp.join(pretrain_dir, 'backbone_mmdet.pth')
    times: Dict[str, float] = {}
    start = time.monotonic()

    console.say(f'DetCo demo ({"tiny" if args.tiny else "full"}) on {device}: data in '
                f'{data_root}, outputs in {work_dir} (paths relative to {ROOT})')
    clean_work_dir(osp.join(ROOT, work_dir), console)

    def timed(name: str, fn: Callable[[], object]):
        t0 = time.monotonic()
        result = fn()
        times[name] = time.monotonic() - t0
        console.say(f'--- {name}: {fmt_time(times[name])}')
        return result

    console.step(1, 'data: crops and detection scenes from scikit-image\'s bundled photographs')
    data = timed('data', lambda: prepare_demo_data(data_root, preset.data, log=console.say))

    console.step(2, f'pre-training DetCo ({PRETRAIN_CONFIG}), then exporting its backbone')
    timed('pre-training', lambda: run_step(
        [python, 'tools/train.py', PRETRAIN_CONFIG, '--work-dir', pretrain_dir,
         '--cfg-options', f'train_dataloader.dataset.data_root={data["pretrain"]}',
         *preset.pretrain], osp.join(logs, 'pretrain.log'), env, console))
    checkpoint = rel(last_checkpoint(osp.join(ROOT, pretrain_dir)))
    timed('export', lambda: run_step(
        [python, 'tools/model_converters/export_backbone.py', checkpoint, backbone],
        osp.join(logs, 'export.log'), env, console))

    console.step(3, f'fine-tuning RetinaNet from it with MMDetection ({FINETUNE_CONFIG}), '
                 f'COCO evaluation')
    timed('fine-tuning + evaluation', lambda: run_step(
        [mim, 'train', 'mmdet', FINETUNE_CONFIG, '--work-dir', finetune_dir,
         '--cfg-options', f'pretrained={backbone}', f'data_root={data["detection"]}',
         *preset.finetune], osp.join(logs, 'finetune.log'), env, console))

    console.step(4, 'benchmark table and loss curves')
    table_md = osp.join(work_dir, 'benchmark.md')
    table_json = osp.join(work_dir, 'benchmark.json')
    png = osp.join(work_dir, 'loss_curves.png')

    def report():
        run_step([python, 'tools/benchmark_table.py', finetune_dir, '--measured-only',
                  '--markdown', table_md, '--json', table_json],
                 osp.join(logs, 'benchmark_table.log'), env, console)
        run_step([python, 'tools/analysis/plot_loss_curves.py', pretrain_dir, '--out', png],
                 osp.join(logs, 'plot_loss_curves.log'), env, console)
    timed('table + plot', report)
    times['total'] = time.monotonic() - start

    plotter = load_tool('plot_loss_curves', osp.join(ROOT, 'tools', 'analysis',
                                                     'plot_loss_curves.py'))
    curves = plotter.loss_curves(plotter.read_training_records(osp.join(ROOT, pretrain_dir)))
    with open(osp.join(ROOT, table_json), encoding='utf-8') as f:
        tables = json.load(f)
    detector = detector_result(tables)
    return dict(
        mode='tiny' if args.tiny else 'full', device=device,
        data=dict(root=data_root, pretrain=data['pretrain'], detection=data['detection']),
        pretraining=dict(config=PRETRAIN_CONFIG, work_dir=pretrain_dir, checkpoint=checkpoint,
                         iterations=curves['loss'][0][-1],
                         final_losses=plotter.last_values(curves),
                         peak_loss=peak_of(curves['loss'])),
        backbone=backbone,
        finetuning=dict(config=FINETUNE_CONFIG, work_dir=finetune_dir, **detector),
        outputs=dict(benchmark_md=table_md, benchmark_json=table_json, loss_curves_png=png,
                     logs=logs, summary=osp.join(work_dir, 'summary.json')),
        wall_time_s={k: round(v, 1) for k, v in times.items()})


def peak_of(curve) -> dict:
    steps, values = curve
    index = max(range(len(values)), key=values.__getitem__)
    return dict(iteration=steps[index], value=values[index])


def detector_result(tables: dict) -> dict:
    """The fine-tuned detector's numbers as the benchmark table has them (percent)."""
    for benchmark in tables.get('benchmarks', []):
        for row in benchmark.get('our_rows', []):
            return dict(benchmark=benchmark['title'], bbox_AP=row['mean'],
                        checkpoint_weights=row['weights'])
        for problem in benchmark.get('problem_runs', []):
            raise StepFailed(f'the fine-tune run has no result in the benchmark table: '
                             f'{problem["status"]}: {problem["reason"]}')
    raise StepFailed(f'the benchmark table lists no fine-tune run: {tables}')


def print_summary(summary: dict, console: Console) -> None:
    say = console.say
    pre, det, out, times = (summary['pretraining'], summary['finetuning'], summary['outputs'],
                            summary['wall_time_s'])
    say('\n=== [5/5] summary')
    say(f'DetCo demo ({summary["mode"]}) on {summary["device"]}: done in '
        f'{fmt_time(times["total"])}')
    say('\nwall time per step:')
    for name, seconds in times.items():
        if name != 'total':
            say(f'  {name:<26} {fmt_time(seconds)}')
    say(f'\npre-training: final loss terms (iteration {pre["iterations"]}, weighted as logged):')
    losses = pre['final_losses']
    peak = pre['peak_loss']
    say(f'  {"loss (sum)":<15} {losses["loss"]:.4f}   (highest: {peak["value"]:.4f} at iteration '
        f'{peak["iteration"]}; it rises while the queues fill with keys, then falls)')
    for key, value in losses.items():
        if key != 'loss':
            say(f'  {key:<15} {value:.4f}')
    say(f'\nfine-tuned detector: RetinaNet ResNet-18-FPN on the demo scenes, COCO bbox AP in % '
        f'(benchmark.md files the run under "{det["benchmark"]}"; a demo, not comparable with '
        f'the paper\'s numbers):')
    for key, value in det['bbox_AP'].items():
        say(f'  {key:<9} {value:.1f}')
    say('\nwhere everything is:')
    rows = [('demo data', summary['data']['root']),
            ('pre-training run', pre['work_dir']),
            ('pre-trained checkpoint', pre['checkpoint']),
            ('exported backbone', summary['backbone']),
            ('fine-tune run', det['work_dir']),
            ('benchmark table', f'{out["benchmark_md"]} (+ .json)'),
            ('loss curves', out['loss_curves_png']),
            ('full logs', out['logs']),
            ('this summary', out['summary'])]
    for label, path in rows:
        say(f'  {label:<24} {path}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)  # paths made absolute here
    os.chdir(ROOT)  # the steps run in the checkout; paths inside it are shown relative to it
    console = Console(args.verbose)
    try:
        summary = run_demo(args, console)
    except DemoDataError as e:
        print(f'\ndemo.py: demo data: {e}', file=sys.stderr)
        return 1
    except StepFailed as e:
        print(f'\ndemo.py: {e}', file=sys.stderr)
        return 1
    with open(osp.join(ROOT, summary['outputs']['summary']), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
        f.write('\n')
    print_summary(summary, console)
    return 0


if __name__ == '__main__':
    sys.exit(main())
