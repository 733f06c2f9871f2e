# DetCo's four views per image (paper sec. 3.2): two global views with the MoCo v2
# augmentation at 224 and two jigsaw patch sets (a 255 crop, the same photometric
# augmentation, a 3x3 grid of 85 px cells, a random 64 px patch in each, shuffled).
# Any image folder works: override data_root / ann_file / data_prefix of the dataset.
# ImageFolderDataset (detco_mm/datasets/image_folder.py) reads meta/train.txt lines with or
# without a label; with ann_file='' it uses every image under data_root/data_prefix.img_path,
# flat or nested (e.g. COCO's train2017/ or a folder of your own photos).
# Loading converts every decodable image to 3-channel uint8 BGR and skips (with a warning naming
# the file) those it cannot decode; strict=True, or tools/train.py --strict-data, stops instead.
# SeedAugmentation + ResumableSampler seed each sample's augmentation from (seed, epoch,
# index), so a resumed run sees the same views as an uninterrupted one
# (detco_mm/datasets/sample_seeding.py).
# The augmentations are MoCo v2's, computed with OpenCV instead of PIL (MMSelfSup's MoCo v2
# config uses PIL): 2-9x faster per transform, which DetCo needs with four views per image.
dataset_type = 'ImageFolderDataset'
data_root = 'data/imagenet/'

photometric_augmentation = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1,
                backend='cv2')
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomGaussianBlurCV2', sigma_min=0.1, sigma_max=2.0, prob=0.5),
]
global_view_pipeline = [
    dict(type='RandomResizedCrop', size=224, scale=(0.2, 1.), backend='cv2'),
    *photometric_augmentation,
    dict(type='RandomFlip', prob=0.5),
]
local_view_pipeline = [
    dict(type='RandomResizedCrop', size=255, scale=(0.6, 1.), backend='cv2'),
    *photometric_augmentation,
    dict(type='JigsawPatches', grid_size=3, patch_size=64, shuffle=True),
]
train_pipeline = [
    dict(type='SeedAugmentation'),
    dict(type='RobustLoadImageFromFile', strict=False),
    dict(
        type='MultiView',
        num_views=[2, 2],
        transforms=[global_view_pipeline, local_view_pipeline]),
    dict(type='PackDetCoInputs', meta_keys=['img_path'])
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    drop_last=True,  # the queues need a constant global batch
    persistent_workers=True,
    sampler=dict(type='ResumableSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix=dict(img_path='train/'),
        pipeline=train_pipeline))
