"""detco_mm.fileio: a file is written whole or not at all, on real files (and a real SIGKILL)."""
import os
import os.path as osp
import re
import signal
import stat

import pytest

from detco_mm.fileio import atomic_write, replace_durably, temporary_name


def _killed_mid_write(path: str, **kwargs) -> int:
    """In a forked child, write half of a file through ``atomic_write`` and SIGKILL itself;
    return the signal that ended the child."""
    pid = os.fork()
    if pid == 0:
        try:
            with atomic_write(path, 'wb', **kwargs) as f:
                f.write(b'new-half')
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
                f.write(b'new-rest')
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


@pytest.mark.parametrize('fsync', [False, True])
def test_writes_the_file_and_leaves_nothing_else(tmp_path, fsync):
    path = str(tmp_path / 'out.json')
    with atomic_write(path, 'w', encoding='utf-8', fsync=fsync) as f:
        f.write('{"é": 1}')
        assert not osp.exists(path)  # the final name appears only at the end
    with open(path, encoding='utf-8') as f:
        assert f.read() == '{"é": 1}'
    assert os.listdir(tmp_path) == ['out.json']


@pytest.mark.parametrize('existing', [None, b'old contents'])
def test_killed_mid_write_leaves_the_final_name_as_it_was(tmp_path, existing):
    path = tmp_path / 'epoch_1.pth'
    if existing is not None:
        path.write_bytes(existing)
    assert _killed_mid_write(str(path)) == signal.SIGKILL
    if existing is None:
        assert not path.exists()
    else:
        assert path.read_bytes() == existing
    # the half-written temporary stays behind, under a name no *.pth glob matches
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != 'epoch_1.pth']
    assert len(leftovers) == 1 and leftovers[0].startswith('.epoch_1.pth.tmp-'), leftovers
    assert (tmp_path / leftovers[0]).read_bytes() == b'new-half'


def test_error_in_the_block_keeps_the_existing_file_and_cleans_up(tmp_path):
    path = tmp_path / 'subset.json'
    path.write_bytes(b'previous')
    with pytest.raises(RuntimeError, match='serializer failed'):
        with atomic_write(str(path), 'wb') as f:
            f.write(b'partial')
            raise RuntimeError('serializer failed')
    assert path.read_bytes() == b'previous'
    assert os.listdir(tmp_path) == ['subset.json']


def test_failed_rename_keeps_the_existing_file_and_cleans_up(tmp_path):
    """A directory under the final name: os.replace fails after the data were written."""
    path = tmp_path / 'taken'
    path.mkdir()
    with pytest.raises(OSError):
        with atomic_write(str(path), 'wb', fsync=True) as f:
            f.write(b'data')
    assert path.is_dir() and sorted(os.listdir(tmp_path)) == ['taken']


def test_given_temporary_name_is_used(tmp_path):
    path, part = str(tmp_path / 'backbone.pth'), str(tmp_path / 'backbone.pth.part')
    assert _killed_mid_write(path, tmp=part) == signal.SIGKILL
    assert sorted(os.listdir(tmp_path)) == ['backbone.pth.part']
    with atomic_write(path, 'wb', tmp=part) as f:  # the next write replaces the leftover
        f.write(b'whole')
    assert sorted(os.listdir(tmp_path)) == ['backbone.pth']


def test_unwritable_directory_fails_before_touching_anything(tmp_path):
    missing = tmp_path / 'no' / 'such' / 'dir' / 'out.json'
    with pytest.raises(FileNotFoundError):
        with atomic_write(str(missing), 'w'):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('mode', ['r', 'rb', 'a', 'ab', 'x', 'xb', 'w+', 'r+b'])
def test_modes_other_than_a_truncating_write_are_refused(tmp_path, mode):
    """'x' must not replace an existing file and 'a' / '+' read what is there: a rename over
    the final name can honour neither, so they are refused before anything is written."""
    path = tmp_path / 'kept'
    path.write_text('old')
    with pytest.raises(ValueError, match=re.escape(f"mode {mode!r} is not a truncating write")):
        with atomic_write(str(path), mode):
            pass
    assert path.read_text() == 'old' and os.listdir(tmp_path) == ['kept']


def test_nested_writes_of_one_path_do_not_share_a_temporary(tmp_path):
    path = str(tmp_path / 'out.txt')
    with atomic_write(path, 'w') as outer:
        with atomic_write(path, 'w') as inner:
            inner.write('inner')
        outer.write('outer')
    with open(path) as f:
        assert f.read() == 'outer'  # the last complete write wins
    assert os.listdir(tmp_path) == ['out.txt']


def test_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(tmp_path):
    private = tmp_path / 'private.json'
    private.write_text('{}')
    os.chmod(private, 0o600)
    with atomic_write(str(private), 'w') as f:
        f.write('{"a": 1}')
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    umask = os.umask(0o022)
    try:
        with atomic_write(str(tmp_path / 'new.json'), 'w') as f:
            f.write('{}')
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / 'new.json').st_mode) == 0o644


def test_temporary_name_is_a_hidden_sibling_and_replace_durably_renames(tmp_path):
    path = str(tmp_path / 'last_checkpoint')
    tmp = temporary_name(path)
    assert osp.dirname(tmp) == str(tmp_path)
    assert osp.basename(tmp) == f'.last_checkpoint.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write('epoch_3.pth')
    replace_durably(tmp, path)
    assert os.listdir(tmp_path) == ['last_checkpoint']
    with open(path) as f:
        assert f.read() == 'epoch_3.pth'
