# detectron2's 2x schedule of the official DetCo / MoCo COCO configs, at 16 images per
# iteration: 180000 iterations, linear warm-up from 0.001 x lr over the first 1000, lr x0.1 at
# 120000 and 160000; one evaluation, after the last iteration (EVAL_PERIOD: 0).
max_iters = 180000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[120000, 160000],
         gamma=0.1)
]
