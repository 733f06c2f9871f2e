# Mask R-CNN R50-C4 on COCO (train2017 -> val2017) as the official coco_R_50_C4_*_moco.yaml:
# res2-res4 are the backbone, res5 plus one extra SyncBN the RoI head (Res5ROIHeadsExtraNorm),
# both from the DetCo weights; SyncBN everywhere; train short side one of 640-800 (step 32),
# long side at most 1200 (MAX_SIZE_TRAIN: 1200 of the *_moco.yaml); test 800 / 1333. The
# configs add a schedule.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50-caffe-c4.py',
    'mmdet::_base_/datasets/coco_instance.py',
    './detco_finetune.py',
]
custom_imports = dict(imports=_base_.detco_c4_imports, allow_failed_imports=False)

norm_cfg = _base_.detco_syncbn
model = dict(
    data_preprocessor=dict(_base_.detco_data_preprocessor, pad_mask=True),
    backbone=_base_.detco_backbone,
    roi_head=dict(shared_head=_base_.detco_c4_shared_head))

# MMDetection's train pipeline with detectron2's multi-scale training in place of its fixed
# Resize (step 2)
train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(type='RandomChoiceResize',
         scales=[(1200, short) for short in range(640, 801, 32)],
         keep_ratio=True),
    *_base_.train_pipeline[3:],
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
