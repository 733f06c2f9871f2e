"""The `make demo` configs: the flagship pre-training, MoCo v2 on the same terms and the
RetinaNet fine-tuning shrunk for 2 CPU cores, consistent with each other and with
detco_mm.demo, and with no device in them. (tests/test_tools/test_demo.py runs them end to
end.)"""
import os.path as osp

from mmengine.config import Config

from detco_mm.demo import DemoDataSpec
from detco_mm.demo.cutouts import OBJECT_PHOTOS
from detco_mm.demo.end_to_end import PRESETS
from detco_mm.demo.experiment import METHODS

from conftest import REPO_ROOT

PRETRAIN = osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r18_demo.py')
MOCOV2 = osp.join(REPO_ROOT, 'configs', 'detco', 'mocov2_r18_demo.py')
FINETUNE = osp.join(REPO_ROOT, 'configs', 'finetune', 'retinanet_detco_demo.py')


def types(pipeline):
    out = []
    for step in pipeline:
        out.append(step['type'])
        for views in step.get('transforms', []):
            out.append([v['type'] for v in views])
    return out


def test_pretraining_is_the_flagship_shrunk():
    demo = Config.fromfile(PRETRAIN)
    flagship = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r50_8xb32.py'))
    model = demo.model
    assert model.type == 'DetCo' and model.backbone.depth == 18
    assert tuple(model.neck.in_channels) == (64, 128, 256, 512)
    assert model.head == flagship.model.head  # the same loss: terms, weights, temperature
    # a 100-iteration EMA horizon for a 400-iteration run (the flagship's 0.999: 1000)
    assert (model.feat_dim, model.momentum) == (128, 0.99)
    loader = demo.train_dataloader
    assert model.queue_len % loader.batch_size == 0 and loader.drop_last
    assert types(loader.dataset.pipeline) == types(flagship.train_dataloader.dataset.pipeline)
    views = loader.dataset.pipeline[2].transforms
    assert views[0][0].size == 64 and views[1][0].size == 96 and views[1][-1].patch_size == 24
    assert loader.dataset.data_root == 'data/demo/pretrain/'
    assert demo.custom_hooks == flagship.custom_hooks
    assert demo.default_hooks.logger.interval == 10
    # 3200 crops / 32 per batch x 4 epochs: a few hundred iterations with progress every 10
    iterations = DemoDataSpec().num_crops // loader.batch_size * demo.train_cfg.max_epochs
    assert 300 <= iterations <= 600
    assert demo.param_scheduler[0].T_max == demo.train_cfg.max_epochs
    # the lr is the flagship's 0.03 for 256 images, scaled by MMEngine to the batch of 32
    assert demo.optim_wrapper.optimizer.lr == flagship.optim_wrapper.optimizer.lr == 0.03
    assert demo.auto_scale_lr == dict(enable=True, base_batch_size=256)
    assert flagship.auto_scale_lr == dict(enable=False, base_batch_size=256)


def test_mocov2_baseline_is_trained_like_detco():
    """Only the model differs: same data, global views, batch, queue, momentum, optimizer,
    lr rule, schedule, hooks and seed."""
    detco, moco = Config.fromfile(PRETRAIN), Config.fromfile(MOCOV2)
    assert moco.model.type == 'MoCo' and moco.model.backbone.depth == 18
    assert (moco.model.queue_len, moco.model.momentum, moco.model.feat_dim) == (
        detco.model.queue_len, detco.model.momentum, detco.model.feat_dim)
    assert moco.model.head.temperature == detco.model.head.temperature == 0.2
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'auto_scale_lr',
                'custom_hooks', 'randomness', 'default_hooks'):
        assert moco[key] == detco[key], key
    ml, dl = moco.train_dataloader, detco.train_dataloader
    assert {k: v for k, v in ml.items() if k != 'dataset'} == {
        k: v for k, v in dl.items() if k != 'dataset'}
    assert ml.dataset.data_root == dl.dataset.data_root
    moco_views, detco_views = ml.dataset.pipeline[2], dl.dataset.pipeline[2]
    assert moco_views.num_views == 2 and moco_views.transforms == [detco_views.transforms[0]]
    assert moco.model.data_preprocessor.mean == detco.model.data_preprocessor.mean
    assert [m.config for m in METHODS.values()] == ['configs/detco/mocov2_r18_demo.py',
                                                    'configs/detco/detco_r18_demo.py']


