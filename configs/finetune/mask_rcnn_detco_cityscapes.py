# DetCo -> Cityscapes instance segmentation (paper Table 7) as the official
# Cityscapes/mask_rcnn_R_50_FPN_moco.yaml: Mask R-CNN R50-FPN (8 classes), fine train -> val,
# 8 GPUs x 1 image, lr 0.01, 24k iterations, lr step at 18k, train short side one of 800-1024
# (step 32, long side at most 2048), test 1024 / 2048; SyncBN in backbone and FPN, box and mask
# heads without norm (as the COCO FPN protocol), nothing frozen. Unlike MMDetection's
# Cityscapes config it does not start from a COCO detector: only the DetCo backbone is
# pre-trained. Metrics: COCO-style bbox / segm AP and the official Cityscapes mask AP / AP50.
# Data: MMDetection's layout, instance json made by its tools/dataset_converters/cityscapes.py.
#   mim train mmdet configs/finetune/mask_rcnn_detco_cityscapes.py -l pytorch -G 8
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/cityscapes_instance.py',
    '_base_/detco_finetune.py',
]

norm_cfg = _base_.detco_syncbn
model = dict(
    data_preprocessor=dict(_base_.detco_data_preprocessor, pad_mask=True),
    backbone=_base_.detco_backbone,
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(bbox_head=dict(num_classes=8), mask_head=dict(num_classes=8)))

# MMDetection's train pipeline with detectron2's multi-scale training in place of its fixed
# Resize (step 2)
train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(type='RandomChoiceResize',
         scales=[(2048, short) for short in range(800, 1025, 32)],
         keep_ratio=True),
    *_base_.train_pipeline[3:],
]
train_dataloader = dict(
    batch_size=1,  # x 8 GPUs
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset=dict(pipeline=train_pipeline)))

max_iters = 24000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(base_batch_size=8)  # lr 0.01 is for 8 images per iteration
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[18000],
         gamma=0.1)
]
