"""The demo data: scikit-image's bundled photographs -> pre-training crops (ImageNet layout) and
detection scenes (COCO layout); deterministic to the byte, cached, refused when half-written."""
import hashlib
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from detco_mm.demo import DemoDataError, DemoDataSpec, prepare_demo_data
from detco_mm.demo.cache import MANIFEST
from detco_mm.demo.photos import PHOTOS, load_photo
from detco_mm.demo.scenes import SHAPES, write_scenes_coco

TINY = DemoDataSpec(num_crops=30, crop_size=64, det_train=6, det_val=3)


def digests(root):
    out = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = osp.join(directory, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_photos_are_bundled_real_images():
    for name in PHOTOS:
        img = load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 250 and img.std() > 10, name
    with pytest.raises(KeyError, match='not one of the demo photographs'):
        load_photo('lfw_subset')


def test_same_bytes_twice_and_layouts(tmp_path):
    a = prepare_demo_data(str(tmp_path / 'a'), TINY, log=lambda m: None)
    b = prepare_demo_data(str(tmp_path / 'b'), TINY, log=lambda m: None)
    for part in ('pretrain', 'detection'):
        da, db = digests(a[part]), digests(b[part])
        assert da == db, part
        assert MANIFEST in da
    assert len(digests(a['pretrain'])) == TINY.num_crops + 2  # crops, meta/train.txt, manifest

    # MMSelfSup's ImageNet layout: meta/train.txt lists every crop
    with open(osp.join(a['pretrain'], 'meta', 'train.txt')) as f:
        lines = f.read().splitlines()
    assert len(lines) == TINY.num_crops
    for line in lines:
        rel, label = line.split()
        img = cv2.imread(osp.join(a['pretrain'], 'train', rel))
        assert img.shape == (TINY.crop_size, TINY.crop_size, 3)
        assert rel.split('/')[0] == PHOTOS[int(label)]

    # MMDetection's COCO layout, boxes inside the images, the demo's classes
    for split, count in (('train2017', TINY.det_train), ('val2017', TINY.det_val)):
        with open(osp.join(a['detection'], 'annotations', f'instances_{split}.json')) as f:
            coco = json.load(f)
        assert [c['name'] for c in coco['categories']] == list(SHAPES)
        assert len(coco['images']) == count
        for image in coco['images']:
            img = cv2.imread(osp.join(a['detection'], split, image['file_name']))
            assert img.shape == (*TINY.det_size, 3)
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            assert x >= 0 and y >= 0 and x + w <= TINY.det_size[1] and y + h <= TINY.det_size[0]
            assert w >= 10 and h >= 10


def test_second_call_uses_the_cache_and_half_written_is_refused(tmp_path):
    root = str(tmp_path / 'demo')
    prepare_demo_data(root, TINY, log=lambda m: None)
    before = digests(root)
    messages = []
    prepare_demo_data(root, TINY, log=messages.append)
    assert [m.split(':')[0] for m in messages] == ['pre-training crops', 'detection scenes']
    assert all('using the cached' in m for m in messages)
    assert digests(root) == before

    # what an interrupted writer that wrote in place would leave: files, no manifest
    os.remove(osp.join(root, 'detection', MANIFEST))
    os.remove(osp.join(root, 'detection', 'val2017', '000000000002.jpg'))
    with pytest.raises(DemoDataError, match='detection exists but is not a finished demo '
                       'detection scenes'):
        prepare_demo_data(root, TINY, log=lambda m: None)
    assert osp.isdir(osp.join(root, 'detection', 'train2017'))  # left as it was


def test_scene_classes_are_the_shapes(tmp_path):
    """The class of an object is its shape (colours are random), so a detector can learn it:
    rectangles have 4 polygon corners, triangles 3, ellipses many; the box is the polygon's."""
    photos = {'cat': load_photo('cat'), 'coins': load_photo('coins')}
    root = write_scenes_coco(str(tmp_path / 'scenes'), photos, {'train2017': 12}, (160, 160),
                             max_objects=3, seed=3)
    with open(osp.join(root, 'annotations', 'instances_train2017.json')) as f:
        coco = json.load(f)
    names = {c['id']: c['name'] for c in coco['categories']}
    seen = set()
    for ann in coco['annotations']:
        polygon = np.array(ann['segmentation'][0]).reshape(-1, 2)
        kind = names[ann['category_id']]
        seen.add(kind)
        corners = {'rectangle': 4, 'triangle': 3}.get(kind)
        assert len(polygon) == corners if corners else len(polygon) > 8, kind
        x, y, w, h = ann['bbox']
        assert (x, y) == tuple(polygon.min(0)) and (x + w - 1, y + h - 1) == tuple(
            polygon.max(0)), kind
    assert seen == set(SHAPES)
