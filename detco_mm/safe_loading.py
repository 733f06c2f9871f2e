"""Safe checkpoint loading: torch's ``weights_only=True`` loader, with messages that help.

torch >= 2.6 loads with ``weights_only=True``, which refuses every pickled global it has not
been told about, and its refusal advises ``weights_only=False``. This module keeps safe loading
on and provides:

- the allow-list of what MMEngine training state holds (:func:`mmengine_safe_globals`):
  :class:`~mmengine.logging.HistoryBuffer`, numpy's array/dtype/scalar reconstruction, and,
  for checkpoints written by stock MMEngine (whose ``HistoryBuffer`` entries are pickled as
  ``getattr(HistoryBuffer, 'min')``), :func:`_history_buffer_statistic` bound to the name
  ``builtins.getattr``: it returns only ``HistoryBuffer``'s registered statistics and refuses
  any other lookup. The real ``getattr`` is never allow-listed;
- :func:`safe_torch_load`, which refuses any other global with :class:`UnsafeCheckpointError`
  naming the file and the globals. Where every one of them is a plain data class, it names the
  opt-in ``DETCO_SAFE_GLOBALS`` for files the user trusts; the opt-in admits classes written
  in Python only (:func:`opt_in_refusal`), never a function, method, module or builtin, and no
  message ever suggests allowing one. Raw pickles and other non-``torch.save`` files get a
  message of our own, not torch's advice to pass ``weights_only=False``.
  ``weights_only=False`` is never used and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` never set;
- MMEngine's loaders, loading safely: :func:`load_local_checkpoint` for local paths and
  :func:`safe_load_url` for checkpoints given as URLs (``http(s)://``, and ``torchvision://``,
  ``open-mmlab://``, ``mmcls://``, which resolve to URLs; mmengine's own ``load_url`` is
  ``torch.hub.load_state_dict_from_url``, which defaults to ``weights_only=False`` even on
  torch 2.14).

:func:`detco_mm.stack_fixes.enable_safe_checkpoint_loading` installs these when
:mod:`detco_mm` is imported: it adds :func:`mmengine_safe_globals` to torch's allow-list, makes
MMEngine's ``HistoryBuffer`` pickle without function references, and puts the two loaders into
MMEngine's loading paths.
"""
import importlib
import inspect
import os
import os.path as osp
import pickle
import re
import sys
from typing import Any, Callable, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SAFE_GLOBALS_ENV = 'DETCO_SAFE_GLOBALS'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled globals that safe loading does not allow."""


def _history_buffer_statistic(obj: Any, name: str) -> Callable:
    """What ``builtins.getattr`` resolves to inside a checkpoint; see the module docstring.

    Stock MMEngine pickles ``HistoryBuffer._statistics_methods`` as
    ``getattr(HistoryBuffer, 'min')`` and the like. Only that form is honoured.

    Raises:
        UnsafeCheckpointError: for any other object or attribute name.
    """
    allowed = _DEFAULT_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'checkpoint calls getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
        f'({", ".join(sorted(allowed))}) may be looked up')


_DEFAULT_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))


def _numpy_globals() -> List[Any]:
    """numpy's array, dtype and scalar reconstruction, under the names numpy 2 pickles."""
    multiarray = importlib.import_module('numpy._core.multiarray')
    dtype_classes = [getattr(np.dtypes, name) for name in np.dtypes.__all__]
    return [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, *dtype_classes]


def mmengine_safe_globals() -> List[Any]:
    """The allow-list: what MMEngine training state pickles, and nothing else.

    Returns:
        List[Any]: ``HistoryBuffer``, numpy's reconstruction (:func:`_numpy_globals`) and
        :func:`_history_buffer_statistic` under the name ``builtins.getattr``, in the form
        ``torch.serialization.add_safe_globals`` takes.
    """
    return [HistoryBuffer, *_numpy_globals(), (_history_buffer_statistic, 'builtins.getattr')]


