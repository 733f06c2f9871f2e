# DetCo -> COCO RetinaNet R50-FPN (paper Table 5, 180k), 2x: 180k iterations, lr steps at 120k and
# 160k (official *_2x_moco.yaml), 8 GPUs x 2 images. Detector, data and protocol:
# _base_/retinanet_r50_fpn_coco.py.
#   mim train mmdet configs/finetune/retinanet_detco_2x.py -l pytorch -G 8
_base_ = [
    '_base_/retinanet_r50_fpn_coco.py',
    '_base_/schedules/detectron2_2x.py',
]
