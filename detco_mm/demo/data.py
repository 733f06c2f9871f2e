"""The demo's two data sets, made from the bundled photographs and cached under one root.

``<root>/pretrain/``: :mod:`.crops` (MMSelfSup's ImageNet layout) for DetCo pre-training;
``<root>/detection/``: :mod:`.scenes` (MMDetection's COCO layout, ``train2017`` / ``val2017``)
for fine-tuning and evaluating a detector. Each is a :mod:`.cache` directory with its own
manifest, rebuilt only when its settings (or the photographs' pixels) change.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

from .cache import build_cached
from .crops import write_crops
from .cutouts import OBJECT_PHOTOS, write_cutout_scenes_coco
from .photos import load_photos, photos_digest

#: Bump when a generator changes what it writes for the same settings.
GENERATOR_VERSION = 2


@dataclass(frozen=True)
class DemoDataSpec:
    """Sizes of the demo data (the defaults are ``make demo``'s)."""
    num_crops: int = 3200
    crop_size: int = 96
    det_train: int = 400
    det_val: int = 100
    det_size: Tuple[int, int] = (160, 160)  # (height, width)
    max_objects: int = 3
    #: label budgets of the training split: ``instances_train2017_<N>.json`` (first N scenes)
    det_budgets: Tuple[int, ...] = (40, 400)
    seed: int = 0


def prepare_demo_data(root: str, spec: DemoDataSpec = DemoDataSpec(),
                      log: Callable[[str], None] = print) -> Dict[str, str]:
    """Make (or verify the cached) ``root/pretrain`` and ``root/detection``.

    Returns:
        ``{'pretrain': dir, 'detection': dir}``, each ending with ``/`` (config data roots).
    """
    import skimage
    photos = load_photos()  # decoded every time: their digest is part of the cache key
    source = dict(generator=GENERATOR_VERSION, skimage=skimage.__version__,
                  photos=photos_digest(photos))
    pretrain = osp.join(root, 'pretrain')
    build_cached(
        pretrain, dict(source, num_crops=spec.num_crops, crop_size=spec.crop_size,
                       seed=spec.seed),
        lambda d: write_crops(d, photos, spec.num_crops, spec.crop_size, spec.seed),
        log=log, what='pre-training crops')
    detection = osp.join(root, 'detection')
    splits = {'train2017': spec.det_train, 'val2017': spec.det_val}
    build_cached(
        detection, dict(source, splits=splits, size=spec.det_size,
                        max_objects=spec.max_objects, classes=OBJECT_PHOTOS,
                        budgets=list(spec.det_budgets), seed=spec.seed + 1),
        lambda d: write_cutout_scenes_coco(d, photos, splits, spec.det_size, spec.max_objects,
                                           seed=spec.seed + 1,
                                           budgets={'train2017': spec.det_budgets}),
        log=log, what='detection scenes')
    return dict(pretrain=osp.join(pretrain, ''), detection=osp.join(detection, ''))


__all__ = ['DemoDataSpec', 'prepare_demo_data', 'GENERATOR_VERSION']
