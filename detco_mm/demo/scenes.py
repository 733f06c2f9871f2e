"""Shapes with exactly known boxes and masks.

:func:`shape_polygon` gives the polygon of a rectangle, ellipse or triangle filling a box (the
masks of the demo's cut-out objects, :mod:`.cutouts`); :func:`draw_objects` draws filled shapes
side by side, each in its own vertical strip, so that objects never overlap and each one's mask
is exactly its filled polygon (the tests' tiny COCO / VOC / Cityscapes sets in
``tests/detection_data.py`` are made with it).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

Shape = Dict[str, object]

#: The shapes :func:`shape_polygon` draws.
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


def coco_annotation(ann_id: int, image_id: int, category_id: int, shape: Shape) -> dict:
    """The COCO instance record of a shape of :func:`draw_objects` (or a cut-out object).

    Used by the demo's scenes (:mod:`.cutouts`) and the tests' / GPU check's COCO sets
    (:mod:`detco_mm.gpu_check.detection_sets`), so both describe an object the same way.

    Args:
        ann_id (int): The annotation's id.
        image_id (int): The id of its image.
        category_id (int): Its category id.
        shape (dict): ``'polygon'`` (N, 2) int32, ``'mask'`` (H, W) uint8 (1 inside) and
            ``'bbox'`` (x0, y0, x1, y1), x1/y1 exclusive.

    Returns:
        dict: ``id``, ``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``area`` (mask
        pixels), ``segmentation`` (one polygon, float coordinates) and ``iscrowd`` 0.
    """
    x0, y0, x1, y1 = shape['bbox']
    return dict(id=ann_id, image_id=image_id, category_id=category_id,
                bbox=[x0, y0, x1 - x0, y1 - y0], area=int(shape['mask'].sum()),
                segmentation=[shape['polygon'].reshape(-1).astype(float).tolist()], iscrowd=0)
