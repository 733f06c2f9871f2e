"""DetectronPreciseBNHook: when it runs, which batches it takes, resume, and bad setups.

A real MMEngine Runner trains a toy BN model on a dataset of 10 numbered samples (lr 0, batch 2,
unshuffled InfiniteSampler) and records every forward: training-mode loss calls with gradients
are training iterations, without gradients PreciseBN batches, and predict calls evaluations.
(The fine-tuning configs' run with a real detector is in test_finetune_configs.py.)
"""
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from detco_mm.engine.hooks import DetectronPreciseBNHook


class Numbers(Dataset):
    metainfo: dict = {}

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return dict(inputs=torch.full((1, 2, 2), float(i)), data_samples=i)


class Recorder(BaseModel):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        self.calls = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        y = self.bn(self.conv(x))
        if mode == 'loss':
            kind = 'train' if torch.is_grad_enabled() else 'precise_bn'
            self.calls.append((kind, [int(s) for s in data_samples]))
            return dict(loss=y.mean())
        self.calls.append(('val', None))
        return [dict(v=0.0)] * x.shape[0]


class Count(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        return dict(n=len(results))


def train(work_dir, max_iters=7, val=True, resume=False, checkpoint=100, model=None, **loop):
    loader = dict(dataset=Numbers(), batch_size=2, num_workers=0,
                  sampler=dict(type='InfiniteSampler', shuffle=False))
    runner = Runner(
        model=model or Recorder(), work_dir=str(work_dir),
        train_dataloader=loader,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, **loop),
        val_dataloader=dict(loader, sampler=dict(type='DefaultSampler', shuffle=False))
        if val else None,
        val_evaluator=Evaluator([Count()]) if val else None, val_cfg=dict() if val else None,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),
        custom_hooks=[DetectronPreciseBNHook(num_iters=2)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                           interval=checkpoint)),
        resume=resume, log_level='WARNING', experiment_name=work_dir.name)
    runner.train()
    return runner.model.calls


def events(calls):
    """'T' per training iteration, 'P' per PreciseBN pass, 'V' per evaluation."""
    out = []
    for kind, _ in calls:
        letter = {'train': 'T', 'precise_bn': 'P', 'val': 'V'}[kind]
        if letter == 'T' or not out or out[-1] != letter:
            out.append(letter)
    return ''.join(out)


def test_runs_before_each_evaluation_and_after_the_last_iteration(tmp_path):
    calls = train(tmp_path / 'a', val_interval=3)
    assert events(calls) == 'TTTPVTTTPVTPV'
    # the pass takes the next 2 batches of the training stream, which training then skips
    assert [s for kind, s in calls if kind != 'val'][:6] == [
        [0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [0, 1]]


def test_follows_val_begin_dynamic_intervals_and_no_val_loop(tmp_path):
    assert events(train(tmp_path / 'a', val_interval=3, val_begin=5)) == 'TTTTTTPVTPV'
    assert events(train(tmp_path / 'b', max_iters=8, val_interval=100,
                        dynamic_intervals=[(5, 2)])) == 'TTTTPVTTPVTTPV'
    assert events(train(tmp_path / 'c', val=False)) == 'TTTTTTTP'


def test_a_resumed_run_sees_the_batches_of_an_uninterrupted_one(tmp_path):
    straight = train(tmp_path / 'a', val_interval=3)
    train(tmp_path / 'b', max_iters=3, val_interval=3, checkpoint=3)
    resumed = train(tmp_path / 'b', val_interval=3, resume=True)
    assert [c for c in resumed if c[0] == 'train'] == [c for c in straight if c[0] == 'train'][3:]


def test_bad_setups_are_refused(tmp_path):
    with pytest.raises(ValueError, match='num_iters=0'):
        DetectronPreciseBNHook(num_iters=0)
    runner = Runner(
        model=Recorder(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=Numbers(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),
        custom_hooks=[DetectronPreciseBNHook()], log_level='WARNING')
    with pytest.raises(TypeError, match='needs an IterBasedTrainLoop'):
        runner.train()
