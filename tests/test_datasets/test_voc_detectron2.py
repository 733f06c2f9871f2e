"""DetectronVOCDataset: VOC for training as detectron2 loads it (difficult objects included)."""
import glob
import os.path as osp

import pytest
from mmdet.datasets import VOCDataset

from detco_mm.datasets import DetectronVOCDataset

from detection_data import write_voc


def mark_first_object_difficult(xml_path):
    with open(xml_path) as f:
        text = f.read()
    with open(xml_path, 'w') as f:
        f.write(text.replace('<difficult>0</difficult>', '<difficult>1</difficult>', 1))


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = write_voc(str(tmp_path_factory.mktemp('voc') / 'VOCdevkit'))
    for xml in sorted(glob.glob(osp.join(root, 'VOC2007', 'Annotations', '*.xml'))):
        mark_first_object_difficult(xml)  # trainval and test images
    return root


def flags(dataset):
    return [[i['ignore_flag'] for i in dataset.get_data_info(n)['instances']]
            for n in range(len(dataset))]


def build(cls, root, image_set, **kwargs):
    return cls(data_root=root, ann_file=f'VOC2007/ImageSets/Main/{image_set}.txt',
               data_prefix=dict(sub_data_root='VOC2007/'), pipeline=[], **kwargs)


def test_difficult_objects_are_training_targets(voc_root):
    stock = build(VOCDataset, voc_root, 'trainval', filter_cfg=dict(filter_empty_gt=True))
    ours = build(DetectronVOCDataset, voc_root, 'trainval', filter_cfg=dict(filter_empty_gt=True))
    assert [f[0] for f in flags(stock)] == [1, 1]  # MMDetection drops them from the targets
    assert flags(ours) == [[0, 0, 0], [0, 0, 0]]
    # boxes as MMDetection reads them (its VOCMetric evaluates in that convention)
    assert ([i['bbox'] for i in ours.get_data_info(0)['instances']]
            == [i['bbox'] for i in stock.get_data_info(0)['instances']])


def test_the_evaluation_still_ignores_difficult_objects(voc_root):
    test = build(DetectronVOCDataset, voc_root, 'test', test_mode=True)
    assert [f[0] for f in flags(test)] == [1, 1]
    assert all(f[1:] == [0, 0] for f in flags(test))


def test_a_minimum_box_size_is_refused(voc_root):
    with pytest.raises(ValueError, match='bbox_min_size=32 would ignore small boxes'):
        build(DetectronVOCDataset, voc_root, 'trainval',
              filter_cfg=dict(filter_empty_gt=True, bbox_min_size=32))
