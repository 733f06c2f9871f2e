# MMSelfSup's own MoCo v2 (ResNet-50, 8 x 32, 200 epochs) on the same data, for comparisons
# with DetCo. detco_mm is imported only for the stack fixes (see detco_mm/stack_fixes.py).
_base_ = 'mmselfsup::selfsup/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'
custom_imports = dict(imports=['detco_mm'], allow_failed_imports=False)
