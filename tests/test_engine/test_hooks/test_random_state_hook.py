"""RandomStateHook: a resumed run continues the main process's random streams."""
import random
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

import detco_mm  # noqa: F401
from detco_mm.engine.hooks import RandomStateHook
from detco_mm.safe_loading import safe_torch_load


def _runner(loop, iter):
    return SimpleNamespace(iter=iter, train_loop=loop.__new__(loop), cfg=Config(dict()))


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def _saved_checkpoint(tmp_path, hook, iter):
    checkpoint = dict(meta=dict(epoch=1, iter=iter))
    hook.before_save_checkpoint(_runner(EpochBasedTrainLoop, iter), checkpoint)
    torch.save(checkpoint, tmp_path / 'ckpt.pth')
    return safe_torch_load(str(tmp_path / 'ckpt.pth'))  # the state passes safe loading


def test_epoch_based_resume_restores_before_the_next_epoch(tmp_path):
    hook = RandomStateHook()
    checkpoint = _saved_checkpoint(tmp_path, hook, iter=4)
    expected = _draw()  # what the uninterrupted run draws next
    random.seed(0), np.random.seed(0), torch.manual_seed(0)  # a new process's start-up
    runner = _runner(EpochBasedTrainLoop, iter=4)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train_epoch(runner)
    assert _draw() == expected
    hook.before_train_iter(runner, 0)  # restores once only
    assert _draw() != expected


def test_iter_based_resume_restores_before_the_next_iteration(tmp_path):
    hook = RandomStateHook()
    checkpoint = _saved_checkpoint(tmp_path, hook, iter=3)
    expected = _draw()
    runner = _runner(IterBasedTrainLoop, iter=3)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train_epoch(runner)
    _draw()  # the data loader replay of an iteration-based resume
    hook.before_train_iter(runner, 3)
    assert _draw() == expected


def test_load_from_does_not_touch_the_random_state(tmp_path):
    hook = RandomStateHook()
    checkpoint = _saved_checkpoint(tmp_path, hook, iter=4)
    torch.manual_seed(1)
    expected = float(torch.rand(()))
    torch.manual_seed(1)
    runner = _runner(EpochBasedTrainLoop, iter=0)  # weights loaded, training starts at 0
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train_epoch(runner)
    assert float(torch.rand(())) == expected
