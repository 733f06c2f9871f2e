"""NonFiniteLossHook: stops at the first NaN/inf term, naming it and the iteration."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

import detco_mm  # noqa: F401
from detco_mm.engine.hooks import NonFiniteLossError, NonFiniteLossHook


def _runner(tmp_path, loop=EpochBasedTrainLoop, iter=6, epoch=1):
    return SimpleNamespace(iter=iter, epoch=epoch, work_dir=str(tmp_path),
                           train_loop=loop.__new__(loop))


def _outputs(**overrides):
    terms = {f'loss_{kind}_res{s}': torch.tensor(0.5) for s in range(2, 6)
             for kind in ('g2g', 'l2l', 'l2g')}
    terms.update({k: torch.tensor(v) for k, v in overrides.items()})
    return dict(loss=sum(terms.values()), **terms)


def test_finite_losses_pass(tmp_path):
    NonFiniteLossHook().after_train_iter(_runner(tmp_path), 0, outputs=_outputs())
    NonFiniteLossHook().after_train_iter(_runner(tmp_path), 0, outputs=None)


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_term_is_named_with_the_iteration(tmp_path, value):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(NonFiniteLossError) as error:
        NonFiniteLossHook().after_train_iter(_runner(tmp_path), 2,
                                             outputs=_outputs(loss_l2g_res4=value))
    message = str(error.value)
    assert message.startswith('non-finite loss at iteration 7 (epoch 2): loss_l2g_res4 went '
                              f'NaN/inf (loss_l2g_res4={value:g})')
    assert f'the last good checkpoint is {tmp_path / "epoch_1.pth"}' in message


def test_iteration_based_run_and_no_checkpoint_yet(tmp_path):
    with pytest.raises(NonFiniteLossError) as error:
        NonFiniteLossHook().after_train_iter(
            _runner(tmp_path, IterBasedTrainLoop, iter=0), 0,
            outputs=dict(loss=torch.tensor(float('nan')), acc=1.0))
    assert str(error.value).startswith('non-finite loss at iteration 1: loss went NaN/inf')
    assert 'no checkpoint had been saved yet' in str(error.value)


def test_runs_between_runtime_info_and_checkpoint_hooks():
    from mmengine.hooks import CheckpointHook, RuntimeInfoHook
    from mmengine.runner.priority import get_priority
    order = [get_priority(h.priority) for h in (RuntimeInfoHook, NonFiniteLossHook,
                                                 CheckpointHook)]
    assert order == sorted(order) and len(set(order)) == 3
