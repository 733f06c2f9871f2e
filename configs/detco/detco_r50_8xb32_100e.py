# DetCo, ResNet-50, 100 epochs (paper table 6).
_base_ = 'detco_r50_8xb32.py'

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)
]
train_cfg = dict(max_epochs=100)
