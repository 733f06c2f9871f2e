"""Time DetCo against MMSelfSup's MoCo v2, side by side, in one process.

Two modes:

``train`` (default): the train step (data preprocessor, forward, backward, optimizer step,
momentum-encoder update, enqueue) of DetCo and of MoCo v2, built from
``configs/detco/detco_r50_8xb32.py`` and ``configs/detco/mocov2_r50_8xb32.py`` with the same
backbone depth, batch size and device, fed synthetic uint8 views of the configs' sizes. After
warm-up the two models alternate step by step, so drifts of the machine hit both alike. Peak
memory is measured for each model in a child process of its own on CPU (RSS high-water mark),
and with ``torch.cuda.max_memory_allocated`` on CUDA.

``data``: decoding plus all views plus packing, per image, in this process (one worker), of
the DetCo and the MoCo v2 pipelines of the same configs on the same image files (JPEGs of
ImageNet's typical 375x500 size are written to a temp dir unless ``--data-root`` is given),
alternating image by image.

``views``: one view, per view, of MMSelfSup's stock MoCo v2 view pipeline (PIL) against
DetCo's global view and patch set (and the global view with a non-antialiased cv2 crop), on
decoded photographs (scikit-image's, or ``--data-root``), CPU and wall ms
(:mod:`detco_mm.analysis.pipeline_speed`).

Examples::

    python tools/analysis/benchmark_speed.py                       # train, ResNet-50, batch 8, CPU
    python tools/analysis/benchmark_speed.py --mode data
    python tools/analysis/benchmark_speed.py --mode views --repeats 5
    python tools/analysis/benchmark_speed.py --device cuda --amp bf16 --channels-last --batch 32
    python tools/analysis/benchmark_speed.py --optimizer plain     # both plain (unfused) SGD

Both models get the same optimizer settings by default (``--optimizer same``: DetCo's config's,
fused SGD), so the DetCo / MoCo v2 ratio compares like with like; the line above the table
prints what each side used.
"""
import argparse
import multiprocessing as mp
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)
from mmselfsup.registry import MODELS  # noqa: E402
from mmselfsup.structures import SelfSupDataSample  # noqa: E402

import detco_mm  # noqa: E402,F401

CONFIGS = dict(
    detco=osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r50_8xb32.py'),
    mocov2=osp.join(REPO_ROOT, 'configs', 'detco', 'mocov2_r50_8xb32.py'))
STAGE_CHANNELS = {18: (64, 128, 256, 512), 34: (64, 128, 256, 512),
                  50: (256, 512, 1024, 2048), 101: (256, 512, 1024, 2048)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mode', choices=['train', 'data', 'views'], default='train')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--depth', type=int, default=50, choices=sorted(STAGE_CHANNELS))
    parser.add_argument('--batch', type=int, default=8, help='images per step')
    parser.add_argument('--queue-len', type=int, default=65536)
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    parser.add_argument('--steps', type=int, default=8, help='timed steps per model')
    parser.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none',
                        help='mixed precision (CUDA only)')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--optimizer', choices=['same', 'plain', 'config'], default='same',
                        help="train mode: 'same' (default): both models get DetCo's config "
                        "optimizer settings (SGD, fused); 'plain': both get them with "
                        "fused=False; 'config': each its own config's (DetCo fused, MoCo v2 "
                        "MMSelfSup's default loop: not a like-for-like ratio)")
    parser.add_argument('--images', type=int, default=40,
                        help='data mode: images per pipeline (views mode: at most 8 photos '
                        'unless --data-root)')
    parser.add_argument('--data-root', help='data / views mode: a folder of images to use')
    parser.add_argument('--repeats', type=int, default=3, help='views mode: timed passes')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    args = parser.parse_args()
    if args.amp != 'none' and not args.device.startswith('cuda'):
        parser.error('--amp needs --device cuda (MMEngine AMP runs on CUDA only)')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda was asked for, but torch sees no CUDA device')
    return args


def optimizer_settings(mode: str) -> Optional[dict]:
    """The optimizer both models get for ``--optimizer mode`` (``None``: each its config's).

    Raises:
        ValueError: ``mode`` is not 'same', 'plain' or 'config'.
    """
    if mode not in ('same', 'plain', 'config'):
        raise ValueError(f"--optimizer {mode!r}: use 'same', 'plain' or 'config'")
    if mode == 'config':
        return None
    optimizer = dict(Config.fromfile(CONFIGS['detco']).optim_wrapper.optimizer)
    if mode == 'plain':
        optimizer['fused'] = False
    return optimizer


