# DetCo -> COCO RetinaNet R50-FPN, 12k schedule, trained on 2 % of the train2017 images (paper
# Tables 10-12; subset and schedule choices: _base_/coco_semi.py).
#   mim train mmdet configs/finetune/semi/retinanet_detco_semi_2pct.py -l pytorch -G 8
_base_ = ['../retinanet_detco_12k.py', '_base_/coco_semi.py']
train_dataloader = dict(dataset=dict(ann_file=_base_.semi_ann_file.format(percent=2)))
