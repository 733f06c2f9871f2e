# DetCo for `make demo` (tools/demo.py): the flagship config shrunk to a few minutes on 2 CPU
# cores. Same algorithm, loss, pipeline order and runner; what differs:
#   ResNet-18 (neck widths follow its stages), 64 px global views, a 96 px local crop cut into
#   3x3 cells of 32 px with a 24 px patch in each (the paper: 224 / 255 / 85 / 64), 32 images
#   per batch, queues of 1024 keys (full after 32 iterations, so the loss turns down within the
#   demo), key-encoder momentum 0.99, 4 epochs of the demo crops (3200 crops: 100 iterations
#   per epoch), a log line every 10 iterations.
# Learning rate: the paper's 0.03 for 256 images, scaled linearly to the demo's batch by
# MMEngine (auto_scale_lr): 0.03 x 32 / 256 = 0.00375. The first demo used 0.06 (16x that);
# its backbone's weights grew 8x and fine-tuned worse than random init (README, "Does
# pre-training help?"). LinearScalingRuleHook logs the lr beside the rule and warns above 2x.
# Momentum: the key encoder averages over about 1 / (1 - m) iterations: 0.999's 1000 are more
# than the demo's 400 (the keys would come from a mostly untrained encoder); 0.99's 100 are not.
# The data are the demo's crops of the photographs bundled with scikit-image (made by
# tools/demo.py under data/demo/pretrain/). Nothing here selects a device: on a machine with a
# GPU the runner uses it.
#   python tools/train.py configs/detco/detco_r18_demo.py
_base_ = 'detco_r50_8xb32.py'

model = dict(
    queue_len=1024,
    momentum=0.99,
    backbone=dict(depth=18),
    neck=dict(in_channels=(64, 128, 256, 512)))

# the flagship's view pipelines with the demo's crop and patch sizes
global_view_pipeline = [
    dict(_base_.global_view_pipeline[0], size=64), *_base_.global_view_pipeline[1:]]
local_view_pipeline = [
    dict(_base_.local_view_pipeline[0], size=96), *_base_.local_view_pipeline[1:-1],
    dict(_base_.local_view_pipeline[-1], patch_size=24)]
train_pipeline = [  # the base's, with these views in its MultiView step (index 2)
    *_base_.train_pipeline[:2],
    dict(_base_.train_pipeline[2], transforms=[global_view_pipeline, local_view_pipeline]),
    *_base_.train_pipeline[3:],
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(data_root='data/demo/pretrain/', pipeline=train_pipeline))

max_epochs = 4
auto_scale_lr = dict(enable=True, base_batch_size=256)  # lr 0.03 of the flagship -> 0.00375
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
