# MoCo v2 for `make demo` (tools/demo.py): the baseline DetCo must beat, at the demo's budget.
# Everything but the model is detco_r18_demo.py's: the same crops, the same global views (crop,
# photometric augmentation, flip), batch, queue length, key-encoder momentum, optimizer (fused
# SGD, the same lr and weight decay), schedule, epochs and seed. The model is MMSelfSup's MoCo
# v2 with ResNet-18: res5 only, one global MLP head, one queue; two views per image instead of
# DetCo's two views plus two jigsaw patch sets.
#   python tools/train.py configs/detco/mocov2_r18_demo.py
_base_ = 'detco_r18_demo.py'

model = dict(
    _delete_=True,
    type='MoCo',
    queue_len=1024,
    feat_dim=128,
    momentum=_base_.model.momentum,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, in_channels=3, out_indices=[4],
                  norm_cfg=dict(type='BN')),
    neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=512, out_channels=128,
              with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='mmcls.CrossEntropyLoss'),
              temperature=0.2))

train_pipeline = [  # the base's loading steps, then two global views
    *_base_.train_pipeline[:2],
    dict(type='MultiView', num_views=2, transforms=[_base_.global_view_pipeline]),
    dict(type='PackSelfSupInputs', meta_keys=['img_path'])
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
