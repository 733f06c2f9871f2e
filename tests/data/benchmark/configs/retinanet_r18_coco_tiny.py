# Shaped like configs/finetune/retinanet_detco*.py (RetinaNet R-FPN on COCO, iteration-based
# schedule, pre-trained backbone in `pretrained` and model.backbone.init_cfg), shrunk for CPU:
# ResNet-18, 64 px images, 2 iterations, evaluation at the end.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
dataset_type = 'CocoDataset'
data_root = 'TINY_DATA_ROOT/'
metainfo = dict(classes=('person', 'car'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), metainfo=metainfo,
                 filter_cfg=dict(filter_empty_gt=True, min_size=8), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), metainfo=metainfo, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
custom_imports = dict(imports=['detco_mm'], allow_failed_imports=False)
pretrained = 'TINY_PRETRAINED'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    bbox_head=dict(num_classes=2, in_channels=32, feat_channels=32, stacked_convs=1),
    test_cfg=dict(score_thr=0.0))
val_evaluator = dict(type='CocoMetric',
                     ann_file='TINY_DATA_ROOT/annotations/instances_val2017.json',
                     metric='bbox')
test_evaluator = val_evaluator
max_iters = 2
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
                        milestones=[max_iters])]
optim_wrapper = dict(optimizer=dict(lr=0.001))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
