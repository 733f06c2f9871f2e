"""Tiny detection datasets in the real on-disk layouts MMDetection reads.

Every image shows a few coloured rectangles and ellipses on a plain background; each shape is an
object whose box and mask are known exactly (the polygon that was filled; drawn by
:func:`detco_mm.demo.scenes.draw_objects`, which ``make demo``'s data uses too). Layouts:

- COCO: ``train2017/``, ``val2017/``, ``annotations/instances_{train,val}2017.json`` (polygons).
- PASCAL VOC: ``VOC2007/`` and ``VOC2012/`` with ``JPEGImages/``, ``Annotations/*.xml`` and
  ``ImageSets/Main/{trainval,test}.txt``.
- Cityscapes: ``leftImg8bit/{train,val}/<city>/*_leftImg8bit.png``,
  ``gtFine/{train,val}/<city>/*_gtFine_{instanceIds,labelIds}.png``, and the instance json that
  MMDetection's ``tools/dataset_converters/cityscapes.py`` makes from them (run here).

Used by the test suite (``tests/detection_data.py``) and by ``tools/gpu_check.py``, which
fine-tunes every detector family on such sets: nothing is downloaded.
"""
import importlib.util
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from detco_mm.demo.scenes import coco_annotation, draw_objects

__all__ = ['write_coco', 'write_voc', 'write_cityscapes']


def write_coco(root: str, splits: Dict[str, int] = None, size: Tuple[int, int] = (128, 160),
               classes: Sequence[str] = ('person', 'car', 'dog'), seed: int = 0) -> str:
    """COCO layout under ``root``; returns ``root`` with a trailing slash (a ``data_root``).

    The json lists all 80 COCO categories (MMDetection's metric maps predicted labels through
    them); the objects use ``classes``.
    """
    from mmdet.datasets import CocoDataset
    splits = splits or {'train2017': 4, 'val2017': 2}
    rng = np.random.RandomState(seed)
    all_classes = CocoDataset.METAINFO['classes']
    categories = [dict(id=i + 1, name=n, supercategory='thing')
                  for i, n in enumerate(all_classes)]
    cat_id = {c['name']: c['id'] for c in categories}
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    ann_id = 1
    for split, num_images in splits.items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(num_images):
            img, shapes = draw_objects(rng, size, num=3)
            name = f'{i:012d}.jpg'
            assert cv2.imwrite(osp.join(root, split, name), img)
            image_id = i + 1
            images.append(dict(id=image_id, file_name=name, height=size[0], width=size[1]))
            for shape in shapes:
                category_id = cat_id[classes[int(rng.randint(len(classes)))]]
                annotations.append(coco_annotation(ann_id, image_id, category_id, shape))
                ann_id += 1
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return osp.join(root, '')


def _voc_xml(name: str, size: Tuple[int, int], objects: List[Tuple[str, Tuple]]) -> str:
    ann = ET.Element('annotation')
    ET.SubElement(ann, 'filename').text = name
    s = ET.SubElement(ann, 'size')
    for tag, value in (('width', size[1]), ('height', size[0]), ('depth', 3)):
        ET.SubElement(s, tag).text = str(value)
    for cls, (x0, y0, x1, y1) in objects:
        obj = ET.SubElement(ann, 'object')
        ET.SubElement(obj, 'name').text = cls
        ET.SubElement(obj, 'pose').text = 'Unspecified'
        ET.SubElement(obj, 'truncated').text = '0'
        ET.SubElement(obj, 'difficult').text = '0'
        box = ET.SubElement(obj, 'bndbox')
        # VOC boxes are 1-based and inclusive
        for tag, value in (('xmin', x0 + 1), ('ymin', y0 + 1), ('xmax', x1), ('ymax', y1)):
            ET.SubElement(box, tag).text = str(value)
    return ET.tostring(ann, encoding='unicode')


def write_voc(root: str, splits: Dict[Tuple[str, str], int] = None,
              size: Tuple[int, int] = (128, 160), classes: Sequence[str] = ('car', 'dog', 'person'),
              seed: int = 0) -> str:
    """VOCdevkit layout under ``root`` (``{(year, image set): count}``); returns the data root."""
    splits = splits or {('VOC2007', 'trainval'): 2, ('VOC2012', 'trainval'): 2,
                        ('VOC2007', 'test'): 2}
    rng = np.random.RandomState(seed)
    for (year, image_set), num_images in splits.items():
        base = osp.join(root, year)
        for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
            os.makedirs(osp.join(base, sub), exist_ok=True)
        ids = []
        for i in range(num_images):
            img_id = f'{year[3:]}_{image_set}_{i:06d}'
            img, shapes = draw_objects(rng, size, num=3)
            assert cv2.imwrite(osp.join(base, 'JPEGImages', f'{img_id}.jpg'), img)
            objects = [(classes[int(rng.randint(len(classes)))], s['bbox']) for s in shapes]
            with open(osp.join(base, 'Annotations', f'{img_id}.xml'), 'w') as f:
                f.write(_voc_xml(f'{img_id}.jpg', size, objects))
            ids.append(img_id)
        with open(osp.join(base, 'ImageSets', 'Main', f'{image_set}.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return osp.join(root, '')


def _mmdet_cityscapes_converter():
    """MMDetection's packaged ``tools/dataset_converters/cityscapes.py`` as a module."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'dataset_converters',
                    'cityscapes.py')
    spec = importlib.util.spec_from_file_location('mmdet_cityscapes_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_cityscapes(root: str, splits: Dict[str, int] = None, size: Tuple[int, int] = (128, 256),
                     classes: Sequence[str] = ('car', 'person', 'bicycle'), seed: int = 0) -> str:
    """Cityscapes layout under ``root`` plus MMDetection's converted instance json.

    ``gtFine`` holds ``*_instanceIds.png`` (16 bit: label id x 1000 + instance index, ``road``
    elsewhere) and ``*_labelIds.png``; the json is made by MMDetection's converter from them.
    """
    import cityscapesscripts.helpers.labels as cs_labels
    splits = splits or {'train': 4, 'val': 2}
    rng = np.random.RandomState(seed)
    road = cs_labels.name2label['road'].id
    city = 'tinytown'
    for split, num_images in splits.items():
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        gt_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(gt_dir, exist_ok=True)
        for i in range(num_images):
            stem = f'{city}_000000_{i:06d}'
            img, shapes = draw_objects(rng, size, num=3)
            inst = np.full(size, road, np.uint16)
            label = np.full(size, road, np.uint8)
            for k, shape in enumerate(shapes):
                label_id = cs_labels.name2label[classes[int(rng.randint(len(classes)))]].id
                visible = shape['mask'].astype(bool)
                inst[visible] = label_id * 1000 + k
                label[visible] = label_id
            assert cv2.imwrite(osp.join(img_dir, f'{stem}_leftImg8bit.png'), img)
            assert cv2.imwrite(osp.join(gt_dir, f'{stem}_gtFine_instanceIds.png'), inst)
            assert cv2.imwrite(osp.join(gt_dir, f'{stem}_gtFine_labelIds.png'), label)
    converter = _mmdet_cityscapes_converter()
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split in splits:
        files = converter.collect_files(osp.join(root, 'leftImg8bit', split),
                                        osp.join(root, 'gtFine', split))
        infos = [converter.load_img_info(f) for f in files]
        converter.cvt_annotations(
            infos, osp.join(root, 'annotations', f'instancesonly_filtered_gtFine_{split}.json'))
    return osp.join(root, '')
