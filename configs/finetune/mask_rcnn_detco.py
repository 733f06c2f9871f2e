# DetCo -> COCO Mask R-CNN R50-FPN 1x (paper Table 4, FPN columns): train2017 -> val2017,
# 8 GPUs x 2 images, SGD lr 0.02, 12 epochs (~90k iterations, steps at epochs 8 and 11),
# multi-scale training (short side 640-800), SyncBN in backbone, FPN and heads (4conv1fc box
# head), nothing frozen. MMSelfSup's benchmark config encodes that protocol; this file adds the
# DetCo backbone and the settings of _base_/detco_finetune.py.
#   mim train mmdet configs/finetune/mask_rcnn_detco.py -l pytorch -G 8
_base_ = [
    'mmselfsup::benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py',
    '_base_/detco_finetune.py',
]
custom_imports = dict(imports=_base_.detco_imports, allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(_base_.detco_data_preprocessor, pad_mask=True),
    backbone=_base_.detco_backbone)
