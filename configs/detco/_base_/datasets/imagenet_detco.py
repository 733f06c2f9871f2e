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
# The augmentations are MoCo v2's, computed faster than with PIL (MMSelfSup's MoCo v2 config
# uses PIL), which DetCo needs with four views per image: colour jitter and blur with OpenCV,
# the crop's resize with torch's port of PIL's antialiased bilinear resize
# (AntialiasedRandomResizedCrop: MMSelfSup's crop boxes, PIL's pixels within 1 grey level;
# OpenCV's bilinear resize would alias, 2.7 grey levels off PIL on average at 512 -> 224).
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
    dict(type='AntialiasedRandomResizedCrop', size=224, scale=(0.2, 1.)),
    *photometric_augmentation,
    dict(type='RandomFlip', prob=0.5),
]
# Horizontal flip: the patch sets are not flipped. This is a judgement: we found no statement
# in the paper that clearly says the patches are flipped (it describes the patch set by its
# crop, grid, patch size and shuffle); one reimplementation flips them. A flip would mainly add
# mirror invariance between the two patch sets (l2l): l2g already pairs the patches with the
# key's global view, flipped half of the time, and the shuffle scrambles the layout a flip
# would mirror. To flip them, insert dict(type='RandomFlip', prob=0.5) before JigsawPatches
# (it mirrors the whole 255 crop: every patch and their layout).
local_view_pipeline = [
    dict(type='AntialiasedRandomResizedCrop', size=255, scale=(0.6, 1.)),
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
