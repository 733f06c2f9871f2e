"""Helpers of the DetCo algorithm."""
from .batch_shuffle import batch_shuffle_ddp, batch_unshuffle_gather
from .momentum_encoder import MomentumEncoder

__all__ = ['batch_shuffle_ddp', 'batch_unshuffle_gather', 'MomentumEncoder']
