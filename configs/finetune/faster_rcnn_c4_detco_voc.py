# DetCo -> PASCAL VOC detection (paper Table 6) as the official pascal_voc_R_50_C4_24k_moco.yaml:
# Faster R-CNN R50-C4, VOC07+12 trainval -> VOC07 test, 8 GPUs x 2 images, lr 0.02, 24k
# iterations, warm-up 100, lr steps at 18k and 22k, train short side one of 480-800 (step 32,
# long side at most 1333), test 800 / 1333, SyncBN everywhere, nothing frozen. res2-res4 are
# the backbone, res5 plus one extra SyncBN (Res5ROIHeadsExtraNorm) the RoI head; both start from
# the DetCo weights. "Difficult" objects are training targets and ignored by the evaluation, as
# detectron2 loads and evaluates VOC (DetectronVOCDataset); no box is dropped for its size.
# Metrics as in the paper: pascal_voc/mAP is the COCO-style AP (VOC07 11-point AP averaged over
# IoU 0.50:0.05:0.95), plus pascal_voc/AP50 and pascal_voc/AP75.
#   mim train mmdet configs/finetune/faster_rcnn_c4_detco_voc.py -l pytorch -G 8
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py',
    'mmdet::_base_/datasets/voc0712.py',
    '_base_/detco_finetune.py',
]
custom_imports = dict(imports=_base_.detco_c4_imports, allow_failed_imports=False)

norm_cfg = _base_.detco_syncbn
model = dict(
    data_preprocessor=_base_.detco_data_preprocessor,
    backbone=_base_.detco_backbone,
    roi_head=dict(shared_head=_base_.detco_c4_shared_head, bbox_head=dict(num_classes=20)))

# MMDetection's train pipeline with detectron2's multi-scale training in place of its fixed
# Resize (step 2)
train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(type='RandomChoiceResize',
         scales=[(1333, short) for short in range(480, 801, 32)],
         keep_ratio=True),
    *_base_.train_pipeline[3:],
]
voc_trainval = dict(
    type='DetectronVOCDataset',
    data_root=_base_.data_root,
    filter_cfg=dict(filter_empty_gt=True),
    pipeline=train_pipeline,
    backend_args=_base_.backend_args)
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # VOC2007 and VOC2012 differ only in the `dataset_type` meta; ignoring it keeps one
        # metainfo dict for the concatenation (as MMDetection's voc0712 base does)
        ignore_keys=['dataset_type'],
        datasets=[
            dict(voc_trainval, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/')),
            dict(voc_trainval, ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/')),
        ]))

test_pipeline = [
    *_base_.test_pipeline[:1],
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),  # MMDetection's VOC base: 1000x600
    *_base_.test_pipeline[2:],
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 24000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[18000, 22000],
         gamma=0.1)
]

val_evaluator = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator
