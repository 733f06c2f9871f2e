# DetCo -> COCO Mask R-CNN R50-C4 (paper Table 4, C4 columns), 1x: 90k iterations, lr steps at 60k
# and 80k (official *_1x_moco.yaml), 8 GPUs x 2 images. Detector, data and protocol:
# _base_/mask_rcnn_r50_c4_coco.py.
#   mim train mmdet configs/finetune/mask_rcnn_c4_detco.py -l pytorch -G 8
_base_ = [
    '_base_/mask_rcnn_r50_c4_coco.py',
    '_base_/schedules/detectron2_1x.py',
]
