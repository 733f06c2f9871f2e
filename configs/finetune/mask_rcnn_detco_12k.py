# DetCo -> COCO Mask R-CNN R50-FPN (paper Table 3), the paper's short schedule: 12k iterations, lr
# steps at 9k and 11k (official *_12k_moco.yaml), 8 GPUs x 2 images. Detector, data and protocol:
# _base_/mask_rcnn_r50_fpn_coco.py.
#   mim train mmdet configs/finetune/mask_rcnn_detco_12k.py -l pytorch -G 8
_base_ = [
    '_base_/mask_rcnn_r50_fpn_coco.py',
    '_base_/schedules/detectron2_12k.py',
]
