"""detectron2's PreciseBN for the MMDetection fine-tuning configs.

The official DetCo / MoCo detectron2 configs set ``TEST.PRECISE_BN.ENABLED: True``: after the
last training iteration (and before every evaluation during training), the BN running
statistics are replaced by the average of the per-batch statistics over
``TEST.PRECISE_BN.NUM_ITER = 200`` training batches, computed with the final weights. With
``norm_eval=False`` the running statistics are otherwise an exponential average over weights
that kept changing, and evaluation uses them.

mmcls ships the mechanism (``update_bn_stats`` of :mod:`mmcls.engine.hooks.precise_bn_hook`,
pycls' algorithm, the same as fvcore's ``update_bn_stats`` that detectron2 calls); this hook
calls it. What differs from mmcls' ``PreciseBNHook`` for detectors:

- *when*: mmcls runs every ``interval`` iterations; here it runs right before each evaluation
  of the training loop (every ``val_interval`` iterations and after the last one), as
  detectron2 runs it at its evaluation period and at the end;
- *which batches*: the next ones of the training iterator (a second iterator over MMDetection's
  loader would hang, see :class:`_NextBatches`), skipped again on resume;
- *how the batches go through the model*: mmcls calls the model in ``'tensor'`` mode on
  batches preprocessed for testing; detectron2 runs the model in training mode. Here each batch
  is preprocessed as in training and the detector runs in ``'loss'`` mode (losses discarded,
  no gradients), so BN layers after RoI pooling (the C4 head's res5 and its extra norm) see the
  sampled training RoIs, not test-time proposals.

The number of batches is given in iterations (``num_iters``, detectron2's ``NUM_ITER``) of
the training loader, at whatever number of processes the run has.
"""
import bisect
import functools
from typing import Optional, Sequence

import torch.nn as nn
from mmcls.engine.hooks.precise_bn_hook import update_bn_stats
from mmdet.registry import HOOKS
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop, Runner


class _TrainingForward(nn.Module):
    """A detector seen by mmcls' ``update_bn_stats`` as one that trains on every batch.

    ``update_bn_stats`` calls ``model.data_preprocessor(batch, False)`` and then
    ``model(**data)``; this adapter preprocesses for training instead and calls the detector in
    ``'loss'`` mode. The detector is a submodule, so its BN layers are the ones found.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        self.data_preprocessor = functools.partial(self._preprocess, detector)

    @staticmethod
    def _preprocess(detector: nn.Module, data: dict, training: bool = False) -> dict:
        return detector.data_preprocessor(data, True)

    def forward(self, inputs, data_samples=None) -> dict:
        return self.detector(inputs, data_samples, mode='loss')


@HOOKS.register_module()
class DetectronPreciseBNHook(Hook):
    """Recompute BN statistics before each evaluation of an iteration-based fine-tune.

    It runs after the iteration that an evaluation of the training loop follows (every
    ``val_interval`` iterations from ``val_begin``, ``dynamic_intervals`` included) and after
    the last iteration, with or without an evaluation, as detectron2 does. The batches are the
    next ones of the training iterator; a resumed run skips those earlier PreciseBN passes
    took, so it sees the same data as an uninterrupted one.

    Args:
        num_iters (int): Training batches (at the run's total batch size) to average the BN
            statistics over, at most one pass over the training set. Defaults to 200
            (detectron2's ``TEST.PRECISE_BN.NUM_ITER``).
    """

    # after IterTimerHook and LoggerHook (NORMAL, BELOW_NORMAL), so the pass is not counted as
    # iteration time; before CheckpointHook (VERY_LOW), so checkpoints hold the new statistics
    priority = 'LOW'

    def __init__(self, num_iters: int = 200) -> None:
        if not isinstance(num_iters, int) or num_iters < 1:
            raise ValueError(f'DetectronPreciseBNHook: num_iters={num_iters!r}; give a positive '
                             'number of training batches (detectron2 uses 200).')
        self.num_iters = num_iters

    def before_train(self, runner: Runner) -> None:
        loop = runner.train_loop
        if not isinstance(loop, IterBasedTrainLoop):
            raise TypeError(
                'DetectronPreciseBNHook needs an IterBasedTrainLoop (detectron2 schedules are '
                f'in iterations); train_cfg.type is {type(loop).__name__}. Use '
                "train_cfg=dict(type='IterBasedTrainLoop', ...) or drop the hook.")
        if loop.iter > 0:  # resumed: skip the batches earlier passes took from the stream
            passes = sum(self._runs_after(runner, done) for done in range(1, loop.iter + 1))
            for _ in range(passes * self._batches(loop)):
                next(loop.dataloader_iterator)

    def _runs_after(self, runner: Runner, done: int) -> bool:
        """Whether the pass runs after training iteration ``done`` (1-based)."""
        loop = runner.train_loop
        if done == loop.max_iters:
            return True
        # as IterBasedTrainLoop decides it after the iteration (_decide_current_val_interval)
        interval = loop.dynamic_intervals[bisect.bisect(loop.dynamic_milestones, done + 1) - 1]
        return (runner.val_loop is not None and done >= loop.val_begin
                and done % interval == 0)

    def _batches(self, loop: IterBasedTrainLoop) -> int:
        return min(self.num_iters, len(loop.dataloader))

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence[dict]] = None,
                         outputs: Optional[dict] = None) -> None:
        if self._runs_after(runner, runner.iter + 1):
            self._perform_precise_bn(runner)

    def _perform_precise_bn(self, runner: Runner) -> None:
        loop = runner.train_loop
        # MMDetection's loaders batch with a batch_sampler (AspectRatioBatchSampler), which
        # leaves DataLoader.batch_size None; update_bn_stats counts batches by it
        batch_size = loop.dataloader.batch_size or loop.dataloader.batch_sampler.batch_size
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        print_log(f'PreciseBN: BN statistics of the current weights over {self._batches(loop)} '
                  f'training batches of {batch_size} per process', logger=runner.logger)
        # update_bn_stats takes num_samples // (batch x processes) batches, capped at len(loader)
        update_bn_stats(_TrainingForward(model), _NextBatches(loop, batch_size),
                        self.num_iters * batch_size * get_world_size(), logger=runner.logger)


class _NextBatches:
    """The next batches of the training loop's own data iterator, as a loader.

    A second iterator over the training loader would share its batch sampler, and
    MMDetection's AspectRatioBatchSampler is not re-entrant: its buckets are attributes, and the
    suspended training iterator still holds a full one, so a second iterator never completes a
    batch. detectron2 draws PreciseBN's batches from a separate training loader; here they are
    the batches training would see next (it resumes with the ones after them).
    """

    def __init__(self, loop: IterBasedTrainLoop, batch_size: int) -> None:
        self.loop = loop
        self.batch_size = batch_size

    def __iter__(self):
        while True:
            yield next(self.loop.dataloader_iterator)

    def __len__(self) -> int:
        return len(self.loop.dataloader)
