# DetCo -> COCO Mask R-CNN R50-FPN, the paper's short schedule (Table 3): 12k iterations at
# 8 GPUs x 2 images. The paper gives no lr steps for it; we scale detectron2's 1x steps
# (60k, 80k of 90k) to 8k and 10.67k. Everything else as mask_rcnn_detco.py.
_base_ = './mask_rcnn_detco.py'

max_iters = 12000
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[8000, 10667],
         gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000))
log_processor = dict(by_epoch=False)
