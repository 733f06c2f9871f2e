"""Stop a run at the first non-finite loss, before anything of it is saved.

A NaN or infinite loss term poisons the weights through the optimizer step of that very
iteration, and MMEngine keeps training (and checkpointing) a model that can only output NaN.
:class:`NonFiniteLossHook` checks every logged term after each iteration and raises
:class:`NonFiniteLossError`, naming the iteration and the terms (e.g. ``loss_l2g_res4``). It
runs after MMEngine's ``RuntimeInfoHook`` and before the ``CheckpointHook`` (priority NORMAL
between VERY_HIGH and VERY_LOW), so the NaN model is never written and the last good
checkpoint stays the one ``--resume`` picks.

Cost: the check reads the loss terms the model returned. ``RuntimeInfoHook`` has already called
``.item()`` on every one of them this iteration (that is how MMEngine logs), so on CUDA the
stream is synchronised at this point anyway; the hook adds one tiny ``isfinite`` on a stacked
vector and one more read, no extra stall. Checking only at the logging interval would save
that read but could let a checkpoint of NaN weights be written in between. In a distributed
run the per-term flags are max-reduced across processes (one small collective), because the
gradient all-reduce spreads one process's NaN to every replica's weights: rank 0, which
writes the checkpoints, must stop too even if its own loss was finite.

A finite loss does not prove a finite model: a learning rate far too high can drive BN's
``running_var`` to ``inf`` (unused by the training forward, so the loss stays finite) and
weights towards 1e34. Before every checkpoint is written (``before_save_checkpoint``, on the
process that writes it) the hook therefore also checks every floating-point tensor of the
state dict -- parameters and buffers: BN statistics, the queues, the momentum encoder -- and
raises :class:`NonFiniteStateError`, naming the tensors, instead of letting the checkpoint be
written. The check runs on the CPU copy MMEngine has just made for saving: one pass over the
model per checkpoint.

Recovery: resume from the last good checkpoint with a lower learning rate,
``tools/train.py CONFIG --resume --cfg-options optim_wrapper.optimizer.lr=LR``; the new rate
takes effect on resume (:class:`~detco_mm.engine.resume.ResumeLrHook`).
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmselfsup.registry import HOOKS

from ..resume import find_resume_checkpoint


class NonFiniteLossError(FloatingPointError):
    """A loss term went NaN or infinite; raised by :class:`NonFiniteLossHook`."""


class NonFiniteStateError(NonFiniteLossError):
    """The model to be checkpointed holds NaN/inf; raised by :class:`NonFiniteLossHook`."""


def non_finite_tensors(state_dict: Dict[str, object]) -> List[str]:
    """Names of the floating-point tensors of ``state_dict`` holding NaN or inf."""
    names = [k for k, v in state_dict.items()
             if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel()]
    if not names:
        return []
    finite = torch.stack([torch.isfinite(state_dict[k]).all().cpu() for k in names])
    return [k for k, ok in zip(names, finite.tolist()) if not ok]


RECOVERY = ('resume from it with a lower learning rate: tools/train.py CONFIG --resume '
            '--cfg-options optim_wrapper.optimizer.lr=LR (the new lr takes effect on resume)')


def non_finite_terms(outputs: Dict[str, object]) -> List[str]:
    """Names of the scalar entries of ``outputs`` that are NaN or infinite (one device read)."""
    names, values = [], []
    for name, value in outputs.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            names.append(name)
            values.append(value.detach().reshape(()).float())
        elif isinstance(value, (int, float)):
            names.append(name)
            values.append(torch.tensor(float(value)))
    if not values:
        return []
    device = values[0].device
    bad = ~torch.isfinite(torch.stack([v.to(device) for v in values]))
    if get_world_size() > 1:
        bad = bad.to(torch.int32)
        all_reduce(bad, op='max')
    return [name for name, flag in zip(names, bad.tolist()) if flag]


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a logged loss term is NaN or infinite.

    The message names the iteration (1-based, as in the log), the epoch, every non-finite
    term and the last checkpoint, which is intact.
    """

    priority = 'NORMAL'  # after RuntimeInfoHook (VERY_HIGH), before CheckpointHook (VERY_LOW)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence[dict]] = None,
                         outputs: Optional[Dict[str, object]] = None) -> None:
        if not outputs:
            return
        bad = non_finite_terms(outputs)
        if not bad:
            return
        terms = [t for t in bad if t != 'loss'] or bad  # the total only if no term is named
        values = ', '.join(
            f'{t}={_value(outputs[t])}' +
            (' here, non-finite on another process' if _is_finite(outputs[t]) else '')
            for t in terms)
        epoch = (f' (epoch {runner.epoch + 1})'
                 if isinstance(runner.train_loop, EpochBasedTrainLoop) else '')
        last = _last_good(runner)
        saved = (f'the last good checkpoint is {last} and was not overwritten; {RECOVERY}'
                 if last else 'no checkpoint had been saved yet')
        raise NonFiniteLossError(
            f'non-finite loss at iteration {runner.iter + 1}{epoch}: '
            f'{", ".join(terms)} went NaN/inf ({values}). Training stopped before this '
            f'iteration could be checkpointed; {saved}. Usual causes: a learning rate too high '
            f'for the batch size, fp16 overflow, corrupt input; see README "Troubleshooting".')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = non_finite_tensors(checkpoint.get('state_dict') or {})
        if not bad:
            return
        epoch = (f' (epoch {runner.epoch + 1})'
                 if isinstance(runner.train_loop, EpochBasedTrainLoop) else '')
        last = _last_good(runner)
        saved = (f'the last good checkpoint is {last}; {RECOVERY}' if last else
                 'no checkpoint had been saved yet: restart with a lower '
                 'optim_wrapper.optimizer.lr')
        shown = ', '.join(bad[:8]) + (f' and {len(bad) - 8} more' if len(bad) > 8 else '')
        raise NonFiniteStateError(
            f'non-finite model state after iteration {runner.iter}{epoch}: {len(bad)} '
            f'tensor(s) of the model hold NaN/inf ({shown}) although the loss was finite. '
            f'The checkpoint was not written; {saved}. Usual cause: a learning rate too high '
            f'for the batch size; see README "Troubleshooting".')


def _last_good(runner) -> Optional[str]:
    """The checkpoint ``--resume`` would continue from (the newest complete one)."""
    if not getattr(runner, 'work_dir', None):
        return None
    return find_resume_checkpoint(getattr(runner, 'cfg', None) or {}, runner.work_dir)[0]


def _value(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f'{value.detach().float().item():g}'
    return str(value)


def _is_finite(value: object) -> bool:
    return bool(torch.isfinite(torch.as_tensor(value).detach().float()).all())
