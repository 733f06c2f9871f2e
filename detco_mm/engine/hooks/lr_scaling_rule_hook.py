"""State the linear learning-rate scaling rule a run follows, and flag an lr far above it.

DetCo and MoCo v2 are trained with SGD at lr 0.03 for a total batch of 256 images (the papers'
setting). For another total batch B the configs follow the linear scaling rule (Goyal et al.
2017), the one MMEngine's ``auto_scale_lr`` applies: ``lr = 0.03 * B / 256``, e.g. 0.00375 for
the demo's batch of 32. An lr far above that is the trap the first demo fell into (0.06 at
batch 32, 16x the rule): the stem's weights grew 6-8x (conv1 L2 norm 14-20 against 2.45 at
random init and 3.0 at the rule's lr), two local loss terms ended at chance, and its backbone
fine-tuned no better than random init (13.8 vs 14.5 AP on the demo's 40 labelled scenes, 2
seeds; 17.7 at the rule's lr). Rescaling its convs to random init's norms (the same function,
BN follows each) recovered only 1 AP: most of the loss is a worse representation.

:class:`LinearScalingRuleHook` logs, before the first iteration (after ``auto_scale_lr`` and
any resume), the lr of the run beside the rule's lr for its total batch (batch per process x
processes); above ``tolerance`` times the rule it logs a warning that names the config key and
the rule's value. It changes nothing.
"""
from typing import Optional

from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmselfsup.registry import HOOKS


def rule_lr(base_lr: float, base_batch_size: int, total_batch: int) -> float:
    """``base_lr * total_batch / base_batch_size``: the linear scaling rule."""
    return base_lr * total_batch / base_batch_size


@HOOKS.register_module()
class LinearScalingRuleHook(Hook):
    """Log the run's lr beside the linear scaling rule's; warn when far above it.

    Args:
        base_lr (float): The lr of the reference batch. Defaults to 0.03 (DetCo, MoCo v2).
        base_batch_size (int): The reference total batch. Defaults to 256.
        tolerance (float): Warn when the lr exceeds ``tolerance`` times the rule's.
            Defaults to 2.
    """

    priority = 'LOW'

    def __init__(self, base_lr: float = 0.03, base_batch_size: int = 256,
                 tolerance: float = 2.0) -> None:
        if base_lr <= 0 or base_batch_size < 1 or tolerance < 1:
            raise ValueError(
                f'LinearScalingRuleHook: base_lr ({base_lr}) must be > 0, base_batch_size '
                f'({base_batch_size}) >= 1 and tolerance ({tolerance}) >= 1')
        self.base_lr = base_lr
        self.base_batch_size = base_batch_size
        self.tolerance = tolerance
        self.last_message: Optional[str] = None  # what before_train logged

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        total_batch = loader.batch_size * get_world_size()
        groups = runner.optim_wrapper.param_groups
        lr = max(g.get('initial_lr', g['lr']) for g in groups)
        expected = rule_lr(self.base_lr, self.base_batch_size, total_batch)
        ratio = lr / expected
        message = (f'LinearScalingRuleHook: lr {lr:g} for a total batch of {total_batch} '
                   f'({loader.batch_size} per process x {get_world_size()}); the linear scaling '
                   f'rule gives {expected:g} ({self.base_lr:g} at {self.base_batch_size} x '
                   f'{total_batch} / {self.base_batch_size}): x{ratio:.2f} the rule')
        if ratio > self.tolerance:
            message += (f'. WARNING: more than {self.tolerance:g}x the rule. Pre-training far '
                        f'above it inflates the backbone\'s weights and can make it fine-tune '
                        f'worse than random init. Set optim_wrapper.optimizer.lr={expected:g}, '
                        f'or keep the base lr and let MMEngine scale it: auto_scale_lr = '
                        f'dict(enable=True, base_batch_size={self.base_batch_size}) '
                        f'(tools/train.py --auto-scale-lr).')
            runner.logger.warning(message)
        else:
            runner.logger.info(message)
        self.last_message = message
