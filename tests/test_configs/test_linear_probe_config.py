"""configs/benchmarks/linear_probe: ImageNet linear classification of the frozen DetCo ResNet-50
(paper Table 8), through mmcls's real classifier, runner and metric on CPU.

The config is checked against the MoCo / OpenSelfSup protocol; a ResNet-50 DetCo checkpoint is
exported (``export_backbone``) and the config trains for 2 iterations from it on a tiny
ImageNet-style folder through the user's route, ``tools/train.py``, then evaluates: the
checkpoint it saves holds the exported backbone unchanged -- weights *and* BN running
statistics, so every tensor loaded (plain ResNet keys into mmcls's ResNet, no prefix) and the
backbone stayed frozen in eval mode under lr 30 -- while the linear head moved. The only
overrides are CPU / size ones (batch 2, no workers, val on the train folder). A missing
backbone stops the run before training with the export command.
"""
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS

import detco_mm  # noqa: F401  (allow-lists MMEngine's training state for torch.load)
from detco_mm.engine.runner.finetune_runner import FinetuneInputError
from detco_mm.model_converters.backbone_export import export_backbone

from conftest import REPO_ROOT, write_image_folder
from detection_data import write_detco_checkpoint

CONFIG = 'configs/benchmarks/linear_probe/detco_r50_linear-8xb32-steplr-100e_in1k.py'
PRETRAINED = 'work_dirs/detco_r50_8xb32/backbone_mmdet.pth'


def load():
    return Config.fromfile(osp.join(REPO_ROOT, CONFIG))


def test_only_this_config_is_shipped():
    assert sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'benchmarks', '**', '*.py'),
                            recursive=True)) == [osp.join(REPO_ROOT, CONFIG)]


def test_moco_linear_protocol():
    cfg = load()
    assert cfg.runner_type == 'DetCoFinetuneRunner' and cfg.default_scope == 'mmcls'
    assert cfg.custom_imports.imports == ['detco_mm']
    model = cfg.model
    assert (model.type, model._scope_) == ('ImageClassifier', 'mmcls')
    backbone = model.backbone
    assert (backbone.type, backbone.depth, backbone.frozen_stages) == ('ResNet', 50, 4)
    assert backbone.get('out_indices', (3, )) == (3, )  # res5 only (mmcls's default)
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=PRETRAINED)
    assert cfg.pretrained == PRETRAINED and cfg.load_from is None
    assert model.neck.type == 'GlobalAveragePooling'
    head = model.head
    assert (head.type, head.in_channels, head.num_classes) == ('LinearClsHead', 2048, 1000)
    assert 'init_cfg' not in head  # mmcls's default: Normal(std=0.01) on the Linear, as MoCo
    assert head.loss.type == 'CrossEntropyLoss'
    assert model.data_preprocessor.to_rgb
    assert model.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert model.data_preprocessor.std == [58.395, 57.12, 57.375]
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD', 30.0, 0.9, 0.0)
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == 100
    scheduler, = cfg.param_scheduler
    assert (scheduler.type, scheduler.milestones, scheduler.gamma, scheduler.by_epoch) == (
        'MultiStepLR', [60, 80], 0.1, True)
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 256
    train, val = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert [t.type for t in train.pipeline] == ['LoadImageFromFile', 'RandomResizedCrop',
                                                'RandomFlip', 'PackClsInputs']
    assert train.pipeline[1].scale == 224 and train.pipeline[2].prob == 0.5
    assert [t.type for t in val.pipeline] == ['LoadImageFromFile', 'ResizeEdge', 'CenterCrop',
                                              'PackClsInputs']
    assert (val.pipeline[1].scale, val.pipeline[1].edge, val.pipeline[2].crop_size) == (
        256, 'short', 224)
    assert (train.type, train.data_root, train.ann_file, train.data_prefix) == (
        'ImageNet', 'data/imagenet/', 'meta/train.txt', dict(img_path='train'))
    assert (val.ann_file, val.data_prefix) == ('meta/val.txt', dict(img_path='val'))
    assert cfg.test_dataloader.dataset == val
    assert cfg.val_evaluator.type == 'Accuracy' and cfg.val_evaluator.topk == (1, 5)
    assert cfg.val_cfg == dict(type='ValLoop')  # every epoch (EpochBasedTrainLoop's default)
    assert cfg.train_cfg.get('val_interval', 1) == 1


