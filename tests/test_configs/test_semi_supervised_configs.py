"""configs/finetune/semi: COCO with 1 / 2 / 5 / 10 % of the train2017 labels (paper Tables
10-12), Mask R-CNN and RetinaNet R50-FPN.

Each config is its 12k parent with the training annotation file, and nothing else, replaced by
the seed-0 subset that ``tools/dataset_converters/coco_subset.py`` writes next to the full file.
Two of them are fine-tuned for 2 iterations through the real runner from an exported ResNet-50
DetCo backbone, on subsets made by :mod:`detco_mm.datasets.coco_subset` from a tiny real COCO
set, and evaluated on its whole val2017: the detector trains on exactly the subset's images. The
overrides are CPU / size ones only: BN, 256x128 images, fewer proposals / RoIs, score threshold 0,
PreciseBN over 2 batches.
"""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS

import detco_mm  # noqa: F401
from detco_mm.datasets.coco_subset import subset_path, write_coco_subset
from detco_mm.engine.runner.finetune_runner import FinetuneInputError
from detco_mm.model_converters.backbone_export import export_backbone

from conftest import REPO_ROOT
from detection_data import cpu_finetune_overrides, write_coco, write_detco_checkpoint

SEMI_DIR = osp.join(REPO_ROOT, 'configs', 'finetune', 'semi')
PERCENTS = (1, 2, 5, 10)
NAMES = [f'{family}_detco_semi_{p}pct.py' for family in ('mask_rcnn', 'retinanet')
         for p in PERCENTS]
FULL = 'annotations/instances_train2017.json'


def load(path):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', 'finetune', path))


def test_every_semi_config_is_shipped():
    assert sorted(osp.basename(p) for p in glob.glob(osp.join(SEMI_DIR, '*.py'))) == sorted(
        NAMES)
    assert [osp.basename(p) for p in glob.glob(osp.join(SEMI_DIR, '_base_', '*'))] == [
        'coco_semi.py']


def test_only_the_training_annotations_differ_from_the_12k_parent():
    parents = {}
    for name in NAMES:
        percent = int(name.split('_')[-1][:-len('pct.py')])
        family = name.split('_detco_semi_')[0]
        cfg = load(f'semi/{name}')
        parent = parents.setdefault(family, load(f'{family}_detco_12k.py'))
        ann_file = cfg.train_dataloader.dataset.ann_file
        # the file the subset tool writes by default, next to the full one
        assert ann_file == subset_path(FULL, percent, seed=0) == (
            f'annotations/instances_train2017_{percent}pct_seed0.json'), name
        assert parent.train_dataloader.dataset.ann_file == FULL
        mine = cfg.to_dict()
        assert mine.pop('semi_ann_file') == (
            'annotations/instances_train2017_{percent}pct_seed0.json')
        mine['train_dataloader']['dataset']['ann_file'] = FULL
        assert mine == parent.to_dict(), name
        assert cfg.val_dataloader.dataset.ann_file == 'annotations/instances_val2017.json'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Tiny COCO (20 train, 2 val images) with its seed-0 subsets, and an exported R50."""
    tmp = tmp_path_factory.mktemp('semi')
    root = write_coco(str(tmp / 'coco'), splits={'train2017': 20, 'val2017': 2})
    subsets = {p: write_coco_subset(osp.join(root, FULL), p, seed=0) for p in PERCENTS}
    pretrained = str(tmp / 'backbone_mmdet.pth')
    export_backbone(write_detco_checkpoint(str(tmp / 'epoch_7.pth')), pretrained)
    return dict(root=root, subsets=subsets, pretrained=pretrained)


def cpu_overrides(cfg, work_dir):
    """The fine-tuning tests' CPU smoke run, with PreciseBN (if the parent has it) over 2
    batches instead of 200."""
    cpu_finetune_overrides(cfg, work_dir)
    for hook in cfg.get('custom_hooks') or []:
        if hook.type.endswith('PreciseBNHook'):
            hook.num_iters = 2


class KeepMetrics(Hook):
    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


@pytest.mark.parametrize('name,percent,metric', [
    ('mask_rcnn_detco_semi_10pct.py', 10, 'coco/segm_mAP'),
    ('retinanet_detco_semi_5pct.py', 5, 'coco/bbox_mAP'),
])
def test_fine_tune_on_the_subset(name, percent, metric, setup, tmp_path):
    subset = setup['subsets'][percent]
    assert subset.record['num_images'] == {10: 2, 5: 1}[percent]
    cfg = load(f'semi/{name}')
    cfg.merge_from_dict({'pretrained': setup['pretrained'], 'data_root': setup['root']})
    cpu_overrides(cfg, tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: 2 threads mostly wait on each other
    try:
        runner = RUNNERS.build(cfg)
        keep = KeepMetrics()
        runner.register_hook(keep)
        runner.train()
    finally:
        torch.set_num_threads(threads)
    assert runner.iter == 2
    dataset = runner.train_dataloader.dataset
    assert dataset.ann_file == subset.path
    with open(subset.path) as f:
        chosen = sorted(image['id'] for image in json.load(f)['images'])
    assert sorted(dataset.get_data_info(i)['img_id'] for i in range(len(dataset))) == chosen
    # evaluated on the whole val2017
    assert len(runner.val_dataloader.dataset) == 2
    value = float(keep.metrics[metric])
    assert value == -1 or 0 <= value <= 1, (metric, value)


def test_missing_subset_file_is_named_before_training(setup, tmp_path):
    cfg = load('semi/retinanet_detco_semi_2pct.py')
    root = write_coco(str(tmp_path / 'coco'), splits={'train2017': 2, 'val2017': 1})
    cfg.merge_from_dict({'pretrained': setup['pretrained'], 'data_root': root,
                         'work_dir': str(tmp_path / 'work')})
    with pytest.raises(FinetuneInputError) as e:
        RUNNERS.build(cfg).train()
    assert str(e.value).splitlines()[1:] == [
        f'- train data: {root}annotations/instances_train2017_2pct_seed0.json: file does not '
        f'exist (train_dataloader.dataset.ann_file); put the dataset there (MMDetection\'s '
        f'layout) or set --cfg-options data_root=DIR']
