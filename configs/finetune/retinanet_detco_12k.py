# DetCo -> COCO RetinaNet R50-FPN, the paper's short schedule (Table 5, 12k): 12k iterations at
# 8 GPUs x 2 images, lr 0.01, steps at 8k and 10.67k (detectron2's 1x steps scaled; the paper
# gives none). Everything else as retinanet_detco.py.
_base_ = './retinanet_detco.py'

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
