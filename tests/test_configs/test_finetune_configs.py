"""configs/finetune: the paper's downstream protocols, run through real MMDetection on CPU.

Every config is checked against the protocol (SyncBN, nothing frozen, RGB pytorch-style input,
the DetCo backbone, schedules); DetCoFinetuneRunner's overrides and input checks are exercised;
and one config per family (FPN / C4 Mask R-CNN, RetinaNet, VOC Faster R-CNN C4, Cityscapes) is
fine-tuned for 2 iterations from an exported ResNet-50 DetCo backbone on a tiny dataset in the
real on-disk layout, then evaluated by its real metric. The overrides are CPU / size ones only:
BN (`norm_cfg.type=BN`), 256x128 images, fewer proposals / RoIs, score threshold 0 so that an
untrained detector produces detections to evaluate. One run goes through `mim train mmdet`.
"""
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS

import detco_mm  # noqa: F401
from detco_mm.engine.runner.finetune_runner import (DetCoFinetuneRunner, FinetuneInputError,
                                                    apply_setting_overrides)
from detco_mm.model_converters.backbone_export import export_backbone

from conftest import REPO_ROOT
from detection_data import (cpu_finetune_overrides, write_cityscapes, write_coco,
                            write_detco_checkpoint, write_voc)

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'finetune')
PRETRAINED = 'work_dirs/detco_r50_8xb32/backbone_mmdet.pth'
SYNCBN = dict(type='SyncBN', requires_grad=True)
C4 = ('mask_rcnn_c4_detco.py', 'mask_rcnn_c4_detco_2x.py', 'mask_rcnn_c4_detco_12k.py',
      'faster_rcnn_c4_detco_voc.py')

# config: (iterations, lr steps, warm-up iterations, lr, images per GPU, data root, train short
# sides, train long side): the official detectron2 configs, at 16 images per iteration (8 on
# Cityscapes)
COCO_SIDES = range(640, 801, 32)
SCHEDULES = {
    'mask_rcnn_detco.py': (90000, [60000, 80000], 1000, 0.02, 2, 'data/coco/', COCO_SIDES, 1333),
    'mask_rcnn_detco_2x.py': (180000, [120000, 160000], 1000, 0.02, 2, 'data/coco/', COCO_SIDES,
                              1333),
    'mask_rcnn_detco_12k.py': (12000, [9000, 11000], 1000, 0.02, 2, 'data/coco/', COCO_SIDES,
                               1333),
    'mask_rcnn_c4_detco.py': (90000, [60000, 80000], 1000, 0.02, 2, 'data/coco/', COCO_SIDES,
                              1200),
    'mask_rcnn_c4_detco_2x.py': (180000, [120000, 160000], 1000, 0.02, 2, 'data/coco/',
                                 COCO_SIDES, 1200),
    'mask_rcnn_c4_detco_12k.py': (12000, [9000, 11000], 1000, 0.02, 2, 'data/coco/', COCO_SIDES,
                                  1200),
    'retinanet_detco.py': (90000, [60000, 80000], 1000, 0.01, 2, 'data/coco/', COCO_SIDES, 1333),
    'retinanet_detco_2x.py': (180000, [120000, 160000], 1000, 0.01, 2, 'data/coco/', COCO_SIDES,
                              1333),
    'retinanet_detco_12k.py': (12000, [9000, 11000], 1000, 0.01, 2, 'data/coco/', COCO_SIDES,
                               1333),
    'faster_rcnn_c4_detco_voc.py': (24000, [18000, 22000], 100, 0.02, 2, 'data/VOCdevkit/',
                                    range(480, 801, 32), 1333),
    'mask_rcnn_detco_cityscapes.py': (24000, [18000], 1000, 0.01, 1, 'data/cityscapes/',
                                      range(800, 1025, 32), 2048),
}
# the detector bases and schedules the configs are made of
BASES = ['detco_finetune.py', 'mask_rcnn_r50_c4_coco.py', 'mask_rcnn_r50_fpn_coco.py',
         'retinanet_r50_fpn_coco.py', 'schedules']
