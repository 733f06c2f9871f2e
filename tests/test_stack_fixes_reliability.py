"""Stack fixes for reliability: atomic checkpoint writes and safe loading of URLs (the scan
for code that turns safe loading off is in test_safe_loading.py)."""
import builtins
import errno
import glob
import os
import os.path as osp
import pickle
import signal
from types import SimpleNamespace

import mmengine.runner.runner
import pytest
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import _load_checkpoint, find_latest_checkpoint

import detco_mm  # noqa: F401
from detco_mm.safe_loading import UnsafeCheckpointError


def _in_child(fn) -> int:
    """Run ``fn`` in a forked child; return the signal that ended it (0 if it exited)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


def _put_half_then(action):
    """A LocalBackend.put that writes half of the bytes, then ``action()`` (dies or raises)."""
    def put(self, obj, filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
            f.flush()
            action()
    return put


def _sigkill():
    os.kill(os.getpid(), signal.SIGKILL)


def _checkpoint(value: float) -> dict:
    return dict(meta=dict(epoch=1), state_dict=dict(w=torch.full((64, 64), value)))


@pytest.mark.parametrize('existing', [False, True], ids=['new_file', 'overwrite'])
def test_checkpoint_write_killed_midway_leaves_no_truncated_file(tmp_path, monkeypatch,
                                                                 existing):
    path = str(tmp_path / 'epoch_2.pth')
    if existing:
        mmengine.runner.runner.save_checkpoint(_checkpoint(1.0), path)

    def write_and_die():
        monkeypatch.setattr(LocalBackend, 'put', _put_half_then(_sigkill))
        # the binding Runner.save_checkpoint calls
        mmengine.runner.runner.save_checkpoint(_checkpoint(2.0), path)

    assert _in_child(write_and_die) == signal.SIGKILL
    assert glob.glob(str(tmp_path / '*.pth')) == ([path] if existing else [])
    if existing:  # the complete previous version, never a mix
        assert torch.equal(_load_checkpoint(path)['state_dict']['w'], torch.full((64, 64), 1.))
    # what remains is a hidden temporary file that nothing loads ...
    (leftover, ) = glob.glob(str(tmp_path / '.*'))
    assert osp.basename(leftover).startswith('.epoch_2.pth.tmp-')
    # ... and that the next save of that checkpoint (after --resume) removes
    mmengine.runner.runner.save_checkpoint(_checkpoint(3.0), path)
    assert os.listdir(tmp_path) == ['epoch_2.pth']
    assert torch.equal(_load_checkpoint(path)['state_dict']['w'], torch.full((64, 64), 3.))


def test_checkpoint_write_error_keeps_previous_file_and_cleans_up(tmp_path, monkeypatch):
    path = str(tmp_path / 'epoch_1.pth')
    mmengine.runner.runner.save_checkpoint(_checkpoint(1.0), path)

    def disk_full():
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(LocalBackend, 'put', _put_half_then(disk_full))
    with pytest.raises(OSError, match='No space left'):
        mmengine.runner.runner.save_checkpoint(_checkpoint(2.0), path)
    assert os.listdir(tmp_path) == ['epoch_1.pth']
    assert torch.equal(_load_checkpoint(path)['state_dict']['w'], torch.full((64, 64), 1.))


def test_remote_checkpoints_keep_mmengine_behaviour(monkeypatch):
    calls = []
    monkeypatch.setattr('detco_mm.stack_fixes._original_save_checkpoint',
                        lambda *args, **kwargs: calls.append(args[1]))
    monkeypatch.setattr('detco_mm.stack_fixes.get_file_backend', lambda *a, **k: object())
    mmengine.runner.runner.save_checkpoint(_checkpoint(1.0), 's3://bucket/epoch_1.pth')
    assert calls == ['s3://bucket/epoch_1.pth']


def test_last_checkpoint_write_killed_midway_keeps_previous(tmp_path, monkeypatch):
    """CheckpointHook writes work_dir/last_checkpoint after each checkpoint; a kill during
    that write must leave the previous content, not an empty file."""
    hook = CheckpointHook(interval=1)
    hook.out_dir, hook.filename_tmpl = str(tmp_path), 'epoch_{}.pth'
    hook.file_backend = get_file_backend(str(tmp_path))
    runner = SimpleNamespace(work_dir=str(tmp_path), save_checkpoint=lambda *a, **k: None,
                             message_hub=MessageHub.get_instance('test_last_checkpoint'))
    hook._save_checkpoint_with_step(runner, 1, dict(epoch=1))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')

    real_open = builtins.open

    class DieOnWrite:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            _sigkill()

    def open_that_dies(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if 'last_checkpoint' in osp.basename(str(file)) and 'w' in mode:
            return DieOnWrite(f)
        return f

    def save_and_die():
        monkeypatch.setattr(builtins, 'open', open_that_dies)
        hook._save_checkpoint_with_step(runner, 2, dict(epoch=2))

    assert _in_child(save_and_die) == signal.SIGKILL
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    hook._save_checkpoint_with_step(runner, 2, dict(epoch=2))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.last_checkpoint.tmp-')
                and n.endswith(f'-{os.getpid()}')]


class _Payload:
    """Unpickling it creates a file: a stand-in for code a crafted checkpoint would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_checkpoint_urls_are_loaded_safely(tmp_path, monkeypatch):
    """``load_from``/``Pretrained`` URLs (and torchvision://, open-mmlab://) go through
    torch.hub, whose loader defaults to weights_only=False: a crafted file would run code."""
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    cache = tmp_path / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    marker = tmp_path / 'code_ran'
    torch.save(dict(state_dict=dict(w=torch.ones(1)), extra=_Payload(str(marker))),
               cache / 'evil.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(1))), cache / 'plain.pth')
    with pytest.raises(UnsafeCheckpointError, match=f'refusing to load {cache / "evil.pth"}'):
        _load_checkpoint('https://example.invalid/models/evil.pth', map_location='cpu')
    assert not marker.exists()
    ckpt = _load_checkpoint('https://example.invalid/models/plain.pth', map_location='cpu')
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(1))


def test_payload_really_runs_code_when_unpickled(tmp_path):
    """Keeps the URL test honest: without safe loading the payload does run."""
    marker = tmp_path / 'ran'
    pickle.loads(pickle.dumps(_Payload(str(marker)))).close()
    assert marker.exists()
