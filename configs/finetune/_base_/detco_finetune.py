# What every DetCo fine-tuning config shares: the paper's downstream protocol (sec. 4), i.e.
# MoCo's detectron2 protocol as the official DetCo configs (xieenze/DetCo,
# benchmarks/detection/configs/*_moco.yaml) set it; README "Downstream" lists each setting
# beside the official one.
# - the detector starts from the exported DetCo ResNet-50: pytorch-style (stride in the 3x3
#   conv, detectron2's STRIDE_IN_1X1: False), SyncBN, nothing frozen (FREEZE_AT: 0,
#   norm_eval=False), RGB input normalised with the ImageNet mean / std of pre-training;
# - SGD, momentum 0.9, weight decay 1e-4 except on norm layers (detectron2's
#   WEIGHT_DECAY_NORM: 0); the iteration-based schedules (warm-up, steps) are in
#   _base_/schedules/;
# - PreciseBN before each evaluation (TEST.PRECISE_BN.ENABLED: True, 200 training batches);
# - logs every 20 iterations (detectron2's period), to the text log and TensorBoard.
#
# The detector bases of this folder list this file in `_base_` next to MMDetection's model and
# dataset bases (`mmdet::_base_/models/...`, `mmdet::_base_/datasets/...`), so it defines no name
# those define; they pick up the pieces below as `_base_.detco_*`. The configs add a schedule.
_base_ = 'mmdet::_base_/default_runtime.py'

# THE pre-trained backbone: a file written by tools/model_converters/export_backbone.py (mmdet
# format). Use another one with `--cfg-options pretrained=PATH`.
pretrained = 'work_dirs/detco_r50_8xb32/backbone_mmdet.pth'

# DetCoFinetuneRunner (detco_mm/engine/runner/finetune_runner.py, registered by importing
# detco_mm) passes `--cfg-options pretrained=`, `data_root=` and `norm_cfg=` on to the fields
# built from them (MMEngine resolves config variables when it parses the file) and checks
# checkpoint and data before training starts.
runner_type = 'DetCoFinetuneRunner'
detco_imports = ['detco_mm']
custom_imports = dict(imports=detco_imports, allow_failed_imports=False)

detco_syncbn = dict(type='SyncBN', requires_grad=True)
detco_data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32)
detco_backbone = dict(
    type='ResNet',
    depth=50,
    style='pytorch',
    frozen_stages=-1,
    norm_eval=False,
    norm_cfg=detco_syncbn,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))
# the C4 RoI head: res5 plus one extra SyncBN after it (MMSelfSup's ResLayerExtraNorm, the
# official Res5ROIHeadsExtraNorm), pytorch-style, initialised from layer4.* of the backbone
# file (the extra norm starts at weight 1, bias 0)
detco_c4_imports = detco_imports + ['mmselfsup.models.utils.res_layer_extra_norm']
detco_c4_shared_head = dict(
    type='ResLayerExtraNorm',
    style='pytorch',
    norm_cfg=detco_syncbn,
    norm_eval=False,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.))
# the lrs are for 16 images per iteration (8 GPUs x 2); `--auto-scale-lr` rescales them
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='DetectronPreciseBNHook', num_iters=200)]

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
