"""Per-sample seeding of the data augmentation, so that a resumed run sees the same views.

MMEngine seeds the sampler by epoch, so the data *order* of an epoch is the same after a
resume, but the transforms draw from the global ``random`` / ``numpy.random`` state of
whichever process runs them: the main process with ``num_workers=0``, otherwise a DataLoader
worker, seeded once when it starts (``persistent_workers=True`` keeps it across epochs). That
state is not in the checkpoint, and a worker's state cannot be saved from the main process at
all, so after ``--resume`` every crop, colour jitter and jigsaw differs from the uninterrupted
run.

Here every sample's augmentation is seeded from ``(seed, epoch, sample index)`` right before
its transforms run:

- :class:`SeedAugmentation`, the first transform of the pipeline, seeds ``random`` and
  ``numpy.random`` (and, inside a DataLoader worker, torch's generator) from that triple;
- :class:`ResumableSampler`, MMEngine's ``DefaultSampler`` otherwise, hands the run's seed and
  the current epoch to every :class:`SeedAugmentation` of its dataset, through a small
  shared-memory tensor that DataLoader workers see (persistent or not, fork or spawn). Its
  ``set_epoch`` is what MMEngine calls at each epoch (``DistSamplerSeedHook`` for epoch-based
  loops, the infinite iterator of ``IterBasedTrainLoop``).

A sample's views are then a function of the seed, the epoch and the index only: the same with
any number of workers or processes, in any order, and after a resume. Saving and restoring RNG
state in the checkpoint instead would cover only ``num_workers=0``.

The global state is reseeded, not swapped: MMEngine's ``BaseDataset`` draws the replacement of
a skipped file from ``numpy.random`` after the pipeline returned None, and that draw is then
reproducible too. In the main process torch's generator is left alone (the model's own
randomness, e.g. shuffle BN, uses it; :class:`~detco_mm.engine.hooks.RandomStateHook` restores
it on resume).
"""
import logging
import random
from typing import Iterator, List, Optional

import numpy as np
import torch
import torch.utils.data
from mmcv.transforms import BaseTransform
from mmengine.dataset import DefaultSampler
from mmengine.logging import print_log
from mmselfsup.registry import DATA_SAMPLERS, TRANSFORMS

_UNSET = -1


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed for one sample of one epoch (statistically independent across triples)."""
    words = np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, epoch, index]).generate_state(
        2, dtype=np.uint32)
    return (int(words[0]) << 32) | int(words[1])


@TRANSFORMS.register_module()
class SeedAugmentation(BaseTransform):
    """Seed the augmentation RNGs from (seed, epoch, ``sample_idx``); put it first.

    Needs :class:`ResumableSampler` as the dataloader's sampler, which provides the seed and
    the epoch. Called outside a dataset (no ``sample_idx``) it does nothing; inside a dataset
    whose sampler never provided a seed it logs one warning and does nothing.

    Required keys: ``sample_idx`` (added by MMEngine's ``BaseDataset``).
    """

    def __init__(self) -> None:
        # [seed, epoch], written by ResumableSampler in the main process; shared memory so
        # that DataLoader workers see each new epoch.
        self.state = torch.full((2, ), _UNSET, dtype=torch.int64).share_memory_()
        self._warned = False

    def set_seed_and_epoch(self, seed: int, epoch: int) -> None:
        """Called by :class:`ResumableSampler` (main process)."""
        self.state[0] = int(seed)
        self.state[1] = int(epoch)

    def transform(self, results: dict) -> dict:
        index = results.get('sample_idx')
        if index is None:
            return results
        seed, epoch = (int(v) for v in self.state.tolist())
        if epoch == _UNSET:
            if not self._warned:
                self._warned = True
                print_log(
                    'SeedAugmentation: the sampler provided no seed/epoch, so augmentation '
                    "is not reproducible after a resume; use sampler=dict(type="
                    "'ResumableSampler') in train_dataloader.",
                    logger='current',
                    level=logging.WARNING)
            return results
        value = sample_seed(seed, epoch, int(index))
        random.seed(value)
        np.random.seed(value & 0xFFFFFFFF)
        if torch.utils.data.get_worker_info() is not None:
            torch.manual_seed(value)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


def find_seed_transforms(dataset) -> List[SeedAugmentation]:
    """Every :class:`SeedAugmentation` of a dataset's pipeline (also inside dataset wrappers)."""
    found = []
    pipeline = getattr(dataset, 'pipeline', None)
    for t in getattr(pipeline, 'transforms', None) or []:
        if isinstance(t, SeedAugmentation):
            found.append(t)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        found += find_seed_transforms(inner)
    for inner in getattr(dataset, 'datasets', None) or []:
        found += find_seed_transforms(inner)
    return found


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """MMEngine's ``DefaultSampler`` that also feeds the dataset's :class:`SeedAugmentation`.

    Same arguments and the same order of indices as ``DefaultSampler``.
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self._seed_transforms = find_seed_transforms(dataset)
        self._publish()

    def _publish(self) -> None:
        for t in self._seed_transforms:
            t.set_seed_and_epoch(self.seed, self.epoch)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self._publish()

    def __iter__(self) -> Iterator[int]:
        self._publish()  # also if set_epoch was never called
        return super().__iter__()
