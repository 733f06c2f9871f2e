"""Time DetCo against MMSelfSup's MoCo v2, side by side, in one process.

``tools/analysis/benchmark_speed.py`` is the command line over this module; its options are
the fields of :class:`BenchmarkSettings`, and :func:`run` does what the tool does.

Three modes:

``train`` (default, :func:`run_train`): the train step (data preprocessor, forward, backward,
optimizer step, momentum-encoder update, enqueue) of DetCo and of MoCo v2, built from
``configs/detco/detco_r50_8xb32.py`` and ``configs/detco/mocov2_r50_8xb32.py`` with the same
backbone depth, batch size and device, fed synthetic uint8 views of the configs' sizes. After
warm-up the two models alternate step by step, so drifts of the machine hit both alike. Peak
memory is measured for each model in a child process of its own on CPU (RSS high-water mark),
and with ``torch.cuda.max_memory_allocated`` on CUDA.

``data`` (:func:`run_data`): decoding plus all views plus packing, per image, in this process
(one worker), of the DetCo and the MoCo v2 pipelines of the same configs on the same image
files (JPEGs of ImageNet's typical 375x500 size are written to a temp dir unless
``data_root`` is given), alternating image by image.

``views`` (:func:`run_views`): one view, per view, of MMSelfSup's stock MoCo v2 view pipeline
(PIL) against DetCo's global view and patch set (and the global view with a non-antialiased
cv2 crop), on decoded photographs (scikit-image's, or ``data_root``), CPU and wall ms
(:mod:`detco_mm.analysis.pipeline_speed`).

Both models get the same optimizer settings by default (``optimizer='same'``: DetCo's
config's, fused SGD), so the DetCo / MoCo v2 ratio compares like with like; the line above the
table prints what each side used (:func:`optimizer_settings`).
"""
import multiprocessing as mp
import os
import os.path as osp
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS
from mmselfsup.structures import SelfSupDataSample

import detco_mm  # noqa: F401  (registers DetCo's models and transforms)
from detco_mm.analysis import pipeline_speed

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: the two configs compared, by name
CONFIGS = dict(
    detco=osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r50_8xb32.py'),
    mocov2=osp.join(REPO_ROOT, 'configs', 'detco', 'mocov2_r50_8xb32.py'))
#: ResNet depth -> output channels of its 4 stages (the necks' ``in_channels``)
STAGE_CHANNELS = {18: (64, 128, 256, 512), 34: (64, 128, 256, 512),
                  50: (256, 512, 1024, 2048), 101: (256, 512, 1024, 2048)}
OPTIMIZER_MODES = ('same', 'plain', 'config')
MODES = ('train', 'data', 'views')


@dataclass
class BenchmarkSettings:
    """What to time; the fields are the tool's options (``--queue-len`` is ``queue_len``).

    Args:
        mode (str): 'train', 'data' or 'views'. Defaults to 'train'.
        device (str): 'cpu' or a CUDA device. Defaults to 'cpu'.
        depth (int): ResNet depth, a key of :data:`STAGE_CHANNELS`. Defaults to 50.
        batch (int): Images per train step. Defaults to 8.
        queue_len (int): Length of the negative queues. Defaults to 65536.
        warmup (int): Untimed train steps per model. Defaults to 2.
        steps (int): Timed train steps per model. Defaults to 8.
        amp (str): 'none', 'bf16' or 'fp16' (``AmpOptimWrapper``, CUDA only).
            Defaults to 'none'.
        channels_last (bool): Models in ``torch.channels_last``. Defaults to False.
        optimizer (str): One of :data:`OPTIMIZER_MODES`, see :func:`optimizer_settings`.
            Defaults to 'same'.
        images (int): Data mode: images per pipeline; views mode: at most 8 photos unless
            ``data_root``. Defaults to 40.
        data_root (str, optional): Data / views mode: a folder of images to use.
        repeats (int): Views mode: timed passes. Defaults to 3.
        threads (int, optional): torch CPU threads (``None``: torch's default).
    """
    mode: str = 'train'
    device: str = 'cpu'
    depth: int = 50
    batch: int = 8
    queue_len: int = 65536
    warmup: int = 2
    steps: int = 8
    amp: str = 'none'
    channels_last: bool = False
    optimizer: str = 'same'
    images: int = 40
    data_root: Optional[str] = None
    repeats: int = 3
    threads: Optional[int] = None


class NoImagesError(FileNotFoundError):
    """``data_root`` of the data mode holds no image file."""


