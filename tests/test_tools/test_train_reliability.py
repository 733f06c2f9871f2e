"""Training runs that are interrupted, diverge, are misconfigured or lose a rank (issue 8).

Each test runs tools/train.py (or tools/dist_train.sh) in subprocesses on the tiny DetCo
config, with the robust loading / per-sample seeding pipeline of the shipped configs and, where
needed, a test-only hook from tests/data/detco_test_hooks.py that breaks the run on purpose;
config mistakes are checked in-process with the library functions tools/train.py calls
(detco_mm.engine.train_setup).
"""
import argparse
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config, DictAction

import detco_mm  # noqa: F401  (allow-lists MMEngine's training state for torch.load)
from detco_mm.engine.config_check import ConfigError, launcher_world_size
from detco_mm.engine.train_setup import build_train_runner, train_config

from conftest import REPO_ROOT, TEST_CONFIGS

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
DIST_TRAIN = osp.join(REPO_ROOT, 'tools', 'dist_train.sh')
TINY = osp.join(TEST_CONFIGS, 'detco_r18_tiny.py')
TEST_HOOKS_DIR = osp.join(REPO_ROOT, 'tests', 'data')
LOADING = ('LoadImageFromFile', 'RobustLoadImageFromFile', 'SeedAugmentation')


def write_config(tmp_path, name: str, extra_hooks=(), **loader) -> str:
    """The tiny DetCo config with the shipped data safeguards, flattened into one file.

    The tiny config lists its own pipeline (with a plain LoadImageFromFile); here its loading
    step becomes the shipped SeedAugmentation + RobustLoadImageFromFile pair.
    """
    cfg = Config.fromfile(TINY)
    views = [t for t in cfg.train_dataloader.dataset.pipeline if t.type not in LOADING]
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='SeedAugmentation'), dict(type='RobustLoadImageFromFile')] + views
    assert cfg.train_dataloader.sampler.type == 'ResumableSampler'
    cfg.train_dataloader.update(loader)
    assert {'NonFiniteLossHook', 'RandomStateHook'} <= {h.type for h in cfg.custom_hooks}
    cfg.custom_hooks = list(cfg.custom_hooks) + list(extra_hooks)
    cfg.custom_imports = dict(imports=['detco_mm', 'detco_test_hooks'],
                              allow_failed_imports=False)
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path


@pytest.fixture
def env(subprocess_env):
    return dict(subprocess_env,
                PYTHONPATH=TEST_HOOKS_DIR + os.pathsep + subprocess_env['PYTHONPATH'])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(cmd, env, cwd, timeout=300):
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def train(config, work_dir, root, env, cwd, *args, timeout=300):
    return run([sys.executable, TRAIN, config, '--work-dir', str(work_dir), *args,
                '--cfg-options', f'train_dataloader.dataset.data_root={root}'], env, cwd,
               timeout=timeout)


def load(path):
    return torch.load(path, weights_only=True, map_location='cpu')


def assert_same_training_state(a, b):
    assert a['meta']['epoch'] == b['meta']['epoch'] and a['meta']['iter'] == b['meta']['iter']
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][key], value, rtol=1e-5, atol=1e-6, msg=key)
    for name in ('global_queue', 'local_queue', 'queue_ptr', 'encoder_k.steps'):
        assert name in a['state_dict']
    torch.testing.assert_close(b['optimizer'], a['optimizer'], rtol=1e-5, atol=1e-6)
    assert b['param_schedulers'] == a['param_schedulers']


def test_sigkill_mid_epoch_then_resume_auto_equals_straight_run(image_folder, env, tmp_path):
    """2 epochs straight == 1 epoch, SIGKILL in the middle of epoch 2, ``--resume`` (auto).

    One persistent DataLoader worker: its random state cannot be checkpointed, so the views
    of epoch 2 match only because every sample is seeded from (seed, epoch, index).
    """
    root = image_folder(num_images=8, size=(48, 64))
    loader = dict(num_workers=1, persistent_workers=True)
    straight = write_config(tmp_path, 'straight', **loader)
    killed = write_config(tmp_path, 'killed', [dict(type='KillAtIterHook', iter=3)], **loader)

    rc, log = train(straight, tmp_path / 'a', root, env, tmp_path)
    assert rc == 0, log[-3000:]

    rc, log = train(killed, tmp_path / 'b', root, env, tmp_path)
    assert rc == -9, log[-3000:]  # SIGKILL in iteration 4 = the 2nd of epoch 2 (of 2 x 2)
    assert 'Epoch(train) [2][1/2]' in log and not (tmp_path / 'b' / 'epoch_2.pth').exists()
    assert (tmp_path / 'b' / 'last_checkpoint').read_text().endswith('epoch_1.pth')

    rc, log = train(straight, tmp_path / 'b', root, env, tmp_path, '--resume')
    assert rc == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 2' in log and 'Epoch(train) [2][2/2]' in log
    assert_same_training_state(load(tmp_path / 'a' / 'epoch_2.pth'),
                               load(tmp_path / 'b' / 'epoch_2.pth'))


