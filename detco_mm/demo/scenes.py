"""Detection scenes with exactly known objects, and the demo's COCO-layout data set of them.

:func:`draw_objects` draws filled shapes side by side, each in its own vertical strip, so that
objects never overlap and each one's mask is exactly its filled polygon (the tests' tiny COCO /
VOC / Cityscapes sets in ``tests/detection_data.py`` are made with it too).
:func:`write_scenes_coco` puts such shapes on crops of real photographs, the class of each
object being its shape (:data:`SHAPES`), and writes MMDetection's COCO layout:
``<split>/<id>.jpg`` and ``annotations/instances_<split>.json`` (boxes and polygons).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .crops import JPEG_QUALITY, random_crop_box

Shape = Dict[str, object]

#: The demo's object classes: the shape is what tells them apart (colours are random).
SHAPES: Tuple[str, ...] = ('rectangle', 'ellipse', 'triangle')


def shape_polygon(kind: str, x0: int, y0: int, bw: int, bh: int) -> np.ndarray:
    """The int32 (N, 2) polygon of a ``kind`` of :data:`SHAPES` filling the box
    ``(x0, y0, bw, bh)``."""
    x1, y1 = x0 + bw - 1, y0 + bh - 1
    if kind == 'rectangle':
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32)
    if kind == 'ellipse':
        return cv2.ellipse2Poly((x0 + bw // 2, y0 + bh // 2), (bw // 2 - 1, bh // 2 - 1),
                                0, 0, 360, 10).astype(np.int32)
    if kind == 'triangle':
        return np.array([[x0 + bw // 2, y0], [x1, y1], [x0, y1]], np.int32)
    raise ValueError(f'unknown shape {kind!r}; one of {SHAPES}')


def draw_objects(rng: np.random.RandomState, size: Tuple[int, int], num: int,
                 background: Optional[np.ndarray] = None,
                 kinds: Optional[Sequence[str]] = None, outline: int = 0
                 ) -> Tuple[np.ndarray, List[Shape]]:
    """An image (BGR, uint8) with ``num`` filled shapes, and per shape its polygon/box/mask.

    Shape ``i`` lies in the ``i``-th of ``num`` vertical strips, so shapes never overlap and
    each mask is exactly its filled polygon. Boxes are (x0, y0, x1, y1), x1/y1 exclusive.

    Args:
        rng: The random state everything is drawn from.
        size: (height, width) of the image.
        num: How many shapes.
        background: (height, width, 3) uint8 image to draw on; default: one random dark colour.
        kinds: The shape of each object (:data:`SHAPES`); default: rectangles and ellipses in
            turn.
        outline: Width of a dark border drawn inside each shape (0: none), which keeps bright
            shapes visible on bright photographs.
    """
    h, w = size
    if background is None:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = rng.randint(0, 80, 3)
    else:
        if background.shape != (h, w, 3) or background.dtype != np.uint8:
            raise ValueError(f'background must be ({h}, {w}, 3) uint8, not '
                             f'{background.shape} {background.dtype}')
        img = background.copy()
    strip = w // num
    shapes: List[Shape] = []
    for i in range(num):
        bw, bh = int(rng.randint(strip // 2, strip - 2)), int(rng.randint(h // 4, h * 3 // 4))
        x0 = i * strip + int(rng.randint(0, strip - bw))
        y0 = int(rng.randint(0, h - bh))
        kind = kinds[i] if kinds is not None else ('rectangle' if i % 2 == 0 else 'ellipse')
        poly = shape_polygon(kind, x0, y0, bw, bh)
        color = tuple(int(c) for c in rng.randint(120, 256, 3))
        cv2.fillPoly(img, [poly], color)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        if outline:
            border = np.zeros_like(mask)
            cv2.polylines(border, [poly], True, 1, thickness=2 * outline)
            img[(border > 0) & (mask > 0)] = (20, 20, 20)
        ys, xs = np.nonzero(mask)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        shapes.append(dict(kind=kind, polygon=poly, mask=mask, bbox=bbox))
    return img, shapes


def photo_background(rng: np.random.RandomState, photo: np.ndarray,
                     size: Tuple[int, int]) -> np.ndarray:
    """A random crop (10-100 % of the area) of ``photo`` resized to ``size`` (height, width)."""
    x, y, w, h = random_crop_box(rng, *photo.shape[:2], scale=(0.1, 1.0))
    return cv2.resize(photo[y:y + h, x:x + w], (size[1], size[0]), interpolation=cv2.INTER_AREA)


def write_scenes_coco(root: str, photos: Dict[str, np.ndarray], splits: Dict[str, int],
                      size: Tuple[int, int], max_objects: int = 3, seed: int = 0,
                      classes: Sequence[str] = SHAPES) -> str:
    """COCO layout under ``root``: per split ``splits[split]`` scenes of 1..``max_objects``
    shapes of ``classes`` on crops of ``photos``. Returns ``root`` with a trailing slash."""
    rng = np.random.RandomState(seed)
    names = list(photos)
    categories = [dict(id=i + 1, name=c, supercategory='shape') for i, c in enumerate(classes)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    ann_id = 1
    for split, num_images in splits.items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(num_images):
            background = photo_background(rng, photos[names[int(rng.randint(len(names)))]],
                                          size)
            num = int(rng.randint(1, max_objects + 1))
            labels = [int(rng.randint(len(classes))) for _ in range(num)]
            img, shapes = draw_objects(rng, size, num, background=background,
                                       kinds=[classes[k] for k in labels], outline=1)
            name = f'{i:012d}.jpg'
            if not cv2.imwrite(osp.join(root, split, name), img,
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise OSError(f'cannot write {osp.join(root, split, name)}')
            image_id = i + 1
            images.append(dict(id=image_id, file_name=name, height=size[0], width=size[1]))
            for label, shape in zip(labels, shapes):
                x0, y0, x1, y1 = shape['bbox']
                annotations.append(dict(
                    id=ann_id, image_id=image_id, category_id=label + 1,
                    bbox=[x0, y0, x1 - x0, y1 - y0], area=int(shape['mask'].sum()),
                    segmentation=[shape['polygon'].reshape(-1).astype(float).tolist()],
                    iscrowd=0))
                ann_id += 1
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f,
                      sort_keys=True)
    return osp.join(root, '')