def optimizer_settings(mode: str) -> Optional[dict]:
    """The optimizer both models get for ``--optimizer mode`` (``None``: each its config's).

    Args:
        mode (str): 'same': DetCo's config's optimizer (SGD, fused); 'plain': the same with
            ``fused=False``; 'config': none imposed (DetCo fused, MoCo v2 MMSelfSup's default
            loop: not a like-for-like ratio).

    Raises:
        ValueError: ``mode`` is not 'same', 'plain' or 'config'.
    """
    if mode not in OPTIMIZER_MODES:
        raise ValueError(f"--optimizer {mode!r}: use 'same', 'plain' or 'config'")
    if mode == 'config':
        return None
    optimizer = dict(Config.fromfile(CONFIGS['detco']).optim_wrapper.optimizer)
    if mode == 'plain':
        optimizer['fused'] = False
    return optimizer


def load_cfg(name: str, settings: BenchmarkSettings) -> Config:
    """The config of ``name`` (a key of :data:`CONFIGS`) with the benchmark's depth (and the
    necks' input channels for it), batch, queue length, AMP and optimizer (see
    :func:`optimizer_settings`)."""
    cfg = Config.fromfile(CONFIGS[name])
    optimizer = optimizer_settings(settings.optimizer)
    if optimizer is not None:
        cfg.optim_wrapper.optimizer = optimizer
    cfg.model.backbone.depth = settings.depth
    cfg.model.queue_len = settings.queue_len
    cfg.train_dataloader.batch_size = settings.batch
    channels = STAGE_CHANNELS[settings.depth]
    if name == 'detco':
        cfg.model.neck.in_channels = channels
    else:
        cfg.model.neck.in_channels = channels[-1]
        cfg.model.neck.hid_channels = channels[-1]
    if settings.amp != 'none':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = dict(bf16='bfloat16', fp16='float16')[settings.amp]
    return cfg


# ----------------------------------------------------------------------------- train mode
def synthetic_batch(name: str, settings: BenchmarkSettings) -> dict:
    """uint8 views as the dataloader hands them over, B = ``settings.batch``: DetCo
    2 x (B, 3, 224, 224) global views + 2 x (B, 9, 3, 64, 64) patch sets; MoCo v2
    2 x (B, 3, 224, 224)."""
    g = torch.Generator().manual_seed(0)

    def views(*shape):
        return torch.randint(0, 256, (settings.batch, *shape), generator=g, dtype=torch.uint8)
    inputs = [views(3, 224, 224), views(3, 224, 224)]
    if name == 'detco':
        inputs += [views(9, 3, 64, 64), views(9, 3, 64, 64)]
    return dict(inputs=inputs,
                data_samples=[SelfSupDataSample() for _ in range(settings.batch)])


class TrainStep:
    """One model of :data:`CONFIGS` with its optimizer wrapper and a synthetic batch;
    ``__call__`` runs one MMEngine train step (synchronised on CUDA)."""

    def __init__(self, name: str, settings: BenchmarkSettings) -> None:
        cfg = load_cfg(name, settings)
        with DefaultScope.overwrite_default_scope('mmselfsup'):
            self.model = MODELS.build(cfg.model).to(settings.device)
            if settings.channels_last:
                self.model = self.model.to(memory_format=torch.channels_last)
            self.optim_wrapper = build_optim_wrapper(self.model, cfg.optim_wrapper)
        self.model.train()
        self.optimizer_cfg = dict(cfg.optim_wrapper.optimizer)
        self.batch = synthetic_batch(name, settings)
        self.device = torch.device(settings.device)

    def __call__(self) -> None:
        self.model.train_step(self.batch, self.optim_wrapper)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


