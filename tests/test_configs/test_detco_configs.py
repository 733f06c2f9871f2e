"""The shipped pre-training configs: the paper's settings, and they build and run."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS

import detco_mm  # noqa: F401

from conftest import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'detco')
DETCO_CONFIGS = ['detco_r50_8xb32.py', 'detco_r50_8xb32_100e.py', 'detco_r50_8xb32_800e.py',
                 'detco_aa_r50_8xb32.py']


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_every_config_is_covered():
    shipped = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))}
    # detco_r18_demo.py and mocov2_r18_demo.py (make demo) are checked in test_demo_configs.py
    assert shipped == set(DETCO_CONFIGS) | {'mocov2_r50_8xb32.py', 'detco_r18_demo.py',
                                            'mocov2_r18_demo.py'}


def test_flagship_is_the_papers_setting():
    cfg = load('detco_r50_8xb32.py')
    assert cfg.custom_imports.imports == ['detco_mm']
    model = cfg.model
    assert (model.type, model.queue_len, model.feat_dim, model.momentum) == (
        'DetCo', 65536, 128, 0.999)
    assert model.backbone.depth == 50 and list(model.backbone.out_indices) == [1, 2, 3, 4]
    assert tuple(model.neck.in_channels) == (256, 512, 1024, 2048)
    assert model.head.temperature == 0.2
    assert tuple(model.head.loss_weights) == (0.1, 0.4, 0.7, 1.0) and not model.head.with_g2l
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.03, weight_decay=1e-4,
                                               momentum=0.9, fused=True)
    assert cfg.param_scheduler[0].type == 'CosineAnnealingLR'
    assert cfg.param_scheduler[0].T_max == cfg.train_cfg.max_epochs == 200
    loader = cfg.train_dataloader
    assert loader.batch_size == 32 and loader.drop_last
    assert model.queue_len % (loader.batch_size * 8) == 0
    assert loader.dataset.data_root == 'data/imagenet/'
    assert loader.dataset.ann_file == 'meta/train.txt'


@pytest.mark.parametrize('name,epochs', [('detco_r50_8xb32_100e.py', 100),
                                         ('detco_r50_8xb32_800e.py', 800)])
def test_epoch_variants(name, epochs):
    cfg = load(name)
    assert cfg.train_cfg.max_epochs == cfg.param_scheduler[0].T_max == epochs


def test_mocov2_baseline_is_mmselfsups_on_the_same_data():
    cfg, detco = load('mocov2_r50_8xb32.py'), load('detco_r50_8xb32.py')
    assert cfg.model.type == 'MoCo' and cfg.model.backbone.depth == 50
    for key in ('batch_size', 'drop_last'):
        assert cfg.train_dataloader[key] == detco.train_dataloader[key]
    for key in ('data_root', 'ann_file', 'data_prefix'):
        assert cfg.train_dataloader.dataset[key] == detco.train_dataloader.dataset[key]
    # the same ImageNet list; DetCo's dataset also takes label-less lines and bare folders
    assert cfg.train_dataloader.dataset.type == 'mmcls.ImageNet'
    assert detco.train_dataloader.dataset.type == 'ImageFolderDataset'
    for key in ('type', 'lr', 'weight_decay', 'momentum'):
        assert cfg.optim_wrapper.optimizer[key] == detco.optim_wrapper.optimizer[key]


@pytest.mark.parametrize('name', DETCO_CONFIGS)
def test_model_builds_and_pipeline_gives_four_views(name, image_folder):
    cfg = load(name)
    root = image_folder(num_images=1, size=(300, 400))
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        model = MODELS.build(cfg.model)
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    assert model.global_queue.shape == model.local_queue.shape == (4, 128, 65536)
    assert model.head.stage_names == ('res2', 'res3', 'res4', 'res5')
    np.random.seed(0)
    packed = pipeline(dict(img_path=osp.join(root, 'train', 'img_000.jpg')))
    shapes = [tuple(x.shape) for x in packed['inputs']]
    assert shapes == [(3, 224, 224), (3, 224, 224), (9, 3, 64, 64), (9, 3, 64, 64)]
    assert all(x.dtype == torch.uint8 for x in packed['inputs'])
    if 'aa' in name:
        assert 'AutoAugment' in str(cfg.train_dataloader.dataset.pipeline)


@pytest.mark.parametrize('name', DETCO_CONFIGS)
def test_views_are_moco_v2s_with_pil_like_crops(name):
    """Global views: MoCo v2's crop (224, scale 0.2-1) resized like PIL, then flipped; patch
    sets: a 255 crop (scale 0.6-1), not flipped (see imagenet_detco.py)."""
    global_view, local_view = load(name).train_dataloader.dataset.pipeline[2].transforms
    crops = [(v[0].type, v[0].size, tuple(v[0].scale)) for v in (global_view, local_view)]
    assert crops == [('AntialiasedRandomResizedCrop', 224, (0.2, 1.)),
                     ('AntialiasedRandomResizedCrop', 255, (0.6, 1.))]
    assert global_view[-1].type == 'RandomFlip'
    assert 'RandomFlip' not in [t.type for t in local_view]
    assert local_view[-1].type == 'JigsawPatches'


def test_every_pretraining_config_logs_to_tensorboard():
    for path in sorted(glob.glob(osp.join(CONFIG_DIR, '*.py'))):
        visualizer = Config.fromfile(path).visualizer
        assert [b.type for b in visualizer.vis_backends] == [
            'LocalVisBackend', 'TensorboardVisBackend'], path
        assert 'name' not in visualizer, path  # the Runner names it after the run


def test_tensorboard_events_hold_every_logged_scalar(tmp_path):
    """A real 2-iteration run of the tiny config (which inherits the runtime): its events
    file holds each loss term, the total, lr and data_time at both iterations, with the
    values of the text/json log."""
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from conftest import train_tiny_detco
    runner = train_tiny_detco(str(tmp_path), num_images=8)  # batch 4: 2 iterations
    assert runner.visualizer.instance_name == runner.experiment_name
    vis_dir = osp.join(runner.log_dir, 'vis_data')
    events = glob.glob(osp.join(vis_dir, 'events.out.tfevents.*'))
    assert len(events) == 1, os.listdir(vis_dir)
    acc = EventAccumulator(events[0])
    acc.Reload()
    tags = set(acc.Tags()['scalars'])
    stages = ('res2', 'res3', 'res4', 'res5')
    terms = {f'loss_{t}_{s}' for t in ('g2g', 'l2l', 'l2g') for s in stages}
    assert terms | {'loss', 'lr', 'data_time', 'time'} <= tags, sorted(tags)
    with open(osp.join(vis_dir, 'scalars.json')) as f:
        logged = [json.loads(line) for line in f]
    assert [r['step'] for r in logged] == [1, 2]
    for tag in terms | {'loss', 'lr', 'data_time'}:
        scalars = acc.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2], tag
        assert [s.value for s in scalars] == pytest.approx([r[tag] for r in logged],
                                                           rel=1e-6), tag
