# DetCo -> COCO Mask R-CNN R50-C4 1x (paper Table 4, C4 columns): res2-res4 are the backbone,
# res5 is the RoI head (MMSelfSup's ResLayerExtraNorm: res5 + one extra SyncBN, MoCo's
# Res5ROIHeadsExtraNorm); both start from the DetCo weights. 8 GPUs x 2 images, lr 0.02,
# 12 epochs, multi-scale training (short side 640-800), SyncBN everywhere, nothing frozen.
#   mim train mmdet configs/finetune/mask_rcnn_c4_detco.py -l pytorch -G 8
_base_ = [
    'mmselfsup::benchmarks/mmdetection/coco/mask-rcnn_r50-c4_ms-1x_coco.py',
    '_base_/detco_finetune.py',
]
custom_imports = dict(
    imports=_base_.detco_imports + ['mmselfsup.models.utils.res_layer_extra_norm'],
    allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(_base_.detco_data_preprocessor, pad_mask=True),
    backbone=_base_.detco_backbone,
    # keys layer4.* of the exported backbone; the extra norm starts at weight 1, bias 0
    roi_head=dict(shared_head=dict(
        init_cfg=dict(type='Pretrained', checkpoint=_base_.pretrained))))
