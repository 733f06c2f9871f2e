"""Carry the main process's random state through a checkpoint, for exact resumes.

Data augmentation is seeded per sample (:mod:`detco_mm.datasets.sample_seeding`). What is
left is randomness drawn in the main process during training: torch's generator (DetCo's
shuffle BN draws its permutation from it in distributed runs; the DataLoader draws its
workers' base seed from it at each epoch), and ``random`` / ``numpy.random`` for any model or
hook that uses them. MMEngine reseeds them at start-up and does not save them, so a resumed
run would draw different numbers than the uninterrupted one.

:class:`RandomStateHook` stores the states in ``checkpoint['meta']['random_state']`` and, when
a run resumes from that checkpoint, restores them at the point the uninterrupted run was at:
before the next epoch's data loader starts (epoch-based loops) or before the next iteration
(iteration-based loops; those replay the data loader up to the checkpoint first). A
checkpoint used only as ``load_from`` (iteration 0) leaves the states alone, as do runs with
``randomness.diff_rank_seed=True``, whose ranks have different states that rank 0's
checkpoint does not hold.

One case stays inexact: an iteration-based checkpoint taken exactly at the end of a pass over
the data. The uninterrupted run then draws the next pass's worker seed from torch's generator
before the restore point and the resumed run after it, so torch's main-process generator (and
with it, in distributed runs, the next shuffle-BN permutations) differs; the data does not.
"""
import random
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmselfsup.registry import HOOKS


def get_random_state(step: int) -> dict:
    """The python, numpy, torch CPU and CUDA generator states, tagged with the step."""
    cuda = (torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized() else [])
    return dict(iter=step, python=random.getstate(), numpy=np.random.get_state(),
                torch=torch.get_rng_state(), cuda=cuda)


def set_random_state(state: dict) -> None:
    """Restore what :func:`get_random_state` returned (CUDA only for the same device count)."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the main process's random state in checkpoints; restore it on resume."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['random_state'] = get_random_state(runner.iter)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = (checkpoint.get('meta') or {}).get('random_state')

    def before_train_epoch(self, runner) -> None:
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._restore(runner)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Sequence[dict]] = None) -> None:
        self._restore(runner)

    def _restore(self, runner) -> None:
        state, self._pending = self._pending, None
        if state is None or state.get('iter') != runner.iter:
            return  # nothing loaded, or weights loaded with load_from rather than resumed
        randomness = runner.cfg.get('randomness') or {}
        if randomness.get('diff_rank_seed') and get_world_size() > 1:
            print_log('RandomStateHook: diff_rank_seed=True, random state not restored',
                      logger='current')
            return
        set_random_state(state)
