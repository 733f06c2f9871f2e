"""Time one view of each pre-training view pipeline: MMSelfSup's stock MoCo v2 view against
DetCo's global view and local patch set, per view, on real photographs.

``tools/analysis/benchmark_speed.py --mode views`` is the command line over this module
(through :func:`detco_mm.analysis.benchmark_speed.run_views`).

The pipelines are taken from the configs, not rebuilt here:

- ``mocov2``: MMSelfSup 1.0.0's ``configs/selfsup/_base_/datasets/imagenet_mocov2.py`` view
  (``RandomResizedCrop(224, backend='pillow')``, PIL colour jitter, grayscale, PIL blur, flip);
- ``detco_global`` / ``detco_local``: the two view pipelines of a DetCo config (default
  ``configs/detco/detco_r50_8xb32.py``: 224 px global view; 255 px crop cut into the 3x3
  jigsaw of 64 px patches);
- ``detco_global_cv2``: ``detco_global`` with its crop resized by OpenCV (mmcv's
  ``RandomResizedCrop(backend='cv2')``, no antialiasing): what the antialiased crop costs.

Every image is decoded once, outside the timing (a view pipeline starts from the decoded
image, as inside ``MultiView``). The pipelines take turns image by image and repeat by
repeat, so drifts of a shared machine hit all alike, and every pipeline gets the same seed
for the same image and repeat. Each view is timed by the wall clock and by the CPU time of
this thread (``time.thread_time``: what a loaded machine changes least). torch and OpenCV run
on one thread, as in a DataLoader worker (torch sets 1 thread there; MMSelfSup's runtime sets
``opencv_num_threads=0``).
"""
import os.path as osp
import random
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmengine.utils import get_installed_path

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DETCO_CONFIG = osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r50_8xb32.py')
#: what each pipeline is, for the table
DESCRIPTIONS = {
    'mocov2': "MMSelfSup's MoCo v2 view (PIL crop, jitter, blur), 224 px",
    'detco_global': 'DetCo global view (antialiased crop, OpenCV jitter/blur), 224 px',
    'detco_global_cv2': 'the same with the cv2 crop (no antialiasing), 224 px',
    'detco_local': 'DetCo patch set (255 px crop -> 9 x 64 px patches)',
}


def stock_mocov2_config_path() -> str:
    """MMSelfSup's own ``imagenet_mocov2.py`` data config, from the installed package."""
    return osp.join(get_installed_path('mmselfsup'), '.mim', 'configs', 'selfsup', '_base_',
                    'datasets', 'imagenet_mocov2.py')


def load_images(data_root: Optional[str] = None, count: int = 8) -> List[np.ndarray]:
    """``count`` decoded BGR uint8 images: the colour photographs shipped with scikit-image
    (the demo's, 300x451 to 872x1000, ImageNet-like sizes) or the first files under
    ``data_root``.

    Raises:
        FileNotFoundError: ``data_root`` holds no readable image.
    """
    if data_root is None:
        from detco_mm.demo.photos import PHOTOS, load_photo
        return [load_photo(name) for name in PHOTOS[:min(count, 8)]]  # the 8 colour ones
    import os

    import mmcv
    exts = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
    paths = sorted(osp.join(d, f) for d, _, files in os.walk(data_root) for f in files
                   if f.lower().endswith(exts))
    images = [img for img in (mmcv.imread(p) for p in paths[:count]) if img is not None]
    if not images:
        raise FileNotFoundError(f'--data-root {data_root}: no readable image ({exts}) under it')
    return images


def view_pipelines(detco_config: str = DETCO_CONFIG) -> Dict[str, List[dict]]:
    """The transforms of one view of each pipeline (see the module docstring), by name.

    Raises:
        ValueError: ``detco_config``'s dataset pipeline has no two-pipeline ``MultiView``.
    """
    mocov2 = Config.fromfile(stock_mocov2_config_path()).view_pipeline
    views = [t for t in Config.fromfile(detco_config).train_dataloader.dataset.pipeline
             if t['type'] == 'MultiView']
    if len(views) != 1 or len(views[0]['transforms']) != 2:
        raise ValueError(f'{detco_config}: train_dataloader.dataset.pipeline needs one '
                         'MultiView with two view pipelines (global, local)')
    detco_global, detco_local = (list(v) for v in views[0]['transforms'])
    crop = detco_global[0]
    cv2_crop = dict(type='RandomResizedCrop', size=crop['size'], scale=crop['scale'],
                    backend='cv2')
    return dict(mocov2=list(mocov2), detco_global=detco_global,
                detco_global_cv2=[cv2_crop, *detco_global[1:]], detco_local=detco_local)


