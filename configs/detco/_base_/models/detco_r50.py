# DetCo with ResNet-50 (paper sec. 3): features of res2..res5, a global and a local MLP head
# per stage, 8 queues of 65536 keys, tau = 0.2, key-encoder momentum 0.999.
custom_imports = dict(imports=['detco_mm'], allow_failed_imports=False)

model = dict(
    type='DetCo',
    queue_len=65536,
    feat_dim=128,
    momentum=0.999,
    data_preprocessor=dict(
        type='DetCoDataPreprocessor',
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        in_channels=3,
        out_indices=[1, 2, 3, 4],  # 0: stem, 1..4: res2..res5
        norm_cfg=dict(type='BN')),
    neck=dict(
        type='DetCoNeck',
        in_channels=(256, 512, 1024, 2048),
        hid_channels=None,  # hidden width = stage channels
        out_channels=128,
        num_patches=9),
    head=dict(
        type='HierarchicalContrastiveHead',
        temperature=0.2,
        loss_weights=(0.1, 0.4, 0.7, 1.0),  # res2..res5
        with_g2l=False,
        loss=dict(type='mmcls.CrossEntropyLoss')))
