"""tools/train.py and tools/dist_train.sh with MMSelfSup's own MoCo v2, on CPU."""
import argparse
import glob
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

import detco_mm  # noqa: F401  (allow-lists MMEngine's training state for torch.load)

from conftest import REPO_ROOT, TEST_CONFIGS

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
DIST_TRAIN = osp.join(REPO_ROOT, 'tools', 'dist_train.sh')
MOCO_CFG = osp.join(TEST_CONFIGS, 'mocov2_r18_tiny.py')


def run(cmd, env, cwd, timeout=600):
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def test_train_resume_and_refuse_foreign_checkpoint(image_folder, subprocess_env, tmp_path):
    root = image_folder(num_images=16, size=(48, 64))
    # A config path without '/' and no --work-dir: the default work dir is used.
    shutil.copy(MOCO_CFG, tmp_path / 'mocov2_r18_tiny.py')
    data = f'train_dataloader.dataset.data_root={root}'
    rc, log = run([sys.executable, TRAIN, 'mocov2_r18_tiny.py', '--cfg-options', data,
                   'train_cfg.max_epochs=1'], subprocess_env, tmp_path)
    assert rc == 0, log[-3000:]
    work_dir = tmp_path / 'work_dirs' / 'mocov2_r18_tiny'
    assert (work_dir / 'epoch_1.pth').is_file()
    assert 'Epoch(train) [1][4/4]' in log

    rc, log = run([sys.executable, TRAIN, 'mocov2_r18_tiny.py', '--resume', '--cfg-options', data],
                  subprocess_env, tmp_path)
    assert rc == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 4' in log
    assert 'Epoch(train) [2][4/4]' in log
    ckpt = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 8
    assert ckpt['state_dict']['queue_ptr'].item() == (8 * 4) % 64

    # The same checkpoint with a foreign object inside is refused when resuming from it.
    ckpt['meta']['note'] = argparse.Namespace(who='someone else')
    foreign = tmp_path / 'foreign.pth'
    torch.save(ckpt, foreign)
    rc, log = run([sys.executable, TRAIN, 'mocov2_r18_tiny.py', '--resume', str(foreign),
                   '--cfg-options', data, 'train_cfg.max_epochs=3'], subprocess_env, tmp_path)
    assert rc != 0
    assert f'refusing to load {foreign}' in log and 'argparse.Namespace' in log
    assert 'DETCO_SAFE_GLOBALS' in log
    assert not (work_dir / 'epoch_3.pth').exists()


def test_amp_without_cuda_is_a_clear_error(subprocess_env, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    rc, log = run([sys.executable, TRAIN, MOCO_CFG, '--amp', '--work-dir', str(tmp_path)],
                  subprocess_env, tmp_path)
    assert rc != 0 and '--amp needs a CUDA device' in log


def test_missing_config_is_named(subprocess_env, tmp_path):
    rc, log = run([sys.executable, TRAIN, 'no_such_config.py'], subprocess_env, tmp_path)
    assert rc != 0 and "config file 'no_such_config.py' does not exist" in log


def test_dist_train_two_cpu_processes(image_folder, subprocess_env, tmp_path):
    root = image_folder(num_images=16, size=(48, 64))
    env = dict(subprocess_env, PORT='29517')
    rc, log = run(['bash', DIST_TRAIN, MOCO_CFG, '2', '--work-dir', str(tmp_path / 'wd'),
                   '--cfg-options', f'train_dataloader.dataset.data_root={root}',
                   'train_cfg.max_epochs=1'], env, tmp_path)
    assert rc == 0, log[-3000:]
    assert 'Distributed training: True' in log
    # 16 images, 4 per process, 2 processes: 2 iterations per epoch, so both ranks took part.
    assert 'Epoch(train) [1][2/2]' in log and '[1][4/4]' not in log
    assert (tmp_path / 'wd' / 'epoch_1.pth').is_file()
    ckpt = torch.load(tmp_path / 'wd' / 'epoch_1.pth', weights_only=True)
    assert ckpt['state_dict']['queue_ptr'].item() == 2 * 4 * 2  # keys of both ranks enqueued
    assert glob.glob(str(tmp_path / 'wd' / '*' / '*.log'))


def test_dist_train_detco_two_cpu_processes(image_folder, subprocess_env, tmp_path):
    root = image_folder(num_images=16, size=(64, 80))
    env = dict(subprocess_env, PORT='29518')
    rc, log = run(['bash', DIST_TRAIN, osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'), '2',
                   '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
                   f'train_dataloader.dataset.data_root={root}', 'train_cfg.max_epochs=1'],
                  env, tmp_path)
    assert rc == 0, log[-3000:]
    assert 'Epoch(train) [1][2/2]' in log and 'loss_l2g_res5' in log
    state = torch.load(tmp_path / 'wd' / 'epoch_1.pth', weights_only=True)['state_dict']
    # 2 iterations x 4 images x 2 processes: both ranks' keys were enqueued.
    assert state['queue_ptr'].item() == 16
    assert state['encoder_k.steps'].item() == 2