@pytest.fixture(scope='module')
def exported_r50(tmp_path_factory):
    """A ResNet-50 DetCo checkpoint's backbone, exported in mmdet format (plain ResNet keys)."""
    tmp = tmp_path_factory.mktemp('pretrained')
    out = str(tmp / 'backbone_mmdet.pth')
    export_backbone(write_detco_checkpoint(str(tmp / 'epoch_7.pth')), out)
    return out


def test_missing_backbone_and_val_data_stop_before_training(tmp_path):
    cfg = load()
    root = write_image_folder(str(tmp_path / 'imagenet'), 2, (48, 48))  # train/ only, no val/
    cfg.merge_from_dict({'work_dir': str(tmp_path / 'work'), 'data_root': root})
    runner = RUNNERS.build(cfg)
    with pytest.raises(FinetuneInputError) as e:
        runner.train()
    assert str(e.value).splitlines()[1:] == [
        f'- pretrained backbone {PRETRAINED} (model.backbone.init_cfg) does not exist. Export it '
        f'from a DetCo checkpoint with',
        f'    python tools/model_converters/export_backbone.py DETCO_CKPT {PRETRAINED}',
        '  or use another file: --cfg-options pretrained=PATH',
        f'- val data: {root}/meta/val.txt: file does not exist '
        f'(val_dataloader.dataset.ann_file); put the dataset there (MMSelfSup\'s ImageNet '
        f'layout) or set --cfg-options data_root=DIR',
        f'- val data: {root}/val: directory does not exist '
        f'(val_dataloader.dataset.data_prefix.img_path); put the dataset there (MMSelfSup\'s '
        f'ImageNet layout) or set --cfg-options data_root=DIR']
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_linear_probe_trains_only_the_head(exported_r50, tmp_path, subprocess_env):
    root = write_image_folder(str(tmp_path / 'imagenet'), 4, (96, 128))
    work_dir = tmp_path / 'work'
    options = [f'pretrained={exported_r50}', f'data_root={root}', 'train_cfg.max_epochs=1',
               'val_dataloader.dataset.ann_file=meta/train.txt',
               'val_dataloader.dataset.data_prefix.img_path=train',
               'default_hooks.logger.interval=1', 'randomness.seed=0']
    for part in ('train_dataloader', 'val_dataloader'):
        options += [f'{part}.batch_size=2', f'{part}.num_workers=0',
                    f'{part}.persistent_workers=False']
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
         str(work_dir), '--cfg-options'] + options, env=subprocess_env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert (f"DetCoFinetuneRunner: pretrained='{exported_r50}' applied to "
            f'model.backbone.init_cfg.checkpoint') in log
    assert f'load model from: {exported_r50}' in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert 'Epoch(train) [1][2/2]  lr: 3.0000e+01' in log
    assert 'Epoch(val) [1][2/2]    accuracy/top1: ' in log and 'accuracy/top5: ' in log

    exported = torch.load(exported_r50, weights_only=True)['state_dict']
    state = torch.load(work_dir / 'epoch_1.pth', weights_only=True)['state_dict']
    backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    assert set(backbone) == set(exported)
    for key, value in exported.items():  # weights and BN statistics: loaded, frozen, eval mode
        assert torch.equal(backbone[key], value), key
    assert set(state) - {f'backbone.{k}' for k in exported} == {'head.fc.weight', 'head.fc.bias'}
    assert state['head.fc.weight'].shape == (1000, 2048)
    # the head was trained: its bias started at 0 (mmcls's Normal init) and moved
    assert state['head.fc.bias'].abs().max() > 0
