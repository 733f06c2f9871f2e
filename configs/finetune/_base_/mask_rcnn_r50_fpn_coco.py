# Mask R-CNN R50-FPN on COCO (train2017 -> val2017) as the official coco_R_50_FPN_*_moco.yaml:
# SyncBN in backbone and FPN only (FPN.NORM: SyncBN); box head 2 shared fc, mask head 4 convs,
# both without norm (MMDetection's Shared2FCBBoxHead / FCNMaskHead, detectron2's
# FastRCNNConvFCHead NUM_FC: 2 / MaskRCNNConvUpsampleHead NUM_CONV: 4); train short side one of
# 640-800 (step 32), long side at most 1333; test 800 / 1333. The configs add a schedule.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    './detco_finetune.py',
]

norm_cfg = _base_.detco_syncbn
model = dict(
    data_preprocessor=dict(_base_.detco_data_preprocessor, pad_mask=True),
    backbone=_base_.detco_backbone,
    neck=dict(norm_cfg=norm_cfg))

# MMDetection's train pipeline with detectron2's multi-scale training in place of its fixed
# Resize (step 2)
train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(type='RandomChoiceResize',
         scales=[(1333, short) for short in range(640, 801, 32)],
         keep_ratio=True),
    *_base_.train_pipeline[3:],
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
