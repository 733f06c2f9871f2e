"""Hooks that keep long runs safe: stop on a non-finite loss, resume RNG state."""
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .random_state_hook import RandomStateHook

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'RandomStateHook']