def load_cfg(name: str, args: argparse.Namespace) -> Config:
    """The config of ``name`` with the benchmark's depth, batch, queue length and optimizer
    (``args.optimizer``, see :func:`optimizer_settings`)."""
    cfg = Config.fromfile(CONFIGS[name])
    optimizer = optimizer_settings(getattr(args, 'optimizer', 'same'))
    if optimizer is not None:
        cfg.optim_wrapper.optimizer = optimizer
    cfg.model.backbone.depth = args.depth
    cfg.model.queue_len = args.queue_len
    cfg.train_dataloader.batch_size = args.batch
    channels = STAGE_CHANNELS[args.depth]
    if name == 'detco':
        cfg.model.neck.in_channels = channels
    else:
        cfg.model.neck.in_channels = channels[-1]
        cfg.model.neck.hid_channels = channels[-1]
    if args.amp != 'none':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = dict(bf16='bfloat16', fp16='float16')[args.amp]
    return cfg


# ----------------------------------------------------------------------------- train mode
def synthetic_batch(name: str, args: argparse.Namespace) -> dict:
    """uint8 views as the dataloader hands them over: DetCo 2 x (B,3,224,224) + 2 x
    (B,9,3,64,64); MoCo v2 2 x (B,3,224,224)."""
    g = torch.Generator().manual_seed(0)

    def views(*shape):
        return torch.randint(0, 256, (args.batch, *shape), generator=g, dtype=torch.uint8)
    inputs = [views(3, 224, 224), views(3, 224, 224)]
    if name == 'detco':
        inputs += [views(9, 3, 64, 64), views(9, 3, 64, 64)]
    return dict(inputs=inputs, data_samples=[SelfSupDataSample() for _ in range(args.batch)])


