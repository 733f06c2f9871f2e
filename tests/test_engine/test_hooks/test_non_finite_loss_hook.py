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
    torch.save(dict(meta=dict(epoch=1)), tmp_path / 'epoch_1.pth')  # named only if complete
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
    order = [get_priority(h.priority)
             for h in (RuntimeInfoHook, NonFiniteLossHook, CheckpointHook)]
    assert order == sorted(order) and len(set(order)) == 3


def test_non_finite_buffer_is_never_checkpointed(image_folder, subprocess_env, tmp_path):
    """Issue 13.2: with a finite loss, a BN running_var of inf was saved as "last good"."""
    import os
    import os.path as osp
    import subprocess
    import sys

    from mmengine.config import Config

    from conftest import REPO_ROOT, TEST_CONFIGS
    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='PoisonBufferHook', iter=2, name='backbone.layer2.0.bn1.running_var')]
    cfg.custom_imports = dict(imports=['detco_mm', 'detco_test_hooks'],
                              allow_failed_imports=False)
    config = str(tmp_path / 'poison.py')
    cfg.dump(config)
    env = dict(subprocess_env, PYTHONPATH=osp.join(REPO_ROOT, 'tests', 'data') + os.pathsep +
               subprocess_env['PYTHONPATH'])
    wd, root = tmp_path / 'wd', image_folder(8, (48, 64))
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
         str(wd), '--cfg-options', f'train_dataloader.dataset.data_root={root}'],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert ('NonFiniteStateError: non-finite model state after iteration 4 (epoch 2): '
            in log), log[-3000:]
    assert 'backbone.layer2.0.bn1.running_var' in log and 'although the loss was finite' in log
    good = wd / 'epoch_1.pth'
    assert f'the last good checkpoint is {good}; resume from it with a lower learning rate: ' \
        'tools/train.py CONFIG --resume --cfg-options optim_wrapper.optimizer.lr=LR' in log
    assert not (wd / 'epoch_2.pth').exists() and not list(wd.glob('.epoch_2.pth.tmp-*'))
    assert (wd / 'last_checkpoint').read_text() == str(good)


def test_non_finite_tensors_names_buffers_and_parameters():
    from detco_mm.engine.hooks.non_finite_loss_hook import non_finite_tensors
    state = dict(w=torch.ones(3), var=torch.tensor([1.0, float('inf')]),
                 big=torch.full((2, ), float('nan')), steps=torch.tensor(3))
    assert non_finite_tensors(state) == ['var', 'big']