def test_finetuning_starts_from_the_demo_export():
    cfg = Config.fromfile(FINETUNE)
    assert cfg.runner_type == 'DetCoFinetuneRunner'
    # what `mim train mmdet configs/finetune/retinanet_detco_demo.py` uses after `make demo`
    assert cfg.pretrained == 'work_dirs/demo/detco_r18_demo/backbone_mmdet.pth'
    assert cfg.data_root == 'data/demo/detection/'
    backbone = cfg.model.backbone
    assert (backbone.depth, backbone.frozen_stages, backbone.norm_eval) == (18, -1, False)
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained)
    for part in (backbone, cfg.model.neck, cfg.model.bbox_head):
        assert {k: v for k, v in part.norm_cfg.items() if k != '_scope_'} == dict(
            type='BN', requires_grad=True)
    assert cfg.model.neck.in_channels == [64, 128, 256, 512]
    assert cfg.model.bbox_head.num_classes == len(OBJECT_PHOTOS)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == 'CocoDataset'
        assert loader.dataset.data_root == cfg.data_root
        assert tuple(loader.dataset.metainfo['classes']) == OBJECT_PHOTOS
    # the demo's label budget: 40 of the 400 training scenes
    assert cfg.train_dataloader.dataset.ann_file == PRESETS['full'].train_ann_file == (
        'annotations/instances_train2017_40.json')
    assert 40 in DemoDataSpec().det_budgets
    assert cfg.val_evaluator.ann_file == cfg.data_root + 'annotations/instances_val2017.json'
    assert cfg.val_evaluator.metric == 'bbox'
    loop = cfg.train_cfg
    assert loop.type == 'IterBasedTrainLoop' and loop.val_interval == loop.max_iters
    assert cfg.param_scheduler[1].end == loop.max_iters
    assert cfg.default_hooks.checkpoint.interval == loop.max_iters


def test_pretraining_and_finetuning_normalise_inputs_alike():
    """The transfer path: the detector sees its images as the backbone saw them in
    pre-training (RGB, ImageNet mean / std), for DetCo and MoCo v2 alike."""
    finetune = Config.fromfile(FINETUNE).model.data_preprocessor
    for path in (PRETRAIN, MOCOV2):
        pre = Config.fromfile(path).model.data_preprocessor
        assert tuple(pre.mean) == tuple(finetune.mean) == (123.675, 116.28, 103.53), path
        assert tuple(pre.std) == tuple(finetune.std) == (58.395, 57.12, 57.375), path
        assert pre.bgr_to_rgb and finetune.bgr_to_rgb, path


def test_no_device_in_the_demo_configs():
    for path in (PRETRAIN, MOCOV2, FINETUNE):
        with open(path) as f:
            code = '\n'.join(line.split('#')[0] for line in f)
        assert 'cuda' not in code and 'cpu' not in code and 'device' not in code, path


def test_tiny_preset_only_shrinks_counts():
    """The test suite's --tiny runs the same configs: only counts, iterations and logging."""
    full, tiny = PRESETS['full'], PRESETS['tiny']
    assert full.pretrain == [] and full.finetune == [] and full.data == DemoDataSpec()
    assert (tiny.data.crop_size, tiny.data.det_size) == (full.data.crop_size,
                                                         full.data.det_size)
    assert tiny.train_ann_file.endswith(f'_{tiny.data.det_budgets[0]}.json')
    allowed = ('train_dataloader.batch_size', 'model.queue_len', 'train_cfg.',
               'default_hooks.', 'param_scheduler.', 'model.test_cfg.score_thr')
    for option in tiny.pretrain + tiny.finetune:
        assert option.startswith(allowed), option
