# DetCo -> COCO RetinaNet R50-FPN 1x (paper Table 5): 8 GPUs x 2 images, SGD lr 0.01, 12 epochs,
# multi-scale training (short side 640-800, as detectron2's RetinaNet), SyncBN in backbone, FPN
# and head, nothing frozen.
#   mim train mmdet configs/finetune/retinanet_detco.py -l pytorch -G 8
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    '_base_/detco_finetune.py',
]
custom_imports = dict(imports=_base_.detco_imports, allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=_base_.detco_data_preprocessor,
    backbone=_base_.detco_backbone,
    neck=dict(norm_cfg=norm_cfg),
    bbox_head=dict(norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
