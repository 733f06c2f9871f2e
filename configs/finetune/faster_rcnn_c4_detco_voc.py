# DetCo -> PASCAL VOC detection (paper Table 6): Faster R-CNN R50-C4, VOC07+12 trainval -> VOC07
# test, 8 GPUs x 2 images, lr 0.02, 24k iterations with steps at 18k and 22k, multi-scale
# training (short side 480-800), SyncBN everywhere, nothing frozen. res2-res4 are the backbone,
# res5 plus one extra SyncBN (MMSelfSup's ResLayerExtraNorm, MoCo's Res5ROIHeadsExtraNorm) the
# RoI head; both start from the DetCo weights. Metrics as in the paper: pascal_voc/mAP is the
# COCO-style AP (VOC07 11-point AP averaged over IoU 0.50:0.05:0.95), plus pascal_voc/AP50 and
# pascal_voc/AP75.
#   mim train mmdet configs/finetune/faster_rcnn_c4_detco_voc.py -l pytorch -G 8
# Built on MMDetection's 18k VOC config: MMSelfSup 1.0.0's MoCo benchmark for this setting
# leaves the caffe-style BGR normalisation in the model, builds its VOC datasets in the mmselfsup
# registry scope (KeyError: VOCDataset) and inherits a caffe ImageNet res5 for the RoI head.
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py',
    '_base_/detco_finetune.py',
]
custom_imports = dict(
    imports=_base_.detco_imports + ['mmselfsup.models.utils.res_layer_extra_norm'],
    allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=_base_.detco_data_preprocessor,
    backbone=_base_.detco_backbone,
    roi_head=dict(shared_head=dict(
        type='ResLayerExtraNorm',
        style='pytorch',
        norm_cfg=norm_cfg,
        norm_eval=False,
        # keys layer4.* of the exported backbone; the extra norm starts at weight 1, bias 0
        init_cfg=dict(type='Pretrained', checkpoint=_base_.pretrained))))

# VOC2007 and VOC2012 differ only in the `dataset_type` meta; ignoring it keeps one metainfo
# dict for the concatenation (as MMDetection's voc0712 base does) instead of a list of both
train_dataloader = dict(dataset=dict(ignore_keys=['dataset_type']))

max_iters = 24000
train_cfg = dict(max_iters=max_iters, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[18000, 22000],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=2000))

val_evaluator = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator
