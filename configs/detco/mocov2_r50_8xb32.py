# MMSelfSup's own MoCo v2 (ResNet-50, 8 x 32, 200 epochs) on the same data, for comparisons
# with DetCo: MMSelfSup's mocov2_resnet50_8xb32-coslr-200e_in1k.py assembled from the same
# bases, except that the runtime is ours (MMSelfSup's plus TensorBoard, like DetCo's configs).
# detco_mm is imported only for the stack fixes (see detco_mm/stack_fixes.py).
_base_ = [
    'mmselfsup::selfsup/_base_/models/mocov2.py',
    'mmselfsup::selfsup/_base_/datasets/imagenet_mocov2.py',
    'mmselfsup::selfsup/_base_/schedules/sgd_coslr-200e_in1k.py',
    '_base_/default_runtime.py',
]
custom_imports = dict(imports=['detco_mm'], allow_failed_imports=False)

# only keeps the latest 3 checkpoints (as MMSelfSup's config)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
