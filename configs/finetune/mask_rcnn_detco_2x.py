# DetCo -> COCO Mask R-CNN R50-FPN (paper Table 13), 2x: 180k iterations, lr steps at 120k and
# 160k (official *_2x_moco.yaml), 8 GPUs x 2 images. Detector, data and protocol:
# _base_/mask_rcnn_r50_fpn_coco.py.
#   mim train mmdet configs/finetune/mask_rcnn_detco_2x.py -l pytorch -G 8
_base_ = [
    '_base_/mask_rcnn_r50_fpn_coco.py',
    '_base_/schedules/detectron2_2x.py',
]
