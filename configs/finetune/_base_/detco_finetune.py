# What every DetCo fine-tuning config shares: the paper's downstream protocol (sec. 4; MoCo's
# detectron2 protocol; README "Downstream"). The detector starts from the exported DetCo
# ResNet-50, uses SyncBN in backbone, neck and heads, freezes nothing (frozen_stages=-1,
# norm_eval=False), has a pytorch-style ResNet (stride in the 3x3 conv) and takes RGB input
# normalised with the ImageNet mean / std of pre-training.
#
# The configs list this file in `_base_` next to an MMDetection / MMSelfSup config, so it only
# defines names those do not, and they pick the pieces up as `_base_.detco_*`.

# THE pre-trained backbone: a file written by tools/model_converters/export_backbone.py (mmdet
# format). Use another one with `--cfg-options pretrained=PATH`.
pretrained = 'work_dirs/detco_r50_8xb32/backbone_mmdet.pth'

# DetCoFinetuneRunner (detco_mm/utils/finetune_runner.py) passes `--cfg-options pretrained=`,
# `data_root=` and `norm_cfg=` on to the fields built from them (MMEngine resolves config
# variables when it parses the file) and checks checkpoint and data before training starts.
runner_type = 'DetCoFinetuneRunner'
detco_imports = ['detco_mm', 'detco_mm.utils.finetune_runner']

detco_data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32)

detco_backbone = dict(
    type='ResNet',
    depth=50,
    style='pytorch',
    frozen_stages=-1,
    norm_eval=False,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))
