"""``ChannelsLastHook``: train in channels-last memory format (what the GPU check's flagship
pre-training runs use; ``custom_imports=['detco_mm.gpu_check.hooks']``)."""
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Move the model's 4-D parameters and buffers to ``torch.channels_last`` before training.

    Convolutions then run in NHWC, the layout tensor cores prefer; their inputs follow the
    weights' layout. Registered in MMEngine's root ``HOOKS``, so any scope finds it.
    """

    priority = 'VERY_HIGH'  # before the optimizer-dependent hooks see the parameters

    def before_train(self, runner) -> None:
        """Convert ``runner.model`` in place (parameters keep their identity)."""
        runner.model.to(memory_format=torch.channels_last)
