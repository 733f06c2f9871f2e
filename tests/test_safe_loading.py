"""detco_mm.safe_loading: what safe loading refuses, the messages it gives, the opt-in, and no
code path of the project that turns safe loading off.

How the stack fixes install it into MMEngine's loaders is tested in test_stack_fixes*.py.
"""
import ast
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer

import detco_mm  # noqa: F401
from detco_mm.safe_loading import UnsafeCheckpointError, safe_torch_load

from conftest import REPO_ROOT


class _GetattrWalk:
    """Pickles as getattr(HistoryBuffer, '__init__'): the first step of a gadget chain."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _RunsCode:
    """Pickles as a call of os.system: what a hostile checkpoint does."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.marker}', )


def test_getattr_beyond_history_buffer_statistics_is_refused(tmp_path):
    path = str(tmp_path / 'walk.pth')
    torch.save(dict(x=_GetattrWalk()), path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r"__init__'\); only HistoryBuffer statistics "
                             r"\(current, max, mean, min\)"):
        safe_torch_load(path, map_location='cpu')


def test_foreign_global_is_refused_and_named(tmp_path):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=_RunsCode(str(marker))), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(path, map_location='cpu')
    message = str(info.value)
    assert path in message and 'posix.system' in message
    # a function can never be opted in, and the message must not suggest it
    assert 'DETCO_SAFE_GLOBALS' not in message and 'can never be allowed' in message
    assert not marker.exists()
    assert isinstance(info.value, pickle.UnpicklingError)


def test_safe_globals_opt_in_names_exact_classes(tmp_path, monkeypatch):
    import argparse
    path = str(tmp_path / 'ns.pth')
    torch.save(dict(meta=argparse.Namespace(a=1)), path)
    with pytest.raises(UnsafeCheckpointError, match='argparse.Namespace'):
        safe_torch_load(path, map_location='cpu')
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', 'argparse.Namespace')
    assert safe_torch_load(path, map_location='cpu')['meta'].a == 1
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', 'builtins.getattr')
    with pytest.raises(ValueError, match='builtins are never allowed'):
        safe_torch_load(path, map_location='cpu')


class _OpensFile:
    """Pickles as ``io.open(marker, 'w')`` (io.open *is* builtins.open)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import io
        return io.open, (self.marker, 'w')


class _Timeit:
    """Pickles as ``timeit.timeit(code)``: runs code when unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import timeit
        return timeit.timeit, (f'open({self.marker!r}, "w")', 'pass', None, 1)


@pytest.mark.parametrize('payload,opt_in', [(_OpensFile, 'io.open'), (_Timeit, 'timeit.timeit'),
                                            (_OpensFile, 'io.FileIO'),
                                            (_Timeit, 'timeit.Timer'),
                                            (_OpensFile, 'subprocess.Popen'),
                                            (_OpensFile, 'os.path')])
