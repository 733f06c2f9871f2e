"""Test-only hooks that break a training run on purpose (imported by configs the tests write).

- ``KillAtIterHook``: SIGKILLs its own process before iteration ``iter`` (0-based), as a node
  failure or the OOM killer would; nothing gets to clean up.
- ``PoisonQueueHook``: fills one stage's local queue with NaN before iteration ``iter``, so
  that the loss term that reads it (``loss_l2l_<stage>``) goes NaN.
- ``PoisonBufferHook``: fills one buffer of the model (e.g. a BN ``running_var``) with inf
  before iteration ``iter``, as a far too high learning rate does, while the loss stays finite.
- ``StallOnRankHook``: on rank ``rank`` only, stalls before iteration ``iter`` (SIGSTOPs itself,
  or with ``stop=False`` sleeps for an hour: a hung NFS read, a swapped-out node), so the
  others wait in a collective. A sleeping rank, unlike a stopped one, ends at once when the
  launcher terminates it.
- ``PidFileHook``: writes ``rank<R>.pid`` into ``directory`` when training starts.
- ``FailOnRankHook``: on rank ``rank`` only, raises (or SIGKILLs itself) before iteration
  ``iter`` while the other ranks wait for it in a collective.
"""
import os
import signal
import time

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmselfsup.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):

    def __init__(self, iter: int) -> None:
        self.iter = iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.iter:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class PoisonQueueHook(Hook):

    def __init__(self, iter: int, stage: int) -> None:
        self.iter, self.stage = iter, stage

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.iter:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            model.local_queue[self.stage].fill_(float('nan'))


@HOOKS.register_module()
class PoisonBufferHook(Hook):

    def __init__(self, iter: int, name: str) -> None:
        self.iter, self.name = iter, name

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.iter:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            dict(model.named_buffers())[self.name].fill_(float('inf'))


@HOOKS.register_module()
class FailOnRankHook(Hook):

    def __init__(self, rank: int, iter: int, kill: bool = False) -> None:
        self.rank, self.iter, self.kill = rank, iter, kill

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.rank == self.rank and runner.iter == self.iter:
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f'rank {self.rank} fails on purpose at iteration {self.iter + 1}')


@HOOKS.register_module()
class StallOnRankHook(Hook):

    def __init__(self, rank: int, iter: int, stop: bool = True) -> None:
        self.rank, self.iter, self.stop = rank, iter, stop

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.rank == self.rank and runner.iter == self.iter:
            if self.stop:
                os.kill(os.getpid(), signal.SIGSTOP)
            time.sleep(3600)


@HOOKS.register_module()
class PidFileHook(Hook):

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def before_train(self, runner) -> None:
        path = os.path.join(self.directory, f'rank{runner.rank}.pid')
        with open(path + '.tmp', 'w') as f:
            f.write(str(os.getpid()))
        os.replace(path + '.tmp', path)
