# DetCo+AA (paper tables 3-5): the 200-epoch setting with AutoAugment's ImageNet policy added
# to both the global and the local view pipelines, right after the random crop. Everything else
# is configs/detco/_base_/datasets/imagenet_detco.py's pipeline.
_base_ = 'detco_r50_8xb32.py'

# _scope_ makes AutoAugment build its sub-transforms (Posterize, ...) from mmcls's registry.
auto_augment = dict(type='mmcls.AutoAugment', policies='imagenet', _scope_='mmcls')

# the base's view pipelines with AutoAugment after their crop (index 0)
global_view_pipeline = [
    _base_.global_view_pipeline[0], auto_augment, *_base_.global_view_pipeline[1:]]
local_view_pipeline = [
    _base_.local_view_pipeline[0], auto_augment, *_base_.local_view_pipeline[1:]]
train_pipeline = [  # the base's, with these views in its MultiView step (index 2)
    *_base_.train_pipeline[:2],
    dict(_base_.train_pipeline[2], transforms=[global_view_pipeline, local_view_pipeline]),
    *_base_.train_pipeline[3:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
