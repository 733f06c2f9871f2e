"""Every shipped config's top-level ``train_pipeline`` / ``test_pipeline`` is the one its data
loaders run, so a config that inherits one can splice ``_base_.train_pipeline`` and get what
actually trains (a stale variable of a base would silently splice the wrong steps)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p.split(osp.sep))


def _without_scope(value):
    """``value`` without the ``_scope_`` keys MMEngine adds to the dicts of ``mmdet::`` bases."""
    if isinstance(value, dict):
        return {k: _without_scope(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_without_scope(v) for v in value]
    return value


def _pipelines(dataset):
    """The pipelines of a dataset config and of the datasets it wraps (Repeat/Concat)."""
    if not isinstance(dataset, dict):
        return []
    found = [dataset['pipeline']] if 'pipeline' in dataset else []
    found += _pipelines(dataset.get('dataset'))
    for inner in dataset.get('datasets') or []:
        found += _pipelines(inner)
    return found


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO_ROOT))
def test_top_level_pipelines_are_the_ones_the_loaders_run(path):
    cfg = Config.fromfile(path)
    checked = 0
    for name, loaders in (('train_pipeline', ['train_dataloader']),
                          ('test_pipeline', ['val_dataloader', 'test_dataloader'])):
        if name not in cfg:
            continue
        for loader in loaders:
            pipelines = _pipelines((cfg.get(loader) or {}).get('dataset'))
            for pipeline in pipelines:
                assert _without_scope(pipeline) == _without_scope(cfg[name]), (
                    f'{loader} does not run the config\'s {name}')
            checked += len(pipelines)
    assert checked, 'no pipeline found'


def test_finetune_train_pipelines_splice_mmdetections_around_detectron2_resize():
    """The detector bases keep MMDetection's loading, flip and packing steps and replace only its
    fixed Resize by detectron2's multi-scale short side."""
    for name, with_mask, long_side, shorts in (
            ('_base_/mask_rcnn_r50_c4_coco.py', True, 1200, range(640, 801, 32)),
            ('_base_/mask_rcnn_r50_fpn_coco.py', True, 1333, range(640, 801, 32)),
            ('_base_/retinanet_r50_fpn_coco.py', False, 1333, range(640, 801, 32)),
            ('faster_rcnn_c4_detco_voc.py', False, 1333, range(480, 801, 32)),
            ('mask_rcnn_detco_cityscapes.py', True, 2048, range(800, 1025, 32))):
        pipeline = Config.fromfile(
            osp.join(REPO_ROOT, 'configs', 'finetune', name)).train_pipeline
        assert [t['type'] for t in pipeline] == [
            'LoadImageFromFile', 'LoadAnnotations', 'RandomChoiceResize', 'RandomFlip',
            'PackDetInputs'], name
        assert pipeline[1].get('with_mask', False) is with_mask and pipeline[1].with_bbox, name
        assert pipeline[2].scales == [(long_side, s) for s in shorts], name
        assert pipeline[2].keep_ratio and pipeline[3].prob == 0.5, name