SCHEDULE_BASES = ['detectron2_12k.py', 'detectron2_1x.py', 'detectron2_2x.py']


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def collect(node, key, path=''):
    """(path, value) of every ``key`` entry in a nested config."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield f'{path}.{k}', v
            yield from collect(v, key, f'{path}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from collect(v, key, f'{path}.{i}')


def train_pipeline(cfg):
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset:
        dataset = dataset.get('dataset') or dataset.datasets[0]
    return dataset.pipeline


# --------------------------------------------------------------------------- the configs
def test_every_config_is_shipped():
    shipped = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))}
    # retinanet_detco_demo.py (make demo) is checked in test_demo_configs.py
    assert shipped == set(SCHEDULES) | {'retinanet_detco_demo.py'}
    assert sorted(os.listdir(osp.join(CONFIG_DIR, '_base_'))) == BASES
    assert sorted(os.listdir(osp.join(CONFIG_DIR, '_base_', 'schedules'))) == SCHEDULE_BASES


@pytest.mark.parametrize('name', sorted(SCHEDULES))
def test_paper_protocol(name):
    cfg = load(name)
    assert cfg.runner_type == 'DetCoFinetuneRunner'
    assert cfg.custom_imports.imports[0] == 'detco_mm'
    assert not cfg.custom_imports.allow_failed_imports
    assert cfg.pretrained == PRETRAINED and cfg.load_from is None and not cfg.resume
    model = cfg.model
    backbone = model.backbone
    assert (backbone.type, backbone.depth, backbone.style) == ('ResNet', 50, 'pytorch')
    assert backbone.frozen_stages == -1 and backbone.norm_eval is False
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=PRETRAINED)
    preprocessor = model.data_preprocessor
    assert preprocessor.mean == [123.675, 116.28, 103.53]
    assert preprocessor.std == [58.395, 57.12, 57.375] and preprocessor.bgr_to_rgb
    if 'mask_head' in model.get('roi_head', {}):
        assert preprocessor.pad_mask
    # SyncBN in the backbone (C4: and the res5 RoI head) and the FPN; heads without norm
    norms = dict(collect(model, 'norm_cfg', 'model'))
    expected_norms = {'model.backbone.norm_cfg'}
    if name in C4:
        expected_norms.add('model.roi_head.shared_head.norm_cfg')
        shared = model.roi_head.shared_head
        assert shared.type == 'ResLayerExtraNorm' and shared.style == 'pytorch'
        assert shared.norm_eval is False
        assert shared.init_cfg == dict(type='Pretrained', checkpoint=PRETRAINED)
        assert 'mmselfsup.models.utils.res_layer_extra_norm' in cfg.custom_imports.imports
    else:
        expected_norms.add('model.neck.norm_cfg')
    if 'mask_head' in model.get('roi_head', {}) and name not in C4:
        # detectron2's FastRCNNConvFCHead NUM_FC 2 and MaskRCNNConvUpsampleHead NUM_CONV 4
        assert model.roi_head.bbox_head.type == 'Shared2FCBBoxHead'
        assert model.roi_head.mask_head.type == 'FCNMaskHead'
        assert model.roi_head.mask_head.num_convs == 4
    if name.startswith('retinanet'):
        assert model.bbox_head.type == 'RetinaHead' and model.neck.start_level == 1
    assert set(norms) == expected_norms
    assert all({k: v for k, v in n.items() if k != '_scope_'} == SYNCBN for n in norms.values())
    assert cfg.norm_cfg == SYNCBN or {k: v for k, v in cfg.norm_cfg.items()
                                      if k != '_scope_'} == SYNCBN
    # only the DetCo backbone is loaded
    inits = [v for _, v in collect(model, 'init_cfg') if v]
    assert all(i.checkpoint == PRETRAINED for i in inits)


@pytest.mark.parametrize('name', sorted(SCHEDULES))
def test_schedule_and_data(name):
    length, steps, warmup_iters, lr, per_gpu, data_root, sides, long_side = SCHEDULES[name]
    cfg = load(name)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=length, val_interval=length)
    warmup, multistep = cfg.param_scheduler
    assert warmup == dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
                          end=warmup_iters)
    assert multistep == dict(type='MultiStepLR', by_epoch=False, begin=0, end=length,
                             milestones=steps, gamma=0.1)
    assert cfg.optim_wrapper == dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=0.0001),
        paramwise_cfg=dict(norm_decay_mult=0.0))  # detectron2's WEIGHT_DECAY_NORM: 0
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=8 * per_gpu)
    assert cfg.train_dataloader.batch_size == per_gpu  # x 8 GPUs
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    assert cfg.log_processor.by_epoch is False and cfg.default_hooks.logger.interval == 20
    checkpoint = {k: v for k, v in cfg.default_hooks.checkpoint.items() if k != '_scope_'}
    assert checkpoint == dict(type='CheckpointHook', by_epoch=False, interval=5000,
                              max_keep_ckpts=3)
    assert cfg.custom_hooks == [dict(type='DetectronPreciseBNHook', num_iters=200)]
    assert [b.type for b in cfg.visualizer.vis_backends] == ['LocalVisBackend',
                                                             'TensorboardVisBackend']
    resize, = [t for t in train_pipeline(cfg) if t.type == 'RandomChoiceResize']
    assert sorted(s for _, s in resize.scales) == list(sides)
    assert {w for w, _ in resize.scales} == {long_side} and resize.keep_ratio
    test_resize, = [t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize']
    assert test_resize.scale == ((2048, 1024) if 'cityscapes' in name else (1333, 800))
    assert cfg.data_root == data_root
    roots = {v for _, v in collect(cfg.train_dataloader, 'data_root')}
    assert roots == {v for _, v in collect(cfg.val_dataloader, 'data_root')} == {data_root}


def test_voc_and_cityscapes_metrics():
    voc = load('faster_rcnn_c4_detco_voc.py')
    assert voc.val_evaluator.type == 'VOCMetric' and voc.val_evaluator.eval_mode == '11points'
    # VOCMetric names each threshold AP{int(100 * iou)} and reports their mean as mAP
    assert [int(t * 100) for t in voc.val_evaluator.iou_thrs] == list(range(50, 100, 5))
    assert voc.train_dataloader.dataset.type == 'ConcatDataset'
    assert [d.ann_file for d in voc.train_dataloader.dataset.datasets] == [
        'VOC2007/ImageSets/Main/trainval.txt', 'VOC2012/ImageSets/Main/trainval.txt']
    # difficult objects and small boxes are training targets, as detectron2 loads VOC
    for voc_set in voc.train_dataloader.dataset.datasets:
        assert voc_set.type == 'DetectronVOCDataset'
        assert voc_set.filter_cfg == dict(filter_empty_gt=True)
    assert voc.val_dataloader.dataset.type == 'VOCDataset' and voc.val_dataloader.dataset.test_mode
    assert voc.val_dataloader.dataset.ann_file == 'VOC2007/ImageSets/Main/test.txt'
    cityscapes = load('mask_rcnn_detco_cityscapes.py')
    assert [m.type for m in cityscapes.val_evaluator] == ['CocoMetric', 'CityScapesMetric']
    assert cityscapes.model.roi_head.bbox_head.num_classes == 8
    assert cityscapes.auto_scale_lr.base_batch_size == 8


# --------------------------------------------------------------------------- the runner
def test_setting_overrides_reach_the_fields_built_from_them():
    cfg = load('mask_rcnn_c4_detco.py')
    cfg.merge_from_dict({'pretrained': '/ckpt/r50.pth', 'data_root': '/datasets/coco',
                         'norm_cfg.type': 'BN',
                         # a field overridden on its own keeps its value
                         'test_evaluator.ann_file': '/elsewhere/test.json'})
    report = apply_setting_overrides(cfg)
    assert report[0] == ("pretrained='/ckpt/r50.pth' applied to "
                         'model.backbone.init_cfg.checkpoint, '
                         'model.roi_head.shared_head.init_cfg.checkpoint')
    assert cfg.model.backbone.init_cfg.checkpoint == '/ckpt/r50.pth'
    assert cfg.model.roi_head.shared_head.init_cfg.checkpoint == '/ckpt/r50.pth'
    assert cfg.train_dataloader.dataset.data_root == '/datasets/coco'
    assert cfg.val_dataloader.dataset.ann_file == 'annotations/instances_val2017.json'
    assert cfg.val_evaluator.ann_file == '/datasets/coco/annotations/instances_val2017.json'
    assert cfg.test_evaluator.ann_file == '/elsewhere/test.json'
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert cfg.model.roi_head.shared_head.norm_cfg == dict(type='BN', requires_grad=True)
    assert apply_setting_overrides(load('mask_rcnn_c4_detco.py')) == []


@pytest.fixture(scope='module')
def detco_r50(tmp_path_factory):
    """A ResNet-50 DetCo checkpoint and its exported backbone (mmdet format)."""
    tmp = tmp_path_factory.mktemp('pretrained')
    full = write_detco_checkpoint(str(tmp / 'epoch_7.pth'))
    exported = str(tmp / 'backbone_mmdet.pth')
    export_backbone(full, exported)
    r18 = str(tmp / 'backbone_r18.pth')
    export_backbone(write_detco_checkpoint(str(tmp / 'r18.pth'), depth=18), r18)
    return dict(full=full, exported=exported, r18=r18,
                state=torch.load(exported, weights_only=True)['state_dict'])


@pytest.fixture(scope='module')
def datasets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('detection_data')
    return dict(coco=write_coco(str(tmp / 'coco')), voc=write_voc(str(tmp / 'VOCdevkit')),
                cityscapes=write_cityscapes(str(tmp / 'cityscapes')))


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 threads mostly wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_missing_checkpoint_and_data_are_one_message(tmp_path):
    cfg = load('mask_rcnn_detco.py')
    cfg.merge_from_dict({'work_dir': str(tmp_path), 'data_root': str(tmp_path / 'no_coco')})
    runner = RUNNERS.build(cfg)
    assert isinstance(runner, DetCoFinetuneRunner)
    with pytest.raises(FinetuneInputError) as e:
        runner.train()
    message = str(e.value)
    assert message.splitlines() == [
        f'cannot start the run ({cfg.filename}):',
        f'- pretrained backbone {PRETRAINED} (model.backbone.init_cfg) does not exist. Export it '
        f'from a DetCo checkpoint with',
        f'    python tools/model_converters/export_backbone.py DETCO_CKPT {PRETRAINED}',
        '  or use another file: --cfg-options pretrained=PATH',
        f'- train data: {tmp_path / "no_coco"}: directory does not exist '
        f'(train_dataloader.dataset.data_root); put the dataset there (MMDetection\'s layout) or '
        f'set --cfg-options data_root=DIR',
        f'- val data: {tmp_path / "no_coco"}/annotations/instances_val2017.json: file does not '
        f'exist (val_evaluator.ann_file); put the dataset there (MMDetection\'s layout) or set '
        f'--cfg-options data_root=DIR',
    ]
    assert not glob.glob(str(tmp_path / '*.pth'))


@pytest.mark.parametrize('which,expected', [
    ('full', r'epoch_7.pth does not fit model.backbone \(ResNet-50\): 265 of 265 ResNet '
             r'tensors missing \(e.g. conv1.weight\); it holds a ResNet under \[\'backbone\.\', '
             r"'encoder_k.module.0.'\] -- a full DetCo checkpoint\? Export its backbone: "
             r'python tools/model_converters/export_backbone.py DETCO_CKPT OUT.pth'),
    ('r18', r'backbone_r18.pth does not fit model.backbone \(ResNet-50\): 165 of 265 ResNet '
            r'tensors missing \(e.g. layer1.0.conv3.weight\); 23 with other shapes \(e.g. '
            r'layer1.0.conv1.weight: file \(64, 64, 3, 3\), model \(64, 64, 1, 1\)\); it holds a '
            r'ResNet-18'),
])
def test_checkpoints_that_do_not_fit_are_refused(which, expected, detco_r50, datasets, tmp_path):
    cfg = load('retinanet_detco.py')
    cfg.merge_from_dict({'work_dir': str(tmp_path), 'pretrained': detco_r50[which],
                         'data_root': datasets['coco']})
    runner = RUNNERS.build(cfg)
    with pytest.raises(FinetuneInputError, match=expected):
        runner.train()


def test_test_mode_does_not_need_the_pretrained_backbone(detco_r50, datasets, tmp_path):
    cfg = load('retinanet_detco.py')  # tools/test.py loads a fine-tuned detector instead
    cfg.merge_from_dict({'work_dir': str(tmp_path), 'data_root': str(tmp_path / 'nothing')})
    with pytest.raises(FinetuneInputError) as e:
        RUNNERS.build(cfg).test()
    assert 'pretrained' not in str(e.value) and '- test data: ' in str(e.value)


# --------------------------------------------------------------------------- fine-tuning runs
class Probe(Hook):
    """Keeps the backbone / shared head right after weight init, and the val metrics."""

    def before_train(self, runner):
        self.weights = {k: v.detach().clone() for k, v in runner.model.state_dict().items()
                        if k.startswith(('backbone.', 'roi_head.shared_head.'))}

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


def test_syncbn_config_runs_in_a_single_process(detco_r50, datasets, tmp_path, one_thread):
    """As shipped (SyncBN): outside a distributed run MMEngine turns SyncBN into BN."""
    cfg = load('retinanet_detco.py')
    cfg.merge_from_dict({'pretrained': detco_r50['exported'], 'data_root': datasets['coco']})
    cpu_finetune_overrides(cfg, tmp_path, bn=False)
    assert {n.type for _, n in collect(cfg.model, 'norm_cfg')} == {'SyncBN'}
    runner = RUNNERS.build(cfg)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in runner.model.modules())
    runner.train()
    assert runner.iter == 2


@pytest.mark.parametrize('name,data,metrics', [
    ('mask_rcnn_detco.py', 'coco', ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
                                    'coco/segm_mAP', 'coco/segm_mAP_50', 'coco/segm_mAP_75']),
    ('mask_rcnn_c4_detco.py', 'coco', ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP']),
    ('retinanet_detco.py', 'coco', ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75']),
    ('faster_rcnn_c4_detco_voc.py', 'voc', ['pascal_voc/mAP', 'pascal_voc/AP50',
                                            'pascal_voc/AP75']),
    ('mask_rcnn_detco_cityscapes.py', 'cityscapes', ['coco/bbox_mAP', 'coco/segm_mAP',
                                                     'cityscapes/mAP', 'cityscapes/AP@50']),
])
def test_fine_tune_from_the_exported_backbone(name, data, metrics, detco_r50, datasets,
                                              tmp_path, one_thread):
    cfg = load(name)
    cfg.merge_from_dict({'pretrained': detco_r50['exported'], 'data_root': datasets[data]})
    cpu_finetune_overrides(cfg, tmp_path)
    runner = RUNNERS.build(cfg)
    probe = Probe()
    runner.register_hook(probe)
    runner.train()

    exported = detco_r50['state']
    for key, value in exported.items():
        loaded = probe.weights.get(f'backbone.{key}')
        if loaded is not None:  # C4: the backbone stops after res4
            assert torch.equal(loaded, value), key
    assert f'backbone.{sorted(exported)[0]}' in probe.weights
    if name in C4:  # res5 of the RoI head from the same file; its extra norm is new
        shared = {k[len('roi_head.shared_head.'):]: v for k, v in probe.weights.items()
                  if k.startswith('roi_head.shared_head.')}
        assert {k for k in shared if not k.startswith('norm.')} == {
            k for k in exported if k.startswith('layer4.')}
        assert all(torch.equal(shared[k], exported[k]) for k in shared if k.startswith('layer'))
        assert torch.equal(shared['norm.weight'], torch.ones(2048))
    # BN instead of SyncBN everywhere, and it trained (the weights moved)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in runner.model.modules())
    assert not torch.equal(runner.model.state_dict()['backbone.conv1.weight'],
                           exported['conv1.weight'])
    for key in metrics:
        value = float(probe.metrics[key])
        assert value == -1 or 0 <= value <= 1, (key, value)


def test_precise_bn_sets_the_statistics_of_the_final_weights(detco_r50, datasets, tmp_path,
                                                             one_thread):
    """detectron2's PreciseBN: after the last iteration the BN running statistics are the mean
    batch statistics of the final weights on training batches, not the running average."""
    cfg = load('mask_rcnn_c4_detco.py')
    cfg.merge_from_dict({'pretrained': detco_r50['exported'], 'data_root': datasets['coco']})
    cpu_finetune_overrides(cfg, tmp_path)
    # lr 0 and one batch of all 4 training images, unflipped: every pass sees the same batch
    cfg.merge_from_dict({'optim_wrapper.optimizer.lr': 0.0, 'train_dataloader.batch_size': 4,
                         'train_dataloader.dataset.pipeline.3.prob': 0.0})
    runner = RUNNERS.build(cfg)
    runner.train()
    model = runner.model
    # the same 4 images (a second iterator over the loader would hang: MMDetection's
    # AspectRatioBatchSampler is not re-entrant)
    batch = model.data_preprocessor(next(runner.train_loop.dataloader_iterator), True)
    with torch.no_grad():
        stem = model.backbone.conv1(batch['inputs'])
    batch_mean = stem.mean(dim=(0, 2, 3))
    exported = detco_r50['state']['bn1.running_mean']
    assert not torch.allclose(batch_mean, exported, atol=1e-3)
    # without PreciseBN: 0.9^2 of the exported statistics would remain after 2 iterations
    assert torch.allclose(model.backbone.bn1.running_mean, batch_mean, atol=1e-5)


def test_cityscapes_evaluation_runs_on_this_numpy():
    """cityscapesscripts 2.x (CityScapesMetric) calls np.in1d, which numpy 2.4 removed;
    detco_mm.stack_fixes restores it."""
    from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as cs_eval
    gt = np.array([[0, 1], [2, 3]])
    in_set = cs_eval.np.in1d(gt, [1, 3]).reshape(gt.shape).tolist()
    assert in_set == [[False, True], [False, True]]


def test_mim_train_mmdet(detco_r50, datasets, subprocess_env, tmp_path):
    """`mim train mmdet configs/finetune/mask_rcnn_detco.py` as a user runs it, plus overrides."""
    mim = [osp.join(osp.dirname(sys.executable), 'mim'), 'train', 'mmdet',
           'configs/finetune/mask_rcnn_detco.py', '--work-dir']

    # no checkpoint, no data: one message naming both and how to set them, before training
    result = subprocess.run(mim + [str(tmp_path / 'missing'), '--cfg-options',
                                   f'data_root={tmp_path}/no_coco/'],
                            env=subprocess_env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'FinetuneInputError: cannot start the run' in log
    assert f'pretrained backbone {PRETRAINED} (model.backbone.init_cfg) does not exist' in log
    assert f'- train data: {tmp_path}/no_coco/: directory does not exist' in log
    assert log.count('--cfg-options data_root=DIR') == 2 and 'Iter(train)' not in log

    # lr 0: the backbone stays exactly what was loaded, so the checkpoint shows what was loaded
    work_dir = tmp_path / 'work'
    options = [f'pretrained={detco_r50["exported"]}', f'data_root={datasets["coco"]}',
               'norm_cfg.type=BN', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'optim_wrapper.optimizer.lr=0.0',
               'train_dataloader.dataset.pipeline.2.scales=[(256,128)]',
               'val_dataloader.dataset.pipeline.1.scale=(256,128)',
               'test_dataloader.dataset.pipeline.1.scale=(256,128)',
               'model.train_cfg.rpn_proposal.nms_pre=256',
               'model.train_cfg.rpn_proposal.max_per_img=64',
               'model.train_cfg.rcnn.sampler.num=32', 'model.test_cfg.rpn.nms_pre=256',
               'model.test_cfg.rpn.max_per_img=32', 'model.test_cfg.rcnn.max_per_img=10',
               'model.test_cfg.rcnn.score_thr=0.0', 'default_hooks.logger.interval=1']
    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{part}.num_workers=0', f'{part}.persistent_workers=False']
    result = subprocess.run(mim + [str(work_dir), '--cfg-options'] + options,
                            env=subprocess_env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert 'Training finished successfully' in log
    assert (f"DetCoFinetuneRunner: pretrained='{detco_r50['exported']}' applied to "
            f'model.backbone.init_cfg.checkpoint') in log
    assert f'load model from: {detco_r50["exported"]}' in log
    assert 'Iter(train) [2/2]' in log
    assert 'PreciseBN: BN statistics of the current weights over' in log
    for key in ('coco/bbox_mAP:', 'coco/bbox_mAP_50:', 'coco/segm_mAP:', 'coco/segm_mAP_75:'):
        assert key in log
    state = torch.load(work_dir / 'iter_2.pth', weights_only=True)['state_dict']
    for key, value in detco_r50['state'].items():
        if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
            assert torch.equal(state[f'backbone.{key}'], value), key


TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')


def test_tools_train_reports_missing_inputs(subprocess_env, tmp_path):
    result = subprocess.run(
        [sys.executable, TRAIN, 'configs/finetune/retinanet_detco.py', '--work-dir',
         str(tmp_path), '--cfg-options', f'data_root={tmp_path}/none/'],
        env=subprocess_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert f'pretrained backbone {PRETRAINED} (model.backbone.init_cfg) does not exist' in log
    assert f'- train data: {tmp_path}/none/: directory does not exist' in log