# Allowing a class lets a checkpoint *call* it with arguments of its choosing (torch's
# weights_only unpickler runs ``cls(*args)`` / ``cls.__new__(cls, *args)`` for allow-listed
# classes), so classes of modules that reach processes, files, sockets, code or imports are
# refused even though they are classes (``subprocess.Popen(cmd)`` runs a command).
_REFUSED_OPT_IN_MODULES = frozenset((
    'builtins', 'os', 'posix', 'nt', 'sys', 'subprocess', 'shutil', 'io', 'pathlib', 'tempfile',
    'socket', 'ssl', 'select', 'selectors', 'signal', 'ctypes', 'multiprocessing', 'concurrent',
    'threading', 'asyncio', 'pty', 'runpy', 'code', 'codeop', 'importlib', 'pkgutil', 'pickle',
    'copyreg', 'marshal', 'shelve', 'dbm', 'timeit', 'pdb', 'bdb', 'trace', 'profile',
    'cProfile', 'webbrowser', 'urllib', 'http', 'ftplib', 'smtplib', 'imaplib', 'poplib',
    'telnetlib', 'xmlrpc', 'zipfile', 'tarfile', 'logging', 'sqlite3', 'inspect', 'types',
    'functools', 'operator', 'gc', 'weakref', 'atexit', 'glob', 'fileinput', 'mmap', 'zipimport'))
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined by a class statement


def opt_in_refusal(item: str, obj: Any) -> Optional[str]:
    """Why ``obj`` (imported for the ``DETCO_SAFE_GLOBALS`` item ``item``) may not be allowed.

    Only classes written in Python (a ``class`` statement in a ``.py`` module) outside the
    modules that reach processes, files, sockets, code execution or imports are admitted:
    never a function, method, module, builtin, C-implemented type, or anything whose object is
    one under another name (``io.open`` *is* ``builtins.open``).

    Returns:
        Optional[str]: None when ``obj`` is admissible, else the reason.
    """
    if not isinstance(obj, type):
        kind = ('a module' if inspect.ismodule(obj) else 'a builtin function' if
                inspect.isbuiltin(obj) else 'a function or method' if callable(obj) else
                f'a {type(obj).__name__} object, not a class')
        return f'{item} is {kind}; only classes can be allowed'
    module = getattr(obj, '__module__', '') or ''
    if not obj.__flags__ & _HEAPTYPE or module == 'builtins':
        return f'{item} is a builtin (C-implemented) type ({module}.{obj.__qualname__})'
    source = getattr(sys.modules.get(module), '__file__', None) or ''
    if not source.endswith('.py'):
        return f'{item} is not a class defined in a Python source file ({module})'
    for name in (module, item.rpartition('.')[0]):
        if name.split('.')[0] in _REFUSED_OPT_IN_MODULES:
            return (f'{item} belongs to {name.split(".")[0]}, whose classes can reach '
                    f'processes, files or code when constructed')
    return None


def _user_safe_globals() -> List[Any]:
    """The classes named in ``DETCO_SAFE_GLOBALS`` (``pkg.module.Class`` items, comma-separated).

    Raises:
        ValueError: for an item that cannot be imported or is not an admissible class
            (:func:`opt_in_refusal`).
    """
    objs = []
    for item in filter(None, (s.strip() for s in os.environ.get(SAFE_GLOBALS_ENV, '').split(','))):
        module, _, name = item.rpartition('.')
        if not module or module == 'builtins':
            raise ValueError(f'{SAFE_GLOBALS_ENV}: {item!r} is not allowed; name classes as '
                             f'package.module.Class (builtins are never allowed)')
        try:
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ValueError(f'{SAFE_GLOBALS_ENV}: cannot import {item!r}: {e}') from e
        reason = opt_in_refusal(item, obj)
        if reason:
            raise ValueError(f'{SAFE_GLOBALS_ENV}: {item!r} is never allowed: {reason}. The '
                             f'opt-in admits only plain data classes written in Python; a '
                             f'checkpoint that needs anything else cannot be loaded safely.')
        objs.append(obj)
    return objs