def test_non_finite_loss_stops_the_run_and_keeps_last_checkpoint(image_folder, env, tmp_path):
    root = image_folder(num_images=8, size=(48, 64))
    config = write_config(tmp_path, 'nan', [dict(type='PoisonQueueHook', iter=3, stage=2)])
    rc, log = train(config, tmp_path / 'wd', root, env, tmp_path)
    assert rc != 0
    assert 'NonFiniteLossError: non-finite loss at iteration 4 (epoch 2): loss_l2l_res4 went' \
        in log, log[-3000:]
    good = tmp_path / 'wd' / 'epoch_1.pth'
    assert f'the last good checkpoint is {good}' in log
    assert not (tmp_path / 'wd' / 'epoch_2.pth').exists()
    assert (tmp_path / 'wd' / 'last_checkpoint').read_text() == str(good)
    state = load(good)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def cfg_options(*pairs):
    """``--cfg-options key=value ...`` parsed as tools/train.py parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *pairs]).cfg_options


def build(*pairs, work_dir, launcher='none'):
    """What tools/train.py does before runner.train(), in this process (config errors end it
    before training): its options applied to the config, checks, the runner and data loader."""
    cfg = train_config(TINY, work_dir=str(work_dir), cfg_options=cfg_options(*pairs),
                       launcher=launcher)
    return build_train_runner(cfg, world_size=launcher_world_size(launcher))


@pytest.mark.parametrize('option,expected', [
    ('model.queue_lenght=64',
     'config key model.queue_lenght is not an argument of DetCo: did you mean model.queue_len?'),
    ('model.backbone.dept=18',
     'config key model.backbone.dept is not an argument of ResNet: did you mean '
     'model.backbone.depth?'),
    ('train_dataloader.dataset.data_root={missing}',
     "train_dataloader.dataset.data_root='{missing}' does not exist"),
    ('train_dataloader.dataset.ann_file=meta/val.txt',
     "train_dataloader.dataset.ann_file='meta/val.txt' not found"),
    ('model.queue_len=62',
     'model.queue_len=62 is not divisible by the global batch 4 '
     '(train_dataloader.batch_size=4 x 1 processes)'),
    ('model.head.loss_weights=[1.0,1.0]',
     'DetCo: model.head.loss_weights has 2 entries (1.0, 1.0) but model.backbone.out_indices '
     'selects 4 stages'),
    # issue 13.3: 8 images, global batch 16, drop_last: an epoch of 0 iterations
    ('train_dataloader.batch_size=16',
     'train_dataloader: an epoch would have 0 iterations: the dataset has 8 image(s), fewer '
     'than the global batch 16 (train_dataloader.batch_size=16 x 1 processes)'),
    ('train_dataloader.dataset.ann_file={empty}',
     'train_dataloader.dataset.ann_file: the image list {empty} lists no images'),
])
def test_config_mistakes_stop_before_training(image_folder, tmp_path, option, expected):
    root = image_folder(num_images=8, size=(48, 64))
    paths = dict(missing=str(tmp_path / 'no_such_dir'), empty=str(tmp_path / 'empty.txt'))
    (tmp_path / 'empty.txt').write_text('')
    with pytest.raises(ValueError) as error:  # ConfigError, or DetCo's own ValueError
        build(f'train_dataloader.dataset.data_root={root}', option.format(**paths),
              work_dir=tmp_path / 'wd')
    assert expected.format(**paths) in str(error.value)
    assert not list((tmp_path / 'wd').glob('**/*.pth'))


def test_queue_check_counts_every_process(image_folder, tmp_path, monkeypatch):
    """Under torchrun the global batch is batch x WORLD_SIZE: 4 x 2 does not divide 68."""
    root = image_folder(num_images=8, size=(48, 64))
    monkeypatch.setenv('WORLD_SIZE', '2')
    with pytest.raises(ConfigError) as error:  # before any process group is started
        build(f'train_dataloader.dataset.data_root={root}', 'model.queue_len=68',
              work_dir=tmp_path / 'wd', launcher='pytorch')
    assert 'model.queue_len=68 is not divisible by the global batch 8 (train_dataloader.' \
        'batch_size=4 x 2 processes)' in str(error.value)
    assert 'e.g. 64 or 72' in str(error.value)


@pytest.mark.parametrize('kill', [False, True], ids=['raises', 'sigkill'])
def test_dist_train_stops_when_one_rank_dies(image_folder, env, tmp_path, kill):
    root = image_folder(num_images=16, size=(48, 64))
    config = write_config(tmp_path, 'dist', [dict(type='FailOnRankHook', rank=1, iter=1,
                                                  kill=kill)])
    start = time.monotonic()
    rc, log = run(['bash', DIST_TRAIN, config, '2', '--work-dir', str(tmp_path / 'wd'),
                   '--cfg-options', f'train_dataloader.dataset.data_root={root}'],
                  dict(env, PORT=str(free_port())), tmp_path, timeout=400)
    elapsed = time.monotonic() - start
    # ~40 s on an idle 2-core machine; 124 s was measured under a load average of 10
    assert rc != 0 and elapsed < 300, (rc, elapsed, log[-3000:])
    assert 'Epoch(train) [1][1/2]' in log  # both ranks trained one iteration together
    # torchrun's summary names the failed rank and, through train.py's @record, its error.
    summary = log[log.index('Root Cause (first observed failure)'):]
    if kill:
        # A SIGKILLed rank leaves no error of its own; which rank torchrun reports first is a
        # race: rank 1's SIGKILL, or rank 0 failing on the closed connection to it.
        rank1_first = ('rank      : 1 (local_rank: 1)' in summary
                       and 'Signal 9 (SIGKILL) received by PID' in summary)
        rank0_saw_it = ('rank      : 0 (local_rank: 0)' in summary
                        and 'remote worker' in summary)
        assert rank1_first or rank0_saw_it, log[-3000:]
    else:
        assert 'rank      : 1 (local_rank: 1)' in summary, log[-3000:]
        assert 'RuntimeError: rank 1 fails on purpose at iteration 2' in summary


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody reaped counts as dead)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (FileNotFoundError, ProcessLookupError):
        return False


def _dist_popen(config, work_dir, root, env, cwd, *options, log=None):
    """tools/dist_train.sh with 2 CPU processes in a new session (output to ``log`` or a pipe)."""
    return subprocess.Popen(
        ['bash', DIST_TRAIN, config, '2', '--work-dir', str(work_dir), '--cfg-options',
         f'train_dataloader.dataset.data_root={root}', *options],
        env=dict(env, PORT=str(free_port())), cwd=cwd,
        stdout=log if log is not None else subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)


def _kill_session(proc):
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def test_configured_dist_timeout_ends_a_stalled_rank_on_cpu(image_folder, env, tmp_path):
    """Issue 13.6: with one rank SIGSTOPped the gloo path hung for torch's 30 min default
    although env_cfg.dist_cfg.timeout=20 was set."""
    root = image_folder(num_images=16, size=(48, 64))
    # a sleeping rank stalls the others as a stopped one does, and ends at once when torchrun
    # terminates it (a stopped one only after torchrun's 30 s grace period)
    config = write_config(tmp_path, 'stall', [dict(type='StallOnRankHook', rank=1, iter=1,
                                                   stop=False)])
    start = time.monotonic()
    proc = _dist_popen(config, tmp_path / 'wd', root, env, tmp_path,
                       'env_cfg.dist_cfg.timeout=10')
    try:  # ~40 s on an idle 2-core machine; torch's default timeout would be 30 minutes
        log, _ = proc.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        _kill_session(proc)
        pytest.fail('the stalled rank was not timed out within 480 s')
    finally:
        _kill_session(proc)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, log[-3000:]
    assert 'Epoch(train) [1][1/2]' in log
    assert 'rank      : 0 (local_rank: 0)' in log and 'Timed out' in log, log[-3000:]
    assert elapsed < 480, elapsed


def test_workers_die_with_a_killed_launcher(image_folder, env, tmp_path):
    """Issue 13.6: SIGKILLing torchrun left both workers training to the end."""
    import signal
    root = image_folder(num_images=16, size=(48, 64))
    pids = tmp_path / 'pids'
    pids.mkdir()
    config = write_config(tmp_path, 'orphans', [dict(type='PidFileHook', directory=str(pids))])
    log = open(tmp_path / 'log.txt', 'w')  # a full pipe would block the workers
    proc = _dist_popen(config, tmp_path / 'wd', root, env, tmp_path, 'train_cfg.max_epochs=1000',
                       'param_scheduler.0.T_max=1000', 'param_scheduler.0.end=1000', log=log)
    try:
        deadline = time.monotonic() + 300
        while len(list(pids.glob('rank*.pid'))) < 2:
            assert proc.poll() is None, (tmp_path / 'log.txt').read_text()[-3000:]
            assert time.monotonic() < deadline, 'workers did not start within 300 s'
            time.sleep(0.5)
        workers = [int(p.read_text()) for p in pids.glob('rank*.pid')]
        assert all(_alive(pid) for pid in workers)
        os.kill(proc.pid, signal.SIGKILL)  # dist_train.sh execs torchrun: this is torchrun
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), 'workers outlived their launcher'
    finally:
        for pid in [int(p.read_text()) for p in pids.glob('rank*.pid')]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        _kill_session(proc)
        log.close()
