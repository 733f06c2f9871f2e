"""Shuffle BN and queue gathering across 2 CPU processes (torchrun, gloo)."""
import os.path as osp
import subprocess
import sys

import torch

from detco_mm.models.utils import batch_shuffle_ddp, batch_unshuffle_gather

from conftest import REPO_ROOT

WORKER = osp.join(REPO_ROOT, 'tests', 'data', 'dist_detco_worker.py')


def test_single_process_is_the_identity():
    x, p = torch.randn(4, 3, 2, 2), torch.randn(4, 9, 3, 2, 2)
    (xs, ps), idx = batch_shuffle_ddp(x, p)
    assert idx is None and xs is x and ps is p
    mine, everyone = batch_unshuffle_gather(x, idx)
    assert mine is x and everyone is x


def test_two_processes_keep_patches_with_images_and_fill_every_queue(subprocess_env):
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         '--master_port=29531', WORKER],
        env=subprocess_env, capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert 'OK rank 0' in log and 'OK rank 1' in log
