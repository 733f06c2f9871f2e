"""PASCAL VOC loaded for training as detectron2 loads it (the paper's VOC protocol).

MMDetection's ``VOCDataset`` marks "difficult" objects (and, with ``filter_cfg.bbox_min_size``,
small boxes) with ``ignore_flag=1``; ``PackDetInputs`` then moves them out of the training
targets. detectron2's ``load_voc_instances``, which the official DetCo / MoCo VOC benchmark
uses, keeps every object for training ("We include 'difficult' samples in training") and only
the evaluation ignores difficult objects, as the VOC devkit does.

:class:`DetectronVOCDataset` does the same: outside ``test_mode`` every object is a training
target; in ``test_mode`` (the VOC07 test set of the evaluation) difficult objects stay ignored,
so ``VOCMetric`` treats them as the devkit does (neither a hit nor a miss).

Box coordinates stay MMDetection's (1 subtracted from all four VOC coordinates; detectron2
subtracts it from xmin / ymin only, so its boxes are 1 px wider and taller): MMDetection's
``VOCMetric`` evaluates in that convention, and training and evaluation must agree.
"""
from typing import List

from mmdet.datasets import VOCDataset
from mmdet.registry import DATASETS


@DATASETS.register_module()
class DetectronVOCDataset(VOCDataset):
    """``VOCDataset`` whose difficult objects are training targets outside ``test_mode``.

    Use it without ``filter_cfg.bbox_min_size`` (detectron2 keeps small boxes too); setting
    it is refused, since it would mark boxes ignored that detectron2 trains on.
    """

    def __init__(self, *args, **kwargs) -> None:
        filter_cfg = kwargs.get('filter_cfg') or {}
        if filter_cfg.get('bbox_min_size') is not None:
            raise ValueError(
                'DetectronVOCDataset: filter_cfg.bbox_min_size='
                f"{filter_cfg['bbox_min_size']} would ignore small boxes that detectron2 "
                'trains on; remove it (e.g. filter_cfg=dict(filter_empty_gt=True)).')
        super().__init__(*args, **kwargs)

    def _parse_instance_info(self, raw_ann_info, minus_one: bool = True) -> List[dict]:
        instances = super()._parse_instance_info(raw_ann_info, minus_one=minus_one)
        if not self.test_mode:
            for instance in instances:
                instance['ignore_flag'] = 0
        return instances