class TrainStep:
    """One model with its optimizer; ``__call__`` runs one MMEngine train step."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        cfg = load_cfg(name, args)
        with DefaultScope.overwrite_default_scope('mmselfsup'):
            self.model = MODELS.build(cfg.model).to(args.device)
            if args.channels_last:
                self.model = self.model.to(memory_format=torch.channels_last)
            self.optim_wrapper = build_optim_wrapper(self.model, cfg.optim_wrapper)
        self.model.train()
        self.optimizer_cfg = dict(cfg.optim_wrapper.optimizer)
        self.batch = synthetic_batch(name, args)
        self.device = torch.device(args.device)

    def __call__(self) -> None:
        self.model.train_step(self.batch, self.optim_wrapper)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


def _proc_status_bytes(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process from /proc, in bytes (per address space, so
    unlike ``ru_maxrss`` not inherited from the parent)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def _peak_rss_child(name: str, args: argparse.Namespace, queue: 'mp.Queue') -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    base = _proc_status_bytes('VmRSS')  # interpreter + torch + OpenMMLab imports
    step = TrainStep(name, args)
    for _ in range(2):
        step()
    queue.put(_proc_status_bytes('VmHWM') - base)


def peak_memory(name: str, args: argparse.Namespace) -> int:
    """Bytes: peak RSS of a fresh process doing 2 steps, less its RSS after the imports
    (CPU). This is the memory of the model, its optimizer state and a step."""
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_child, args=(name, args, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


def run_train(args: argparse.Namespace) -> Dict[str, dict]:
    names = ['detco', 'mocov2']
    cpu_peaks = {} if args.device.startswith('cuda') else {
        name: peak_memory(name, args) for name in names}  # before this process grows
    steps = {name: TrainStep(name, args) for name in names}
    for name in names:
        for _ in range(args.warmup):
            steps[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for _ in range(args.steps):
        for name in names:
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)
    results = {}
    for name in names:
        median = statistics.median(times[name])
        results[name] = dict(median_s=median, images_per_s=args.batch / median,
                             times=times[name])
    if args.device.startswith('cuda'):
        for name in names:
            torch.cuda.reset_peak_memory_stats()
            steps[name]()
            results[name]['peak_bytes'] = torch.cuda.max_memory_allocated()
        memory_kind = 'CUDA max_memory_allocated'
    else:
        for name in names:
            results[name]['peak_bytes'] = cpu_peaks[name]
        memory_kind = 'peak RSS above the imports, fresh process'
    print(f'train step: ResNet-{args.depth}, batch {args.batch}, queue {args.queue_len}, '
          f'device {args.device}, amp {args.amp}, channels_last {args.channels_last}, '
          f'torch threads {torch.get_num_threads()}, {args.steps} timed steps each')
    same = steps['detco'].optimizer_cfg == steps['mocov2'].optimizer_cfg
    print(f'optimizer (--optimizer {args.optimizer}): '
          + (f'both {steps["detco"].optimizer_cfg}' if same else
             '; '.join(f'{n} {steps[n].optimizer_cfg}' for n in names)
             + '  (NOT the same: the ratio is not like for like)'))
    print_table(results, memory_kind, unit='images/s', rate_key='images_per_s')
    return results


# ----------------------------------------------------------------------------- data mode
def write_images(root: str, count: int) -> List[str]:
    """``count`` JPEGs of 375x500 with some structure to crop and colour-jitter."""
    import cv2
    rng = np.random.RandomState(0)
    paths = []
    for i in range(count):
        img = (rng.rand(375, 500, 3) * 60).astype(np.uint8)
        img += rng.randint(0, 190, 3).astype(np.uint8)
        for _ in range(8):
            color = tuple(int(c) for c in rng.randint(0, 256, 3))
            cv2.circle(img, (int(rng.randint(0, 500)), int(rng.randint(0, 375))),
                       int(rng.randint(10, 120)), color, -1)
        path = osp.join(root, f'{i:04d}.jpg')
        cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def build_pipeline(name: str, args: argparse.Namespace) -> Callable[[dict], dict]:
    cfg = load_cfg(name, args)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return Compose(cfg.train_dataloader.dataset.pipeline)


def run_data(args: argparse.Namespace) -> Dict[str, dict]:
    names = ['detco', 'mocov2']
    pipelines = {name: build_pipeline(name, args) for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        if args.data_root:
            exts = ('.jpg', '.jpeg', '.png', '.JPEG')
            paths = sorted(osp.join(dp, f) for dp, _, fs in os.walk(args.data_root)
                           for f in fs if f.endswith(exts))[:args.images]
            if not paths:
                raise SystemExit(f'benchmark_speed: no images under {args.data_root}')
        else:
            paths = write_images(tmp, args.images)
        np.random.seed(0)
        for name in names:  # warm-up: first decode, caches
            for path in paths[:3]:
                pipelines[name](dict(img_path=path))
        times: Dict[str, List[float]] = {name: [] for name in names}
        for path in paths:
            for name in names:
                t0 = time.perf_counter()
                default_collate([pipelines[name](dict(img_path=path))])
                times[name].append(time.perf_counter() - t0)
    results = {}
    for name in names:
        mean = statistics.fmean(times[name])
        results[name] = dict(median_s=statistics.median(times[name]), mean_s=mean,
                             images_per_s=1 / mean)
    print(f'data pipeline: {len(paths)} images, one worker, decode + views + packing')
    print_table(results, None, unit='images/s', rate_key='images_per_s')
    return results


def run_views(args: argparse.Namespace) -> Dict[str, dict]:
    """``--mode views``: see :mod:`detco_mm.analysis.pipeline_speed`."""
    from detco_mm.analysis import pipeline_speed
    images = pipeline_speed.load_images(args.data_root, args.images)
    results = pipeline_speed.run(images, CONFIGS['detco'], repeats=args.repeats)
    print(f'one view per pipeline: {len(images)} decoded images x {args.repeats} repeats, '
          'one thread, medians')
    print(pipeline_speed.format_table(results))
    return results


def print_table(results: Dict[str, dict], memory_kind: Optional[str], unit: str,
                rate_key: str) -> None:
    header = f'{"":8} {"median ms":>10} {unit:>10}'
    if memory_kind:
        header += f' {"peak MiB":>10}'
    print(header)
    for name, r in results.items():
        line = f'{name:8} {r["median_s"] * 1e3:10.1f} {r[rate_key]:10.2f}'
        if memory_kind:
            line += f' {r["peak_bytes"] / 2**20:10.0f}'
        print(line)
    ratio = results['detco']['median_s'] / results['mocov2']['median_s']
    line = f'DetCo / MoCo v2: time x{ratio:.2f}'
    if memory_kind:
        mem = results['detco']['peak_bytes'] / results['mocov2']['peak_bytes']
        line += f', memory x{mem:.2f} ({memory_kind})'
    print(line)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.mode == 'train':
        run_train(args)
    elif args.mode == 'data':
        run_data(args)
    else:
        run_views(args)


if __name__ == '__main__':
    main()
