"""Random crops of photographs, written in MMSelfSup's ImageNet layout for pre-training.

``train/<photo>/<photo>_<index>.jpg`` and ``meta/train.txt`` (``<photo>/<file> <label>`` per
line, the label being the photo's index; DetCo does not use labels). Each crop covers 4-50 % of
its photo's area at an aspect ratio of 3/4-4/3 (the range of ``RandomResizedCrop``) and is
resized to ``size`` x ``size``: a small "ImageNet" of a few objects seen at many scales.
"""
import math
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

JPEG_QUALITY = 90


def random_crop_box(rng: np.random.RandomState, height: int, width: int,
                    scale=(0.04, 0.5), ratio=(3 / 4, 4 / 3)):
    """(x, y, w, h) of a random crop of ``scale`` of the area at aspect ratio in ``ratio``."""
    area = rng.uniform(*scale) * height * width
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    w = min(width, max(1, int(round(math.sqrt(area * aspect)))))
    h = min(height, max(1, int(round(math.sqrt(area / aspect)))))
    x = int(rng.randint(0, width - w + 1))
    y = int(rng.randint(0, height - h + 1))
    return x, y, w, h


def write_crops(root: str, photos: Dict[str, np.ndarray], num_crops: int, size: int,
                seed: int = 0) -> str:
    """Write ``num_crops`` crops (``size`` px square JPEGs) of ``photos`` under ``root``, the
    photos taken in turn; return ``root``."""
    rng = np.random.RandomState(seed)
    names = list(photos)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    lines = []
    for index in range(num_crops):
        label = index % len(names)
        name = names[label]
        photo = photos[name]
        x, y, w, h = random_crop_box(rng, *photo.shape[:2])
        crop = cv2.resize(photo[y:y + h, x:x + w], (size, size), interpolation=cv2.INTER_AREA)
        rel = f'{name}/{name}_{index:05d}.jpg'
        os.makedirs(osp.join(root, 'train', name), exist_ok=True)
        if not cv2.imwrite(osp.join(root, 'train', rel), crop,
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f'cannot write {osp.join(root, "train", rel)}')
        lines.append(f'{rel} {label}')
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return root