def safe_torch_load(filename: str, map_location: Any = None) -> Any:
    """``torch.load(..., weights_only=True)`` with a clear error for disallowed globals.

    Args:
        filename (str): Path of the checkpoint file.
        map_location: As in :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict).

    Raises:
        UnsafeCheckpointError: The file holds a global that is not allow-listed, or is not a
            file ``torch.save`` wrote. The message names the file, every such global, and,
            for admissible classes only, the ``DETCO_SAFE_GLOBALS`` opt-in.
    """
    try:
        with torch.serialization.safe_globals(_user_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(_unsafe_message(filename, e)) from None


_TORCH_GLOBAL = re.compile(r'GLOBAL (\S+) was not an allowed global')


_UNCHECKED = 'not checked'


def _classify_global(name: str) -> Optional[str]:
    """None if the pickled global ``name`` could be opted in, else why not.

    Only modules this process has already imported are looked at: importing a module because
    a file names it would run that module's code.
    """
    module, _, attr = name.rpartition('.')
    owner = sys.modules.get(module)
    if owner is None or not hasattr(owner, attr):
        return _UNCHECKED
    return opt_in_refusal(name, getattr(owner, attr))


def _unsafe_message(filename: str, error: Exception) -> str:
    """The refusal message: the file, the offending globals and, if any, the opt-in.

    torch's own text advises ``weights_only=False`` or allow-listing whatever it found
    (functions included); none of it is passed on.
    """
    try:  # lists only the globals that are not allow-listed in this process
        found = list(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # noqa: BLE001  (not a zip checkpoint: legacy format or raw pickle)
        found = []
    text = str(error)
    found += [g for g in _TORCH_GLOBAL.findall(text) if g not in found]
    if not found:
        operand = re.search(r'Unsupported operand (\d+)', text)
        # torch's own text advises weights_only=False; keep only its diagnosis.
        detail = text.split('WeightsUnpickler error:', 1)[-1]
        detail = ' '.join(detail.split('Check the documentation of torch.load')[0].split())
        what = ('it is a raw Python pickle (or another format), not a file written by '
                'torch.save' if operand else f'it cannot be read safely ({detail})')
        return (f'refusing to load {filename}: {what}. Unpickling it could run arbitrary '
                f'code, so detco-mm does not try. If you trust the file, load it where you '
                f'trust it and save its tensors with torch.save (e.g. '
                f'torch.save(dict(state_dict=state_dict), "clean.pth")); see README '
                f'"Troubleshooting".')
    refused = {g: _classify_global(g) for g in found}
    never = [reason for reason in refused.values() if reason not in (None, _UNCHECKED)]
    unchecked = [g for g, reason in refused.items() if reason == _UNCHECKED]
    classes = [g for g, reason in refused.items() if reason is None]
    head = (f'refusing to load {filename}: it holds pickled objects that are not plain tensors '
            f'or MMEngine training state ({", ".join(found)}). Loading them could run '
            f'arbitrary code.')
    if never:
        return (f'{head} These can never be allowed: {"; ".join(never)}. Load the file only '
                f'where you trust it and save its tensors with torch.save (e.g. '
                f'torch.save(dict(state_dict=state_dict), "clean.pth")); see README '
                f'"Troubleshooting".')
    if unchecked:
        return (f'{head} {", ".join(unchecked)}: not checked (detco-mm does not import the '
                f'modules a file names). {SAFE_GLOBALS_ENV} admits only data classes written '
                f'in Python, never functions or builtins; if the file needs anything else, '
                f'load it only where you trust it and save its tensors with torch.save; see '
                f'README "Troubleshooting".')
    return (f'{head} If you trust this file, allow exactly these classes with '
            f'{SAFE_GLOBALS_ENV}={",".join(classes)}; see README "Troubleshooting".')


def load_local_checkpoint(filename: str, map_location: Any = None) -> Any:
    """MMEngine's loader for local paths (scheme ``''``), loading safely."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def safe_load_url(url: str, model_dir: Optional[str] = None, map_location: Any = None,
                  progress: bool = True, **kwargs: Any) -> Any:
    """mmengine's ``load_url`` (download once into torch's hub cache), loading safely.

    Args:
        url (str): URL of the checkpoint.
        model_dir (str, optional): Cache directory; torch hub's ``checkpoints/`` by default.
        map_location: As in :func:`torch.load`.
        progress (bool): Show a download progress bar.

    Raises:
        UnsafeCheckpointError: As :func:`safe_torch_load`, naming the downloaded file.
    """
    from urllib.parse import urlparse
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(url, cached, progress=progress)
    return safe_torch_load(cached, map_location=map_location)
