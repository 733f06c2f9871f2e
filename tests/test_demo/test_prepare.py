"""The demo data: scikit-image's bundled photographs -> pre-training crops (ImageNet layout) and
detection scenes of objects cut from the photographs (COCO layout, with label-budget subsets);
deterministic to the byte, cached, refused when half-written."""
import hashlib
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from detco_mm.demo import DemoDataError, DemoDataSpec, prepare_demo_data
from detco_mm.demo.cache import MANIFEST
from detco_mm.demo.cutouts import (BACKGROUND_PHOTOS, OBJECT_PHOTOS, paste_cutouts,
                                   write_cutout_scenes_coco)
from detco_mm.demo.photos import PHOTOS, load_photo

TINY = DemoDataSpec(num_crops=30, crop_size=64, det_train=6, det_val=3, det_budgets=(2, ))


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
        assert [c['name'] for c in coco['categories']] == list(OBJECT_PHOTOS)
        assert len(coco['images']) == count
        for image in coco['images']:
            img = cv2.imread(osp.join(a['detection'], split, image['file_name']))
            assert img.shape == (*TINY.det_size, 3)
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            assert x >= 0 and y >= 0 and x + w <= TINY.det_size[1] and y + h <= TINY.det_size[0]
            assert w >= 8 and h >= 8

    # a label budget: the first N training scenes and exactly their objects
    with open(osp.join(a['detection'], 'annotations', 'instances_train2017.json')) as f:
        full = json.load(f)
    with open(osp.join(a['detection'], 'annotations', 'instances_train2017_2.json')) as f:
        subset = json.load(f)
    assert subset['images'] == full['images'][:2]
    assert subset['annotations'] == [a for a in full['annotations'] if a['image_id'] <= 2]
    assert subset['categories'] == full['categories']


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


def test_objects_are_cut_from_their_class_photo(tmp_path):
    """The class of an object is the photograph its pixels come from (its outline is drawn
    independently of the class): inside the mask the scene holds a resized crop of that photo,
    outside it the background is untouched; boxes are the masks' extents."""
    photos = {name: load_photo(name) for name in OBJECT_PHOTOS + BACKGROUND_PHOTOS}
    rng = np.random.RandomState(5)
    background = np.full((160, 160, 3), 7, np.uint8)
    scene = background.copy()
    placed = paste_cutouts(rng, scene, ['cat', 'rocket', 'cat'], photos)
    assert [p['label'] for p in placed] == ['cat', 'rocket', 'cat']
    union = np.zeros((160, 160), bool)
    for p in placed:
        mask = p['mask'] > 0
        assert not (union & mask).any()  # objects never overlap
        union |= mask
        ys, xs = np.nonzero(mask)
        assert p['bbox'] == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        inside = scene[mask].astype(float)
        # the cut-out's colours are its photo's, not another class photo's
        mean = inside.mean(0)
        distances = {n: np.abs(photos[n].reshape(-1, 3).mean(0) - mean).sum()
                     for n in OBJECT_PHOTOS}
        assert inside.std() > 5
        assert p['label'] in sorted(distances, key=distances.get)[:2], distances
    assert (scene[~union] == 7).all()

    root = write_cutout_scenes_coco(str(tmp_path / 'scenes'), photos, {'train2017': 12},
                                    (160, 160), max_objects=3, seed=3, budgets={'train2017': [4]})
    with open(osp.join(root, 'annotations', 'instances_train2017.json')) as f:
        coco = json.load(f)
    labels = {a['category_id'] for a in coco['annotations']}
    assert labels == {1, 2, 3, 4}  # every class occurs in a dozen scenes
    with pytest.raises(ValueError, match='label budget 13 of train2017 is not in 1..12'):
        write_cutout_scenes_coco(str(tmp_path / 'bad'), photos, {'train2017': 12}, (160, 160),
                                 budgets={'train2017': [13]})