def test_opt_in_admits_no_callable_or_builtin(tmp_path, monkeypatch, payload, opt_in):
    """Issue 13.1: DETCO_SAFE_GLOBALS=io.open let a checkpoint open a file for writing."""
    marker = tmp_path / 'written'
    path = str(tmp_path / 'crafted.pth')
    torch.save(dict(state_dict={}, meta=payload(str(marker))), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(path, map_location='cpu')
    assert 'DETCO_SAFE_GLOBALS' not in str(info.value)  # never suggests allowing a callable
    assert 'weights_only' not in str(info.value)
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', opt_in)
    with pytest.raises(ValueError, match=f"DETCO_SAFE_GLOBALS: '{opt_in}' is never allowed"):
        safe_torch_load(path, map_location='cpu')
    assert not marker.exists()


def test_raw_and_legacy_pickles_get_our_message(tmp_path, monkeypatch):
    """No "weights_only=False will likely succeed", no "(Unsupported operand 149)"."""
    import argparse
    raw = tmp_path / 'raw.pkl'
    raw.write_bytes(pickle.dumps(dict(w=[1.0, 2.0]), protocol=4))
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(str(raw), map_location='cpu')
    message = str(info.value)
    assert f'refusing to load {raw}: it is a raw Python pickle' in message
    assert 'weights_only' not in message and 'operand' not in message
    legacy = str(tmp_path / 'legacy.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=argparse.Namespace(a=1)), legacy,
               _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(legacy, map_location='cpu')
    message = str(info.value)
    assert 'argparse.Namespace' in message and 'DETCO_SAFE_GLOBALS=argparse.Namespace' in message
    assert 'weights_only' not in message and 'add_safe_globals' not in message
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', 'argparse.Namespace')
    assert safe_torch_load(legacy, map_location='cpu')['meta'].a == 1


def test_refusal_does_not_import_modules_the_file_names(tmp_path, monkeypatch):
    """Judging a global must not import its module (an import runs the module's code)."""
    import sys
    import types
    name = 'detco_test_side_effect_module'
    fake = types.ModuleType(name)  # in sys.modules while saving only: pickle imports it

    class Fly:
        pass

    Fly.__module__, Fly.__qualname__ = name, 'Fly'
    fake.Fly = Fly
    monkeypatch.setitem(sys.modules, name, fake)
    path = str(tmp_path / 'names_a_module.pth')
    torch.save(dict(meta=Fly()), path)
    monkeypatch.delitem(sys.modules, name)
    marker = tmp_path / 'imported'
    (tmp_path / f'{name}.py').write_text(f'open({str(marker)!r}, "w").close()\nclass Fly: pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnsafeCheckpointError, match=f'{name}.Fly: not checked'):
        safe_torch_load(path, map_location='cpu')
    assert not marker.exists() and name not in sys.modules


# ----------------------------------------------------------------------------- code scan
def _project_files(*suffixes, names=()):
    """The project's own files (not tests, not the virtualenv) by suffix or exact name."""
    skip = {'.venv', '.git', 'tests', 'work_dirs', 'data', 'build', 'dist'}
    for dirpath, dirnames, filenames in os.walk(REPO_ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.endswith('.egg-info')]
        for name in filenames:
            if name.endswith(suffixes) or name in names:
                yield osp.join(dirpath, name)


def _docstrings(tree):
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(
        n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return {id(n.body[0].value) for n in nodes
            if n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}


def unsafe_loading_in(source: str) -> list:
    """Code (not docs) that loads pickles without ``weights_only=True`` or disables it."""
    tree = ast.parse(source)
    docs, found = _docstrings(tree), []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' in node.value and id(node) not in docs):
            found.append(f'line {node.lineno}: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        weights_only = [k.value for k in node.keywords if k.arg == 'weights_only']
        if any(not (isinstance(v, ast.Constant) and v.value is True) for v in weights_only):
            found.append(f'line {node.lineno}: {name}(weights_only={ast.unparse(weights_only[0])})')
        elif name.endswith('torch.load') and not weights_only:
            found.append(f'line {node.lineno}: torch.load without weights_only=True')
        elif name in ('pickle.load', 'pickle.loads', 'pickle.Unpickler'):
            found.append(f'line {node.lineno}: {name}')
    return found


def test_scan_finds_what_it_looks_for():
    bad = ('import os, pickle, torch\n'
           'torch.load(f, weights_only=False)\n'
           'torch.load(f)\n'
           'pickle.loads(b)\n'
           "os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'\n")
    assert len(unsafe_loading_in(bad)) == 4
    good = ('"""Never sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD or weights_only=False."""\n'
            'import torch\n'
            'torch.load(f, map_location="cpu", weights_only=True)\n')
    assert unsafe_loading_in(good) == []


def test_no_code_path_disables_safe_loading():
    """Every python file of the package, tools and configs loads checkpoints with
    weights_only=True only; no file sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD."""
    found = {}
    for path in _project_files('.py'):
        with open(path, encoding='utf-8') as f:
            problems = unsafe_loading_in(f.read())
        if problems:
            found[osp.relpath(path, REPO_ROOT)] = problems
    for path in _project_files('.sh', '.cfg', '.toml', '.txt', names=('Makefile', 'run')):
        with open(path, encoding='utf-8', errors='replace') as f:
            if 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' in f.read():
                found[osp.relpath(path, REPO_ROOT)] = ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD']
    assert not found, found
    assert len(list(_project_files('.py'))) > 20  # the scan saw the project
