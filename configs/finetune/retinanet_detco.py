# DetCo -> COCO RetinaNet R50-FPN (paper Table 5, 90k), 1x: 90k iterations, lr steps at 60k and
# 80k (official *_1x_moco.yaml), 8 GPUs x 2 images. Detector, data and protocol:
# _base_/retinanet_r50_fpn_coco.py.
#   mim train mmdet configs/finetune/retinanet_detco.py -l pytorch -G 8
_base_ = [
    '_base_/retinanet_r50_fpn_coco.py',
    '_base_/schedules/detectron2_1x.py',
]
