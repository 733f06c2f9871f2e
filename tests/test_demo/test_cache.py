"""detco_mm.demo.cache: built once into a temporary directory, verified on every use; a
directory that is not a finished build is refused, never used and never deleted."""
import json
import os
import subprocess

import pytest

from detco_mm.demo.cache import MANIFEST, DemoDataError, build_cached, read_manifest


def write_files(n=3, fail_after=None):
    """A build function writing ``n`` files, raising after ``fail_after`` of them."""
    def build(directory):
        os.makedirs(os.path.join(directory, 'sub'))
        for i in range(n):
            if fail_after is not None and i == fail_after:
                raise KeyboardInterrupt('interrupted mid-build')
            with open(os.path.join(directory, 'sub', f'f{i}.txt'), 'w') as f:
                f.write(f'file {i}\n')
    return build


def tree(root):
    out = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_build_then_reuse(tmp_path):
    root = str(tmp_path / 'set')
    messages = []
    assert build_cached(root, {'n': 3}, write_files(), log=messages.append, what='test set')
    manifest = read_manifest(root)
    assert manifest['key'] == {'n': 3} and manifest['num_files'] == 3
    assert sorted(manifest['files']) == ['sub/f0.txt', 'sub/f1.txt', 'sub/f2.txt']
    assert 'test set: built' in messages[-1]
    # nothing left beside it
    assert sorted(os.listdir(tmp_path)) == ['set']

    def must_not_build(directory):
        raise AssertionError('a valid cache was rebuilt')
    assert not build_cached(root, {'n': 3}, must_not_build, log=messages.append,
                            what='test set')
    assert 'using the cached' in messages[-1]


def test_manifest_has_no_time_or_path(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b' / 'elsewhere')
    build_cached(a, {'n': 2}, write_files(2), log=lambda m: None)
    build_cached(b, {'n': 2}, write_files(2), log=lambda m: None)
    assert tree(a) == tree(b)
    with open(os.path.join(a, MANIFEST)) as f:
        text = f.read()
    assert str(tmp_path) not in text


def test_interrupted_build_leaves_no_data_set(tmp_path):
    root = str(tmp_path / 'set')
    with pytest.raises(KeyboardInterrupt):
        build_cached(root, {'n': 3}, write_files(fail_after=2), log=lambda m: None)
    assert os.listdir(tmp_path) == []


def test_leftover_partial_directory_is_removed(tmp_path):
    """A build killed before its rename leaves `.set.partial-<pid>`: removed, then built; the
    directory of a build still running (its pid alive) is left alone."""
    dead = subprocess.Popen(['true'])  # a pid that has exited
    dead.wait()
    partial = tmp_path / f'.set.partial-{dead.pid}'
    (partial / 'sub').mkdir(parents=True)
    (partial / 'sub' / 'f0.txt').write_text('half')
    running = tmp_path / f'.set.partial-{os.getppid()}'
    running.mkdir()
    messages = []
    assert build_cached(str(tmp_path / 'set'), {'n': 3}, write_files(), log=messages.append)
    assert not partial.exists() and running.is_dir()
    assert messages[0] == f'removing {partial}: left behind by an interrupted build'
    assert read_manifest(str(tmp_path / 'set'))['num_files'] == 3


@pytest.mark.parametrize('manifest', [None, '{"format": "detco_mm.demo.cache/1", "key": {}',
                                      '{"something": "else"}'])
def test_directory_without_a_valid_manifest_is_refused(tmp_path, manifest):
    root = tmp_path / 'set'
    build_cached(str(root), {'n': 3}, write_files(), log=lambda m: None)
    if manifest is None:
        (root / MANIFEST).unlink()
    else:
        (root / MANIFEST).write_text(manifest)
    before = tree(root)
    with pytest.raises(DemoDataError, match=f'{root} exists but is not a finished demo data set: '
                       f'it has no valid {MANIFEST}'):
        build_cached(str(root), {'n': 3}, write_files(), log=lambda m: None)
    assert tree(root) == before  # not used, not deleted


@pytest.mark.parametrize('damage', ['truncate', 'delete', 'add'])
def test_damaged_data_set_is_rebuilt(tmp_path, damage):
    root = tmp_path / 'set'
    build_cached(str(root), {'n': 3}, write_files(), log=lambda m: None)
    good = tree(root)
    if damage == 'truncate':
        (root / 'sub' / 'f1.txt').write_text('')
        expected = 'sub/f1.txt: changed'
    elif damage == 'delete':
        (root / 'sub' / 'f1.txt').unlink()
        expected = 'sub/f1.txt: missing'
    else:
        (root / 'sub' / 'extra.txt').write_text('x')
        expected = 'sub/extra.txt: not in the manifest'
    messages = []
    assert build_cached(str(root), {'n': 3}, write_files(), log=messages.append)
    assert f'does not match its manifest (1 problem, e.g. {expected}); rebuilding it' in \
        messages[0]
    assert tree(root) == good
    assert sorted(os.listdir(tmp_path)) == ['set']


def test_other_settings_rebuild(tmp_path):
    root = str(tmp_path / 'set')
    build_cached(root, {'n': 3, 'seed': 0}, write_files(), log=lambda m: None)
    messages = []
    assert build_cached(root, {'n': 2, 'seed': 0}, write_files(2), log=messages.append)
    assert 'made with other settings (n); rebuilding it' in messages[0]
    with open(os.path.join(root, MANIFEST)) as f:
        manifest = json.load(f)
    assert manifest['key'] == {'n': 2, 'seed': 0} and manifest['num_files'] == 2
    assert sorted(os.listdir(tmp_path)) == ['set']
