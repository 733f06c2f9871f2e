"""``--resume`` continues the right run or refuses, and takes a new learning rate (issue 13.2/4).

Real runs of tools/train.py on the tiny DetCo config (8 images, batch 4: 2 iterations an
epoch), in subprocesses, and in-process calls of what it does before training (the library
functions of detco_mm.engine.train_setup) for the refusals.
"""
import os
import shutil
import subprocess
import sys

import pytest
import torch

import detco_mm  # noqa: F401
from detco_mm.engine.config_check import ConfigError
from detco_mm.engine.resume import find_resume_checkpoint, incomplete_reason
from detco_mm.engine.train_setup import build_train_runner, train_config

from conftest import REPO_ROOT, TEST_CONFIGS

TRAIN = os.path.join(REPO_ROOT, 'tools', 'train.py')
TINY = os.path.join(TEST_CONFIGS, 'detco_r18_tiny.py')


def train(work_dir, root, env, *args, options=()):
    result = subprocess.run(
        [sys.executable, TRAIN, TINY, '--work-dir', str(work_dir), *args, '--cfg-options',
         f'train_dataloader.dataset.data_root={root}', *options],
        env=env, cwd=str(work_dir.parent), capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def build(work_dir, root, resume='auto'):
    """What tools/train.py does before runner.train(), in this process (refusals end it)."""
    cfg = train_config(TINY, work_dir=str(work_dir), resume=resume,
                       cfg_options={'train_dataloader.dataset.data_root': root})
    return build_train_runner(cfg)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_resume_moved_work_dir_truncated_newest_and_new_lr(image_folder, subprocess_env,
                                                           tmp_path):
    """A moved work dir resumes its own files, skipping a truncated newest checkpoint for the
    older complete one (logged), and a learning rate given on resume takes effect."""
    root = image_folder(num_images=8, size=(48, 64))
    rc, log = train(tmp_path / 'a', root, subprocess_env)  # 2 epochs: epoch_1, epoch_2
    assert rc == 0, log[-3000:]
    shutil.move(str(tmp_path / 'a'), str(tmp_path / 'b'))
    wd = tmp_path / 'b'
    assert (wd / 'last_checkpoint').read_text() == str(tmp_path / 'a' / 'epoch_2.pth')
    truncate(wd / 'epoch_2.pth')  # e.g. a copy cut short

    # without last_checkpoint the scan finds the same
    saved = (wd / 'last_checkpoint').read_text()
    os.remove(wd / 'last_checkpoint')
    path, notes = find_resume_checkpoint({}, str(wd))
    assert path == str(wd / 'epoch_1.pth') and 'truncated' in notes[0]
    (wd / 'last_checkpoint').write_text(saved)

    rc, log = train(wd, root, subprocess_env, '--resume',
                    options=['optim_wrapper.optimizer.lr=0.003'])  # was 0.03
    assert rc == 0, log[-3000:]
    assert f'using {wd / "epoch_2.pth"}, the file of that name in this work dir' in log
    assert f'skipped checkpoint {wd / "epoch_2.pth"}: truncated' in log
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'differs from the checkpoint\'s (0.03): continuing with the configured one' in log
    # cosine over 2 epochs: epoch 2 runs at half the base lr -- of the new base lr
    assert 'Epoch(train) [2][1/2]  lr: 1.5000e-03' in log, log[-3000:]
    assert incomplete_reason(str(wd / 'epoch_2.pth')) is None  # rewritten whole
    ckpt = torch.load(wd / 'epoch_2.pth', weights_only=True, map_location='cpu')
    assert ckpt['optimizer']['param_groups'][0]['initial_lr'] == pytest.approx(0.003)
    assert ckpt['param_schedulers'][0]['base_values'] == [pytest.approx(0.003)]


def test_resume_refuses_to_start_over(image_folder, tmp_path):
    root = image_folder(num_images=8, size=(48, 64))
    wd = tmp_path / 'wd'
    wd.mkdir()
    with pytest.raises(ConfigError, match=f'--resume: no complete checkpoint to resume from in '
                       f'{wd} .*drop --resume to start a new run'):
        build(wd, root)
    # only a truncated checkpoint (e.g. a copy cut short): refused, named
    torch.save(dict(meta=dict(epoch=1)), wd / 'epoch_1.pth')
    truncate(wd / 'epoch_1.pth')
    with pytest.raises(ConfigError, match=r'skipped checkpoint .*epoch_1\.pth: truncated'):
        build(wd, root)
    assert not (wd / 'epoch_2.pth').exists() and incomplete_reason(str(wd / 'epoch_1.pth'))


def test_explicit_truncated_checkpoint_is_refused(tmp_path, image_folder):
    root = image_folder(num_images=8, size=(48, 64))
    wd = tmp_path / 'wd'
    wd.mkdir()
    torch.save(dict(meta=dict(epoch=1)), wd / 'epoch_1.pth')
    torch.save(dict(meta=dict(epoch=2)), wd / 'epoch_2.pth')
    truncate(wd / 'epoch_2.pth')
    assert find_resume_checkpoint({}, str(wd))[0] == str(wd / 'epoch_1.pth')
    with pytest.raises(ConfigError, match=f'--resume {wd / "epoch_2.pth"}: cannot resume from '
                       f'it: truncated .* --resume {wd / "epoch_1.pth"}'):
        build(wd, root, resume=str(wd / 'epoch_2.pth'))


def test_last_checkpoint_relative_or_pointing_at_another_run(tmp_path):
    """A relative path is taken in the work dir; another run's checkpoint is never used."""
    wd, other = tmp_path / 'wd', tmp_path / 'someone_else'
    wd.mkdir()
    other.mkdir()
    torch.save(dict(meta=dict(epoch=1)), wd / 'epoch_1.pth')
    torch.save(dict(meta=dict(epoch=5)), other / 'epoch_5.pth')
    (wd / 'last_checkpoint').write_text('epoch_1.pth')
    assert find_resume_checkpoint({}, str(wd)) == (str(wd / 'epoch_1.pth'), [])
    (wd / 'last_checkpoint').write_text(str(other / 'epoch_5.pth'))
    path, notes = find_resume_checkpoint({}, str(wd))
    assert path == str(wd / 'epoch_1.pth')
    assert notes == [f'last_checkpoint names {other / "epoch_5.pth"}, which is not in this work '
                     f'dir ({wd}); ignored']
