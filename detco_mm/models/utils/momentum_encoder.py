"""The key (momentum) encoder of MoCo / DetCo: an EMA of the query encoder.

``theta_k <- m * theta_k + (1 - m) * theta_q`` (MoCo, He et al., CVPR 2020, eq. 2; DetCo uses
m = 0.999). MMEngine's :class:`ExponentialMovingAverage` computes exactly this (its
``momentum`` is ``1 - m``) but loops over the parameters in Python and reads its step counter
from the device twice per update. DetCo's neck adds ~55M parameters to ResNet-50's 25M, so the
update is done here with one ``torch._foreach_lerp_`` over all floating-point parameters and a
host-side mirror of the step counter (read once after construction or loading), which keeps the
train step free of host-device synchronisation.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import ExponentialMovingAverage


class MomentumEncoder(ExponentialMovingAverage):
    """MMEngine's :class:`ExponentialMovingAverage` with a batched, sync-free update.

    State dict, ``steps`` buffer and results are those of the parent class, so checkpoints of
    either load into the other.

    Args:
        model (nn.Module): The query encoder to follow.
        momentum (float): ``1 - m``, the weight of the query encoder in each update.
        interval (int): Update every ``interval`` calls. Defaults to 1.
    """

    def __init__(self, model: nn.Module, momentum: float, interval: int = 1) -> None:
        super().__init__(model, momentum=momentum, interval=interval, update_buffers=False)
        self._host_steps: Optional[int] = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._host_steps = None  # ``steps`` came from the checkpoint: read it again

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Move the averaged parameters towards ``model``'s; copy its buffers.

        Args:
            model (nn.Module): The query encoder, with the same structure as ``self.module``.
        """
        if self._host_steps is None:
            self._host_steps = int(self.steps)
        source = dict(model.named_parameters())
        names = [k for k, p in self.avg_parameters.items() if p.dtype.is_floating_point]
        averaged = [self.avg_parameters[k].data for k in names]
        current = [source[k].data for k in names]
        if self._host_steps == 0:
            torch._foreach_copy_(averaged, current)
        elif self._host_steps % self.interval == 0:
            torch._foreach_lerp_(averaged, current, self.momentum)
        # As the parent with update_buffers=False: buffers (BN statistics) follow the model.
        buffers = [b.data for b in self.module.buffers()]
        if buffers:  # e.g. GroupNorm models have none
            torch._foreach_copy_(buffers, [b.data for b in model.buffers()])
        self.steps += 1
        self._host_steps += 1
