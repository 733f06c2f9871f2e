# DetCo, ResNet-50, 8 GPUs x 32 images, 200 epochs on ImageNet-1k (the paper's main setting):
# SGD lr 0.03 momentum 0.9 wd 1e-4, cosine decay; K = 65536, tau = 0.2, m = 0.999.
#   tools/dist_train.sh configs/detco/detco_r50_8xb32.py 8
_base_ = [
    '_base_/models/detco_r50.py',
    '_base_/datasets/imagenet_detco.py',
    'mmselfsup::selfsup/_base_/schedules/sgd_coslr-200e_in1k.py',
    '_base_/default_runtime.py',  # MMSelfSup's, plus TensorBoard
]

# Fused SGD updates all parameters in one kernel; DetCo's neck adds ~55M parameters to
# ResNet-50's 25M, and on CPU the fused step is ~5x faster than the default one.
optim_wrapper = dict(optimizer=dict(fused=True))

# Stop at the first NaN/inf loss term before it is checkpointed; carry the main process's
# random state through checkpoints, so that --resume continues exactly; log the lr beside the
# linear scaling rule's (0.03 x total batch / 256) and warn above 2x it (detco_mm/engine/hooks).
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RandomStateHook'),
    dict(type='LinearScalingRuleHook', base_lr=0.03, base_batch_size=256),
]

# a checkpoint every epoch (an ImageNet epoch is ~5000 iterations), the latest 3 kept
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))

# lr 0.03 is for a total batch of 256 (8 GPUs x 32). On another number of GPUs, keep it and
# let MMEngine scale it linearly (lr x total batch / 256): tools/train.py --auto-scale-lr, or
# --cfg-options auto_scale_lr.enable=True.
auto_scale_lr = dict(enable=False, base_batch_size=256)
