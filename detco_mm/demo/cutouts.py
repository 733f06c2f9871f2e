"""Detection scenes of objects cut from the photographs, in MMDetection's COCO layout.

The demo's downstream task must be one that pre-training on the photographs can help with:
its objects are pieces of real image content, and what tells the classes apart is that content,
not a drawn shape or a colour. Each object is a random crop of one of the *object* photographs
(:data:`OBJECT_PHOTOS`; its class is the photo's name), cut out with a random mask (rectangle,
ellipse or triangle, drawn independently of the class, so the outline carries no label) and
pasted onto a random crop of one of the *background* photographs (:data:`BACKGROUND_PHOTOS`).
Objects sit in separate vertical strips, so they never overlap and each mask is exact.

Pre-training sees crops of all the photographs (:mod:`.crops`), labels never: as ImageNet holds
the kind of content COCO's objects are made of, without COCO's boxes.

Files under ``root``::

    <split>/<id>.jpg
    annotations/instances_<split>.json            every scene of the split
    annotations/instances_<split>_<N>.json        the first N scenes (label budgets)
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .crops import JPEG_QUALITY, random_crop_box
from .scenes import SHAPES, coco_annotation, shape_polygon

#: The object classes: photographs of colour content, cut into objects.
OBJECT_PHOTOS: Tuple[str, ...] = ('astronaut', 'cat', 'coffee', 'rocket')
#: The photographs the objects are pasted onto.
BACKGROUND_PHOTOS: Tuple[str, ...] = (
    'motorcycle', 'hubble_deep_field', 'retina', 'immunohistochemistry', 'camera', 'coins',
    'moon', 'brick', 'grass', 'gravel')


def crop_resized(rng: np.random.RandomState, photo: np.ndarray, size: Tuple[int, int],
                 scale: Tuple[float, float]) -> np.ndarray:
    """A random crop of ``scale`` of ``photo``'s area resized to ``size`` (height, width)."""
    x, y, w, h = random_crop_box(rng, *photo.shape[:2], scale=scale)
    return cv2.resize(photo[y:y + h, x:x + w], (size[1], size[0]), interpolation=cv2.INTER_AREA)


def paste_cutouts(rng: np.random.RandomState, background: np.ndarray, objects: Sequence[str],
                  photos: Dict[str, np.ndarray]) -> List[dict]:
    """Paste one cut-out of each photo named in ``objects`` onto ``background`` (in place).

    Args:
        rng: The random state everything is drawn from.
        background: (H, W, 3) uint8 BGR image, modified in place.
        objects: The source photo (class) of each object, left to right.
        photos: Photographs by name (BGR uint8).

    Returns:
        Per object ``{'label', 'polygon' (N, 2) int32, 'mask' (H, W) uint8, 'bbox' (x0, y0,
        x1, y1) with x1/y1 exclusive}``.
    """
    h, w = background.shape[:2]
    strip = w // len(objects)
    placed = []
    for i, name in enumerate(objects):
        bw = int(rng.randint(max(8, strip // 2), strip - 1))
        bh = int(rng.randint(h // 4, h * 3 // 4))
        x0 = i * strip + int(rng.randint(0, strip - bw))
        y0 = int(rng.randint(0, h - bh))
        kind = SHAPES[int(rng.randint(len(SHAPES)))]
        poly = shape_polygon(kind, x0, y0, bw, bh)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        content = crop_resized(rng, photos[name], (bh, bw), scale=(0.05, 0.4))
        region = background[y0:y0 + bh, x0:x0 + bw]
        inside = mask[y0:y0 + bh, x0:x0 + bw] > 0
        region[inside] = content[inside]
        ys, xs = np.nonzero(mask)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        placed.append(dict(label=name, polygon=poly, mask=mask, bbox=bbox))
    return placed


def _coco(images: List[dict], annotations: List[dict], categories: List[dict]) -> str:
    return json.dumps(dict(images=images, annotations=annotations, categories=categories),
                      sort_keys=True)


def write_cutout_scenes_coco(root: str, photos: Dict[str, np.ndarray], splits: Dict[str, int],
                             size: Tuple[int, int], max_objects: int = 3, seed: int = 0,
                             budgets: Dict[str, Sequence[int]] = None) -> str:
    """Write the COCO-layout scenes (see the module docs) under ``root``.

    Args:
        root: Output directory (created).
        photos: Every photograph of :data:`OBJECT_PHOTOS` and :data:`BACKGROUND_PHOTOS`.
        splits: Scenes per split, e.g. ``{'train2017': 400, 'val2017': 100}``.
        size: (height, width) of each scene.
        max_objects: Each scene holds 1..``max_objects`` objects.
        seed: Seed of everything drawn.
        budgets: Per split, the label budgets N for which ``instances_<split>_<N>.json``
            (the split's first N scenes) is written too.

    Returns:
        ``root`` with a trailing slash.
    """
    missing = [n for n in OBJECT_PHOTOS + BACKGROUND_PHOTOS if n not in photos]
    if missing:
        raise KeyError(f'write_cutout_scenes_coco: photographs {missing} are missing')
    budgets = budgets or {}
    rng = np.random.RandomState(seed)
    categories = [dict(id=i + 1, name=c, supercategory='photo')
                  for i, c in enumerate(OBJECT_PHOTOS)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    ann_id = 1
    for split, num_images in splits.items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(num_images):
            bg_name = BACKGROUND_PHOTOS[int(rng.randint(len(BACKGROUND_PHOTOS)))]
            img = crop_resized(rng, photos[bg_name], size, scale=(0.1, 1.0))
            num = int(rng.randint(1, max_objects + 1))
            objects = [OBJECT_PHOTOS[int(rng.randint(len(OBJECT_PHOTOS)))] for _ in range(num)]
            placed = paste_cutouts(rng, img, objects, photos)
            name = f'{i:012d}.jpg'
            if not cv2.imwrite(osp.join(root, split, name), img,
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise OSError(f'cannot write {osp.join(root, split, name)}')
            image_id = i + 1
            images.append(dict(id=image_id, file_name=name, height=size[0], width=size[1]))
            for obj in placed:
                annotations.append(coco_annotation(ann_id, image_id,
                                                   OBJECT_PHOTOS.index(obj['label']) + 1, obj))
                ann_id += 1
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path, 'w') as f:
            f.write(_coco(images, annotations, categories))
        for budget in budgets.get(split, ()):
            if not 0 < budget <= num_images:
                raise ValueError(f'label budget {budget} of {split} is not in 1..{num_images}')
            ids = {img['id'] for img in images[:budget]}
            with open(osp.join(root, 'annotations', f'instances_{split}_{budget}.json'),
                      'w') as f:
                f.write(_coco(images[:budget], [a for a in annotations if a['image_id'] in ids],
                              categories))
    return osp.join(root, '')
