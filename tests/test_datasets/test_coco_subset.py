"""detco_mm.datasets.coco_subset on a tiny real COCO
set (``write_coco``: JPEGs and an instances json in MMDetection's layout): the number of images
per percent (exact, half up, at least one), determinism and independence of the file's image
order, every annotation of a chosen image kept and no other, categories / licenses / info kept,
the record in ``info['subset']``, nested subsets, refusal of a different existing file. (The
command line: tests/test_tools/test_coco_subset_tool.py.)"""
import json
import os
import os.path as osp
import random

import pytest
from pycocotools.coco import COCO

from detco_mm.datasets import coco_subset as cs

from detection_data import write_coco_train_with_info


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    """A 40-image COCO train2017 with licenses and info, as the real file has them."""
    return write_coco_train_with_info(str(tmp_path_factory.mktemp('coco')))


def load(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize('num,percent,expected', [
    (118287, 1, 1183), (118287, 2, 2366), (118287, 5, 5914), (118287, 10, 11829),  # train2017
    (15, 10, 2), (25, 10, 3),  # 1.5, 2.5: half up (Python's round(2.5) is 2)
    (35, 10, 4), (12, 10, 1), (100, 0.5, 1), (4, 1, 1),  # at least one image
    (40, 100, 40), (3, 50, 2), (7, 12.5, 1),
])
def test_number_of_images(num, percent, expected):
    assert cs.num_subset_images(num, percent) == expected


@pytest.mark.parametrize('percent', [0, -1, 100.5, float('nan'), float('inf'), 'ten'])
def test_bad_percent_is_refused(percent):
    with pytest.raises(cs.CocoSubsetError, match=r'percent must be'):
        cs.num_subset_images(10, percent)


def test_subset_keeps_the_chosen_images_with_all_their_annotations(coco, tmp_path):
    source = load(coco)
    out, written, record = cs.write_coco_subset(coco, 10, seed=0)
    assert written and out == coco.replace('.json', '_10pct_seed0.json')
    subset = load(out)
    assert list(subset) == list(source)  # same top-level keys, same order
    ids = {image['id'] for image in subset['images']}
    assert len(ids) == len(subset['images']) == 4
    assert subset['images'] == [image for image in source['images'] if image['id'] in ids]
    assert subset['annotations'] == [a for a in source['annotations'] if a['image_id'] in ids]
    assert len(subset['annotations']) >= 4  # write_coco puts objects on every image
    assert subset['categories'] == source['categories'] and len(subset['categories']) == 80
    assert subset['licenses'] == source['licenses']
    info = dict(subset['info'])
    assert info.pop('subset') == record == dict(
        source='instances_train2017.json', source_sha256=cs.read_coco(coco)[1], percent=10.0,
        seed=0, num_images=4, of_images=40, num_annotations=len(subset['annotations']),
        of_annotations=len(source['annotations']), method=cs.METHOD)
    assert info == source['info']
    # pycocotools (MMDetection's CocoDataset and CocoMetric read through it) takes the file
    api = COCO(out)
    assert sorted(api.getImgIds()) == sorted(ids) and len(api.getCatIds()) == 80
    assert load(coco) == source  # the source is untouched


def test_deterministic_nested_and_independent_of_image_order(coco, tmp_path):
    source, _ = cs.read_coco(coco)
    ids = [image['id'] for image in source['images']]
    chosen = {p: cs.select_image_ids(ids, p, seed=0) for p in (1, 2, 5, 10, 50)}
    assert [len(c) for c in chosen.values()] == [1, 1, 2, 4, 20]
    for small, large in ((1, 2), (2, 5), (5, 10), (10, 50)):  # a smaller subset lies inside
        assert chosen[large][:len(chosen[small])] == chosen[small]
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    assert cs.select_image_ids(shuffled, 50, seed=0) == chosen[50]
    assert set(cs.select_image_ids(ids, 50, seed=1)) != set(chosen[50])
    # the same call makes the same bytes
    first = cs.write_coco_subset(coco, 50, 3, str(tmp_path / 'a.json'))
    second = cs.write_coco_subset(coco, 50, 3, str(tmp_path / 'b.json'))
    with open(first.path, 'rb') as a, open(second.path, 'rb') as b:
        assert a.read() == b.read()
    assert {i['id'] for i in load(first.path)['images']} == set(
        cs.select_image_ids(ids, 50, seed=3))


def test_existing_file_identical_is_kept_different_is_refused(coco, tmp_path):
    out = str(tmp_path / 'sub.json')
    assert cs.write_coco_subset(coco, 5, 0, out).written
    before = os.stat(out).st_mtime_ns
    again = cs.write_coco_subset(coco, 5, 0, out)
    assert not again.written and os.stat(out).st_mtime_ns == before
    with pytest.raises(FileExistsError) as e:  # another seed to the same path
        cs.write_coco_subset(coco, 5, 1, out)
    assert str(e.value).startswith(f'{out} exists and is not the 5 % subset (seed 1) of {coco}')
    assert 'it records percent=5.0, seed=0, source sha256' in str(e.value)
    assert 'Delete it to make it again, or write elsewhere' in str(e.value)
    with open(out, 'w') as f:
        f.write('{}')
    with pytest.raises(FileExistsError, match='it is no subset written by this tool'):
        cs.write_coco_subset(coco, 5, 0, out)
    assert load(out) == {} and [p.name for p in tmp_path.iterdir()] == ['sub.json']


@pytest.mark.parametrize('content,message', [
    (None, r'no such annotation file'),
    ('not json', r'not a json file'),
    ('[1, 2]', r'is a list'),
    ('{"images": []}', r"no 'annotations' list"),
    ('{"images": [{"id": 1}, {"id": 1}], "annotations": []}', r'not unique'),
    ('{"images": [], "annotations": []}', r'no images to choose from'),
])
def test_bad_annotation_files_are_refused(content, message, tmp_path):
    path = str(tmp_path / 'instances.json')
    if content is not None:
        with open(path, 'w') as f:
            f.write(content)
    with pytest.raises(cs.CocoSubsetError, match=message) as e:
        cs.write_coco_subset(path, 10)
    assert path in str(e.value) or 'no images' in str(e.value)
    assert not osp.exists(str(tmp_path / 'instances_10pct_seed0.json'))