def build_pipelines(cfgs: Dict[str, List[dict]]) -> Dict[str, Callable[[dict], dict]]:
    """``Compose`` of each transform list, built in MMSelfSup's scope."""
    import detco_mm  # noqa: F401  (registers DetCo's transforms)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return {name: Compose(transforms) for name, transforms in cfgs.items()}


def time_views(pipelines: Dict[str, Callable[[dict], dict]], images: Sequence[np.ndarray],
               repeats: int = 3, warmup: int = 2) -> Dict[str, dict]:
    """Per-view times of each pipeline on ``images`` (decoded ``(H, W, 3)`` BGR uint8).

    Args:
        pipelines (dict): Name -> callable on ``dict(img=...)``.
        images (Sequence[np.ndarray]): The decoded images.
        repeats (int): Timed passes over the images. Defaults to 3.
        warmup (int): Untimed views per pipeline first. Defaults to 2.

    Returns:
        dict: Name -> ``dict(cpu_ms=[...], wall_ms=[...])``, one entry per timed view, plus
        the medians ``cpu_median_ms`` and ``wall_median_ms``.
    """
    import cv2
    import torch
    threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(0)  # MMSelfSup's runtime: opencv_num_threads=0
    try:
        for pipeline in pipelines.values():
            for i in range(warmup):
                pipeline(dict(img=images[i % len(images)].copy()))
        out: Dict[str, dict] = {name: dict(cpu_ms=[], wall_ms=[]) for name in pipelines}
        for rep in range(repeats):
            for index, img in enumerate(images):
                for name, pipeline in pipelines.items():
                    seed = rep * 100003 + index
                    random.seed(seed)
                    np.random.seed(seed)
                    results = dict(img=img.copy())
                    c0, w0 = time.thread_time(), time.perf_counter()
                    pipeline(results)
                    out[name]['wall_ms'].append((time.perf_counter() - w0) * 1e3)
                    out[name]['cpu_ms'].append((time.thread_time() - c0) * 1e3)
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv2_threads)
    for r in out.values():
        r['cpu_median_ms'] = statistics.median(r['cpu_ms'])
        r['wall_median_ms'] = statistics.median(r['wall_ms'])
    return out


def format_table(results: Dict[str, dict], reference: str = 'mocov2') -> str:
    """A text table: median CPU and wall ms per view, CPU time relative to ``reference``, and
    per image (MoCo v2: 2 views; DetCo: 2 global views + 2 patch sets)."""
    ref = results[reference]['cpu_median_ms']
    lines = [f'{"pipeline":18} {"CPU ms/view":>12} {"wall ms/view":>13} {"CPU x stock":>12}  '
             'what']
    for name, r in results.items():
        lines.append(f'{name:18} {r["cpu_median_ms"]:12.2f} {r["wall_median_ms"]:13.2f} '
                     f'{r["cpu_median_ms"] / ref:12.2f}  {DESCRIPTIONS.get(name, "")}')
    if {'detco_global', 'detco_local'} <= set(results):
        detco = 2 * (results['detco_global']['cpu_median_ms']
                     + results['detco_local']['cpu_median_ms'])
        lines.append(f'per image (CPU, medians): MoCo v2 2 views {2 * ref:.2f} ms, DetCo 2 global '
                     f'views + 2 patch sets {detco:.2f} ms')
    return '\n'.join(lines)


def run(images: Sequence[np.ndarray], detco_config: str = DETCO_CONFIG, repeats: int = 3,
        names: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Build the pipelines of :func:`view_pipelines` (or only ``names``) and time them."""
    cfgs = view_pipelines(detco_config)
    if names:
        unknown = sorted(set(names) - set(cfgs))
        if unknown:
            raise ValueError(f'unknown pipelines {unknown}; choose from {sorted(cfgs)}')
        cfgs = {name: cfgs[name] for name in names}
    return time_views(build_pipelines(cfgs), images, repeats=repeats)
