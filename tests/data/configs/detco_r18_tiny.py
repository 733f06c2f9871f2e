# The flagship DetCo config shrunk for CPU tests: ResNet-18, 32 px global views, 3x3 patches
# of 16 px from a 51 px crop, batch 4, queues of 64 keys. Same components, same pipeline order
# as configs/detco/_base_/datasets/imagenet_detco.py.
# The data root comes from the test (--cfg-options train_dataloader.dataset.data_root=...).
_base_ = '../../../configs/detco/detco_r50_8xb32.py'

model = dict(
    queue_len=64,
    feat_dim=16,
    backbone=dict(depth=18),
    neck=dict(in_channels=(64, 128, 256, 512), hid_channels=32, out_channels=16))

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/tiny',
        pipeline=[
            dict(type='SeedAugmentation'),
            dict(type='RobustLoadImageFromFile', strict=False),
            dict(
                type='MultiView',
                num_views=[2, 2],
                transforms=[
                    [
                        dict(type='RandomResizedCrop', size=32, scale=(0.2, 1.),
                             backend='cv2'),
                        dict(type='RandomApply', transforms=[
                            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                 saturation=0.4, hue=0.1, backend='cv2')], prob=0.8),
                        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
                             channel_weights=(0.114, 0.587, 0.2989)),
                        dict(type='RandomGaussianBlurCV2', sigma_min=0.1, sigma_max=2.0, prob=0.5),
                        dict(type='RandomFlip', prob=0.5),
                    ],
                    [
                        dict(type='RandomResizedCrop', size=51, scale=(0.6, 1.),
                             backend='cv2'),
                        dict(type='RandomApply', transforms=[
                            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                 saturation=0.4, hue=0.1, backend='cv2')], prob=0.8),
                        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
                             channel_weights=(0.114, 0.587, 0.2989)),
                        dict(type='RandomGaussianBlurCV2', sigma_min=0.1, sigma_max=2.0, prob=0.5),
                        dict(type='JigsawPatches', grid_size=3, patch_size=16, shuffle=True),
                    ],
                ]),
            dict(type='PackDetCoInputs', meta_keys=['img_path'])
        ]))

param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