def proc_status_bytes(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process from /proc, in bytes (per address space, so
    unlike ``ru_maxrss`` not inherited from the parent).

    Raises:
        RuntimeError: /proc/self/status has no ``field``.
    """
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def _peak_rss_child(name: str, settings: BenchmarkSettings, queue: 'mp.Queue') -> None:
    if settings.threads:
        torch.set_num_threads(settings.threads)
    base = proc_status_bytes('VmRSS')  # interpreter + torch + OpenMMLab imports
    step = TrainStep(name, settings)
    for _ in range(2):
        step()
    queue.put(proc_status_bytes('VmHWM') - base)


def peak_memory(name: str, settings: BenchmarkSettings) -> int:
    """Bytes: peak RSS of a fresh (spawned) process doing 2 steps, less its RSS after the
    imports (CPU). This is the memory of the model, its optimizer state and a step."""
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_child, args=(name, settings, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


def run_train(settings: BenchmarkSettings) -> Dict[str, dict]:
    """Time the train steps of DetCo and MoCo v2 and print the settings and the table.

    Returns:
        dict: 'detco' / 'mocov2' -> ``dict(median_s, images_per_s, times, peak_bytes)``.
    """
    names = ['detco', 'mocov2']
    cpu_peaks = {} if settings.device.startswith('cuda') else {
        name: peak_memory(name, settings) for name in names}  # before this process grows
    steps = {name: TrainStep(name, settings) for name in names}
    for name in names:
        for _ in range(settings.warmup):
            steps[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for _ in range(settings.steps):
        for name in names:
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)
    results = {}
    for name in names:
        median = statistics.median(times[name])
        results[name] = dict(median_s=median, images_per_s=settings.batch / median,
                             times=times[name])
    if settings.device.startswith('cuda'):
        for name in names:
            torch.cuda.reset_peak_memory_stats()
            steps[name]()
            results[name]['peak_bytes'] = torch.cuda.max_memory_allocated()
        memory_kind = 'CUDA max_memory_allocated'
    else:
        for name in names:
            results[name]['peak_bytes'] = cpu_peaks[name]
        memory_kind = 'peak RSS above the imports, fresh process'
    print(f'train step: ResNet-{settings.depth}, batch {settings.batch}, '
          f'queue {settings.queue_len}, device {settings.device}, amp {settings.amp}, '
          f'channels_last {settings.channels_last}, torch threads {torch.get_num_threads()}, '
          f'{settings.steps} timed steps each')
    same = steps['detco'].optimizer_cfg == steps['mocov2'].optimizer_cfg
    print(f'optimizer (--optimizer {settings.optimizer}): '
          + (f'both {steps["detco"].optimizer_cfg}' if same else
             '; '.join(f'{n} {steps[n].optimizer_cfg}' for n in names)
             + '  (NOT the same: the ratio is not like for like)'))
    print_table(results, memory_kind, unit='images/s', rate_key='images_per_s')
    return results


# ----------------------------------------------------------------------------- data mode
def write_images(root: str, count: int) -> List[str]:
    """Write ``count`` JPEGs of 375x500 under ``root``, with some structure to crop and
    colour-jitter (seeded), and return their paths."""
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


def build_pipeline(name: str, settings: BenchmarkSettings) -> Callable[[dict], dict]:
    """The whole train pipeline (decode, views, packing) of ``name``'s config."""
    cfg = load_cfg(name, settings)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return Compose(cfg.train_dataloader.dataset.pipeline)


def run_data(settings: BenchmarkSettings) -> Dict[str, dict]:
    """Time both data pipelines, image by image, and print the table.

    Returns:
        dict: 'detco' / 'mocov2' -> ``dict(median_s, mean_s, images_per_s)`` (per image).

    Raises:
        NoImagesError: ``settings.data_root`` holds no .jpg/.jpeg/.png/.JPEG file.
    """
    names = ['detco', 'mocov2']
    pipelines = {name: build_pipeline(name, settings) for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        if settings.data_root:
            exts = ('.jpg', '.jpeg', '.png', '.JPEG')
            paths = sorted(osp.join(dp, f) for dp, _, fs in os.walk(settings.data_root)
                           for f in fs if f.endswith(exts))[:settings.images]
            if not paths:
                raise NoImagesError(f'no images under {settings.data_root}')
        else:
            paths = write_images(tmp, settings.images)
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


# ----------------------------------------------------------------------------- views mode
def run_views(settings: BenchmarkSettings) -> Dict[str, dict]:
    """Time one view of each view pipeline (:func:`detco_mm.analysis.pipeline_speed.run`)
    and print its table.

    Raises:
        FileNotFoundError: ``settings.data_root`` holds no readable image.
    """
    images = pipeline_speed.load_images(settings.data_root, settings.images)
    results = pipeline_speed.run(images, CONFIGS['detco'], repeats=settings.repeats)
    print(f'one view per pipeline: {len(images)} decoded images x {settings.repeats} repeats, '
          'one thread, medians')
    print(pipeline_speed.format_table(results))
    return results


def print_table(results: Dict[str, dict], memory_kind: Optional[str], unit: str,
                rate_key: str) -> None:
    """Print median ms, ``results[name][rate_key]`` (in ``unit``) and, with ``memory_kind``,
    peak MiB per model, then the DetCo / MoCo v2 time (and memory) ratio."""
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


def run(settings: BenchmarkSettings) -> Dict[str, dict]:
    """Set torch's threads (``settings.threads``) and seed 0, then run ``settings.mode``.

    Returns:
        dict: What :func:`run_train`, :func:`run_data` or :func:`run_views` returns.

    Raises:
        ValueError: ``settings.mode`` is not one of :data:`MODES`.
    """
    if settings.mode not in MODES:
        raise ValueError(f'--mode {settings.mode!r}: use one of {", ".join(MODES)}')
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    return dict(train=run_train, data=run_data, views=run_views)[settings.mode](settings)
