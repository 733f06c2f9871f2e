# DetCo, ResNet-50, 800 epochs (paper table 6).
_base_ = 'detco_r50_8xb32.py'

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=800, by_epoch=True, begin=0, end=800)
]
train_cfg = dict(max_epochs=800)
