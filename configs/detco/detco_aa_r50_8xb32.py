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
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='SeedAugmentation'),
        dict(type='RobustLoadImageFromFile', strict=False),
        dict(
            type='MultiView',
            num_views=[2, 2],
            transforms=[global_view_pipeline, local_view_pipeline]),
        dict(type='PackDetCoInputs', meta_keys=['img_path'])
    ]))
