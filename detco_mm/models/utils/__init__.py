"""Helpers of the DetCo algorithm."""
from .batch_shuffle import batch_shuffle_ddp, batch_unshuffle_gather

__all__ = ['batch_shuffle_ddp', 'batch_unshuffle_gather']
