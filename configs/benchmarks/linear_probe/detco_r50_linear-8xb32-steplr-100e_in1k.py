# DetCo ResNet-50 -> ImageNet-1k linear classification (paper Table 8: MoCo v2 67.5, DetCo 68.6
# top-1). The MoCo / OpenSelfSup protocol, which MMSelfSup's config below encodes: the whole
# ResNet-50 frozen (stem and all 4 stages: no gradients, BN in eval mode, so its running
# statistics stay the pre-trained ones), global average pool of res5, one linear layer
# 2048 -> 1000 (normal init, std 0.01), cross-entropy, SGD lr 30, momentum 0.9, weight decay 0,
# 100 epochs, lr x0.1 at epochs 60 and 80, 8 GPUs x 32 images; train: RandomResizedCrop 224
# (scale 0.08-1) + horizontal flip; val: short side 256 + center crop 224; top-1 / top-5 on the
# 50k val images after every epoch. Nothing of that recipe differs from the paper.
#
# This file adds the exported DetCo backbone as the ResNet's init (plain ResNet keys, the file
# tools/model_converters/export_backbone.py writes) and DetCoFinetuneRunner, which checks
# backbone and data before training and passes `--cfg-options pretrained=PATH` / `data_root=DIR`
# on to the fields built from them. Run it with our tools/train.py (`mim train mmselfsup` and
# `mim train mmcls` ignore `runner_type`: no checks, and `pretrained=` would not reach the init):
#   tools/dist_train.sh \
#       configs/benchmarks/linear_probe/detco_r50_linear-8xb32-steplr-100e_in1k.py 8
#   MoCo v2, the same protocol: add
#       --cfg-options pretrained=work_dirs/mocov2_r50_8xb32/backbone_mmdet.pth
# Data: MMSelfSup's ImageNet layout, data/imagenet/{train,val}/ and meta/{train,val}.txt
# (`relative/path.JPEG label` lines). Fewer GPUs: keep the lr, which is for 256 images, and add
# --auto-scale-lr (lr 30 x total batch / 256).
_base_ = 'mmselfsup::benchmarks/classification/imagenet/resnet50_linear-8xb32-steplr-100e_in1k.py'
custom_imports = dict(imports=['detco_mm'], allow_failed_imports=False)
runner_type = 'DetCoFinetuneRunner'

# THE pre-trained backbone (mmdet format, as for configs/finetune).
pretrained = 'work_dirs/detco_r50_8xb32/backbone_mmdet.pth'
model = dict(
    _scope_='mmcls',
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

# MMEngine marks every dict inherited through `mmselfsup::` with _scope_='mmselfsup', whose
# registries lack mmcls's ImageClassifier, ImageNet and Accuracy (MMSelfSup runs this recipe from
# its own folder, unmarked, under default_scope='mmcls'): build these in mmcls's scope. The image
# folders are the same, in mmcls's dict form, which DetCoFinetuneRunner's data check reads.
train_dataloader = dict(
    dataset=dict(_scope_='mmcls', data_prefix=dict(_delete_=True, img_path='train')))
val_dataloader = dict(
    dataset=dict(_scope_='mmcls', data_prefix=dict(_delete_=True, img_path='val')))
test_dataloader = val_dataloader
val_evaluator = dict(_scope_='mmcls')
test_evaluator = val_evaluator
# MMEngine's default loops, named: the base's empty dicts read as "no validation" to
# DetCoFinetuneRunner, which would then not check the val data before training.
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

auto_scale_lr = dict(enable=False, base_batch_size=256)
