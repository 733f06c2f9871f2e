"""Hooks that keep long runs safe: stop on a non-finite loss, resume RNG state, flag an lr far
above the linear scaling rule; detectron2's PreciseBN for fine-tuning."""
from .lr_scaling_rule_hook import LinearScalingRuleHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .precise_bn_hook import DetectronPreciseBNHook
from .random_state_hook import RandomStateHook

__all__ = [
    'DetectronPreciseBNHook', 'LinearScalingRuleHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'RandomStateHook'
]
