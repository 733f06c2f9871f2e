# DetCo -> Cityscapes instance segmentation (paper Table 7): Mask R-CNN R50-FPN, fine train ->
# val, 8 GPUs x 1 image, lr 0.01, 24k iterations with a step at 18k, multi-scale training (short
# side 800-1024), as detectron2's Cityscapes config; SyncBN in backbone, FPN and heads (4conv1fc
# box head, as the COCO FPN protocol), nothing frozen. Unlike MMDetection's Cityscapes config it
# does not start from a COCO detector (load_from=None): only the DetCo backbone is pre-trained.
# Metrics: COCO-style bbox / segm AP and the official Cityscapes mask AP / AP50.
# Data: MMDetection's layout, instance json made by its tools/dataset_converters/cityscapes.py.
#   mim train mmdet configs/finetune/mask_rcnn_detco_cityscapes.py -l pytorch -G 8
_base_ = [
    'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py',
    '_base_/detco_finetune.py',
]
custom_imports = dict(imports=_base_.detco_imports, allow_failed_imports=False)
load_from = None

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(_base_.detco_data_preprocessor, pad_mask=True),
    # the base sets init_cfg=None (it loads a whole COCO detector instead): replace, not merge
    backbone=dict(
        _base_.detco_backbone, init_cfg=dict(_delete_=True, **_base_.detco_backbone.init_cfg)),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(2048, short) for short in range(800, 1025, 32)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]

max_iters = 24000
train_dataloader = dict(
    batch_size=1,  # x 8 GPUs
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset=dict(pipeline=train_pipeline)))
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=8000)
optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(base_batch_size=8)  # lr 0.01 is for 8 images per iteration
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[18000],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=8000))
log_processor = dict(by_epoch=False)
