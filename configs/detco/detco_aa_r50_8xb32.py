# DetCo+AA (paper tables 3-5): the 200-epoch setting with AutoAugment's ImageNet policy added
# to both the global and the local view pipelines, right after the random crop. Everything else
# is configs/detco/_base_/datasets/imagenet_detco.py's pipeline.
_base_ = 'detco_r50_8xb32.py'

# _scope_ makes AutoAugment build its sub-transforms (Posterize, ...) from mmcls's registry.
auto_augment = dict(type='mmcls.AutoAugment', policies='imagenet', _scope_='mmcls')
color_jitter = dict(
    type='RandomApply',
    transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
             backend='cv2')
    ],
    prob=0.8)
grayscale = dict(
    type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
blur = dict(type='RandomGaussianBlurCV2', sigma_min=0.1, sigma_max=2.0, prob=0.5)

global_view_pipeline = [
    dict(type='RandomResizedCrop', size=224, scale=(0.2, 1.), backend='cv2'),
    auto_augment, color_jitter, grayscale, blur,
    dict(type='RandomFlip', prob=0.5),
]
local_view_pipeline = [
    dict(type='RandomResizedCrop', size=255, scale=(0.6, 1.), backend='cv2'),
    auto_augment, color_jitter, grayscale, blur,
    dict(type='JigsawPatches', grid_size=3, patch_size=64, shuffle=True),
]
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
