"""Every workaround detco-mm needs for its pinned stack, in one place.

The stack (torch 2.14, numpy 2, mmengine 0.10.7, mmcv 2.0.1, mmselfsup 1.0.0) does not run
as published; each fix below describes the trap it works around. The
fixes below are applied once, when :mod:`detco_mm` is imported (:func:`apply_all`), and each
names the upstream change that makes it unnecessary, so that dropping one later touches this
file only. Safe checkpoint loading lives elsewhere on purpose: it is a feature of its own
(:mod:`detco_mm.safe_loading`, also used by the exporter and the fine-tune runner); fix 3
only installs it.

1. :func:`fix_mmselfsup_registry_locations` -- MMSelfSup 1.0.0's ``RUNNERS``,
   ``RUNNER_CONSTRUCTORS`` and ``LOOPS`` point at the non-existent ``mmselfsup.engine.runner``,
   so a Runner with ``default_scope='mmselfsup'`` dies in ``build_train_loop``. Fixed upstream
   after the 1.0.0 release (``locations=['mmselfsup.engine']``).
2. :func:`fix_adjust_hue` -- mmcv 2.0.1's ``adjust_hue`` computes ``np.uint8(hue_factor * 255)``,
   which numpy 2 rejects for negative shifts, so MMSelfSup's stock MoCo v2 ``ColorJitter`` fails
   on about half the images. The replacement shifts the hue by ``int(hue_factor * 255) % 256``,
   the uint8 wrap-around numpy 1 produced. Fixed in mmcv >= 2.2 (blocked for us by mmselfsup's
   ``mmcv < 2.1`` assert).
3. :func:`enable_safe_checkpoint_loading` -- torch >= 2.6 loads with ``weights_only=True`` and
   mmengine 0.10.7 does not say which globals its checkpoints need. Safe loading itself (the
   allow-list, ``DETCO_SAFE_GLOBALS``, :class:`~detco_mm.safe_loading.UnsafeCheckpointError`
   and its messages) is the feature :mod:`detco_mm.safe_loading`; this fix installs it:

   - pickle :class:`~mmengine.logging.HistoryBuffer` without its table of statistics methods
     (it is a class attribute, rebuilt by ``__setstate__``), so checkpoints we write hold no
     function references at all;
   - add :func:`~detco_mm.safe_loading.mmengine_safe_globals` (``HistoryBuffer``, numpy's
     array/dtype/scalar reconstruction, the restricted ``builtins.getattr`` that reads
     checkpoints written by stock MMEngine) to torch's allow-list;
   - make MMEngine load local paths with :func:`~detco_mm.safe_loading.load_local_checkpoint`
     and URLs (``http(s)://``, ``torchvision://``, ``open-mmlab://``, ``mmcls://``) with
     :func:`~detco_mm.safe_loading.safe_load_url` instead of its ``load_url``
     (``torch.hub.load_state_dict_from_url``, ``weights_only=False`` by default even on
     torch 2.14). ``weights_only=False`` is never used and
     ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` never set.

   Upstream: mmengine has no release that passes ``weights_only``.
4. :func:`fix_collate_fn_scope` -- configs that inherit an upstream config through
   ``mmselfsup::`` get ``_scope_`` added to every dict with a ``type``, including
   ``train_dataloader.collate_fn``; ``Runner.build_dataloader`` passes it on to the collate
   function (``default_collate() got an unexpected keyword argument '_scope_'``). We drop that
   key before the Runner builds the loader. Unfixed in mmengine 0.10.7.
5. :func:`prepare_distributed` -- MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and
   its DDP wrapper passes ``device_ids=[LOCAL_RANK]``, both fatal without a GPU. On a machine
   without CUDA we start a ``gloo`` process group ourselves, with the config's
   ``env_cfg.dist_cfg.timeout``, and wrap without ``device_ids``. Under torchrun every worker
   also gets a parent-death signal (torch's launcher leaves its workers running when it is
   killed itself). It needs the run's config (its ``launcher``) and starts a process group, so
   it is installed in ``Runner.from_cfg`` (:func:`fix_distributed_without_cuda`), which every
   runner built from a config goes through (``RUNNERS.build``, ``DetCoFinetuneRunner``,
   ``tools/train.py``); a Runner constructed directly is not covered. Unfixed in torch 2.14 /
   mmengine 0.10.7.
6. :func:`enable_atomic_checkpoints` -- MMEngine writes a checkpoint with
   ``open(path, 'wb').write(...)`` and ``work_dir/last_checkpoint`` with ``open(path, 'w')``:
   a process killed (or a disk filling up) during either write leaves a truncated checkpoint
   under its final name, or an empty ``last_checkpoint``, which ``--resume`` then fails on.
   We write both to a temporary file in the same directory, ``fsync`` it, and
   ``os.replace`` it over the final name (atomic on POSIX; :mod:`detco_mm.fileio`), so a file
   with a final name is always complete and ``last_checkpoint`` always names the last complete
   checkpoint.
   ``mmengine.runner.runner`` imported ``save_checkpoint`` by name: that binding is the one
   replaced. A temporary file left by a killed writer is deleted by the next save of the
   same checkpoint name. Unfixed in mmengine 0.10.7.
7. :func:`fix_numpy_in1d` -- cityscapesscripts 2.3 (used by MMDetection's ``CityScapesMetric``)
   calls ``np.in1d``, which numpy 2.4 removed: a Cityscapes fine-tune would die at its first
   evaluation. ``np.in1d`` is restored as the flattening ``np.isin`` it was defined as.
   Unfixed in cityscapesscripts 2.3.0.
8. :func:`fix_fused_sgd_under_fp16_amp` -- with MMEngine's ``AmpOptimWrapper`` in fp16 (its
   default dtype), torch's fused SGD (our configs' ``fused=True``) turned every DetCo loss term
   NaN within 7 iterations on an H100 (torch 2.11), while the same run with the for-each SGD, or
   in bf16, trained normally. GradScaler skips the first, overflowing steps; the fused kernel
   does not survive that here. In fp16 AMP the optimizer therefore falls back to the for-each
   update (on CUDA the difference in speed is small; fusion matters on CPU, where AMP does not
   run). Logged when it happens.
"""
import builtins
import contextlib
import copy
import datetime
import glob
import logging
import os
import os.path as osp
import signal
import sys
from typing import Any, Optional

import cv2
import mmcv
import mmcv.image
import mmcv.image.photometric
import mmengine.hooks.checkpoint_hook
import mmengine.runner.runner
import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mmengine_checkpoint
from PIL import Image

from .fileio import atomic_write, replace_durably, temporary_name
from .safe_loading import load_local_checkpoint, mmengine_safe_globals, safe_load_url


# --------------------------------------------------------------------------- 1. registries
def fix_mmselfsup_registry_locations() -> None:
    """Point MMSelfSup's runner, runner-constructor and loop registries at ``mmselfsup.engine``."""
    from mmselfsup import registry
    for reg in (registry.RUNNERS, registry.RUNNER_CONSTRUCTORS, registry.LOOPS):
        if reg._locations == ['mmselfsup.engine.runner']:
            reg._locations = ['mmselfsup.engine']


# --------------------------------------------------------------------------- 2. adjust_hue
_original_adjust_hue = mmcv.image.photometric.adjust_hue


def adjust_hue(img: np.ndarray, hue_factor: float, backend: Optional[str] = None) -> np.ndarray:
    """mmcv's ``adjust_hue`` with the uint8 wrap-around of negative hue shifts restored.

    Args:
        img (np.ndarray): Image of shape (H, W, 3), BGR channel order as in mmcv.
        hue_factor (float): Hue shift in [-0.5, 0.5] of a full turn.
        backend (str, optional): ``'cv2'`` or ``'pillow'``; None uses mmcv's imread backend.

    Returns:
        np.ndarray: The hue-adjusted image, same shape and dtype as ``img``.
    """
    if hue_factor >= 0:  # non-negative shifts never hit the bug: keep mmcv's exact code path
        return _original_adjust_hue(img, hue_factor, backend=backend)
    if not -0.5 <= hue_factor:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = np.uint8(int(hue_factor * 255) % 256)
    backend = backend or mmcv.image.photometric.imread_backend
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        h, s, v = Image.fromarray(img[..., ::-1], mode='RGB').convert('HSV').split()
        h = Image.fromarray(np.asarray(h, dtype=np.uint8) + shift, 'L')
        rgb = Image.merge('HSV', (h, s, v)).convert('RGB')
        return np.array(rgb, dtype=img.dtype)[..., ::-1]
    if backend != 'cv2':
        raise ValueError(f"backend: {backend} is not supported. Supported backends are 'cv2', "
                         "'pillow'")
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    hsv[..., 0] += shift  # uint8 addition wraps around the hue circle
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


def fix_adjust_hue() -> None:
    """Rebind ``adjust_hue`` everywhere the stack imported mmcv's broken one by name."""
    import mmselfsup.datasets.transforms.processing as selfsup_processing
    for module in (mmcv, mmcv.image, mmcv.image.photometric, selfsup_processing):
        if getattr(module, 'adjust_hue', None) is _original_adjust_hue:
            module.adjust_hue = adjust_hue


# --------------------------------------------------------------------------- 3. safe loading
def _history_buffer_getstate(self: HistoryBuffer) -> dict:
    """Pickle a ``HistoryBuffer`` without the class-level table of statistics methods."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def enable_safe_checkpoint_loading() -> None:
    """Install :mod:`detco_mm.safe_loading` into torch's allow-list and MMEngine's loaders."""
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    torch.serialization.add_safe_globals(mmengine_safe_globals())
    mmengine_checkpoint.CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)
    # load_from_http (also behind torchvision://, open-mmlab://, mmcls://) calls this name.
    mmengine_checkpoint.load_url = safe_load_url


# --------------------------------------------------------------------------- 4. collate_fn scope
_original_build_dataloader = Runner.build_dataloader


def _build_dataloader(dataloader: Any, seed: Optional[int] = None,
                      diff_rank_seed: bool = False) -> Any:
    """``Runner.build_dataloader`` without the config's ``_scope_`` in ``collate_fn``."""
    collate_fn = dataloader.get('collate_fn') if isinstance(dataloader, dict) else None
    if isinstance(collate_fn, dict) and '_scope_' in collate_fn:
        dataloader = copy.copy(dataloader)
        dataloader['collate_fn'] = {k: v for k, v in collate_fn.items() if k != '_scope_'}
    return _original_build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)


def fix_collate_fn_scope() -> None:
    """Install :func:`_build_dataloader` as ``Runner.build_dataloader``."""
    Runner.build_dataloader = staticmethod(_build_dataloader)


# --------------------------------------------------------------------------- 5. CPU distributed
def dist_timeout(cfg: Any) -> Optional[datetime.timedelta]:
    """``env_cfg.dist_cfg.timeout`` (seconds) as a timedelta, None when not configured."""
    dist_cfg = (cfg.get('env_cfg') or {}).get('dist_cfg') or {}
    timeout = dist_cfg.get('timeout') if isinstance(dist_cfg, dict) else None
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        return timeout
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(f'env_cfg.dist_cfg.timeout={timeout!r}: give the timeout in seconds, '
                         f'e.g. env_cfg.dist_cfg.timeout=1800') from None
    if seconds <= 0:
        raise ValueError(f'env_cfg.dist_cfg.timeout={timeout!r}: must be > 0 seconds')
    return datetime.timedelta(seconds=seconds)


_PR_SET_PDEATHSIG = 1


_PARENT_AT_START = os.getppid()  # the launcher, for a worker (imported at its start)


def die_with_launcher(sig: int = signal.SIGTERM) -> bool:
    """End this process with ``sig`` when its parent (torchrun) dies; Linux only.

    torchrun's workers are plain child processes: when torchrun itself is killed (SIGKILL, the
    OOM killer, a lost session), they are re-parented and keep training -- holding GPUs and
    writing checkpoints -- to the end. ``prctl(PR_SET_PDEATHSIG)`` makes the kernel signal
    the worker when the launcher exits (torchrun starts its workers from its main thread, the
    one whose exit counts). If the launcher died before this call, the parent pid differs
    from the one at import time and the signal is sent right away.

    Returns:
        bool: Whether the parent-death signal is installed.
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != _PARENT_AT_START:  # the launcher died before prctl took effect
        os.kill(os.getpid(), sig)
    return True


def prepare_distributed(cfg: Any) -> None:
    """Make ``launcher='pytorch'`` runs safe on any machine, and work without CUDA.

    - Every worker of a launcher ends when the launcher dies (:func:`die_with_launcher`).
    - On a machine without CUDA, start a ``gloo`` process group from torchrun's environment
      (MMEngine then skips its CUDA-only ``init_dist``), with the configured
      ``env_cfg.dist_cfg.timeout`` (MMEngine's ``init_dist`` honours it on CUDA; without it a
      stalled rank blocks the others for torch's default of 30 minutes), and wrap the model in
      DDP without ``device_ids``. With CUDA, or without a launcher, nothing else changes.

    Args:
        cfg (mmengine.Config | dict): The run's config (``launcher`` unset means ``'none'``).
            Modified in place: on a machine without CUDA, ``model_wrapper_cfg`` is set.
    """
    if cfg.get('launcher', 'none') != 'pytorch':
        return
    die_with_launcher()
    timeout = dist_timeout(cfg)  # validated on CUDA too: init_dist would fail later
    if torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        kwargs = dict(timeout=timeout) if timeout is not None else {}
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper['device_ids'] = None
    cfg['model_wrapper_cfg'] = wrapper


def fix_distributed_without_cuda() -> None:
    """Make ``Runner.from_cfg`` call :func:`prepare_distributed` first, on a copy of the config.

    ``Runner.from_cfg`` deep-copies its config before building, so the copy made here leaves
    the caller's config as it was (the runner's ``cfg`` holds the ``model_wrapper_cfg``
    set). Subclasses that override ``from_cfg`` and call ``super().from_cfg``
    (``DetCoFinetuneRunner``) get it too.
    """
    original = Runner.__dict__['from_cfg'].__func__
    if getattr(original, '_detco_fixed', False):
        return

    def from_cfg(cls: type, cfg: Any) -> Runner:
        if cfg.get('launcher', 'none') == 'pytorch':
            cfg = copy.deepcopy(cfg)
            prepare_distributed(cfg)
        return original(cls, cfg)

    from_cfg.__doc__ = original.__doc__
    from_cfg._detco_fixed = True
    Runner.from_cfg = classmethod(from_cfg)


# --------------------------------------------------------------------------- 6. atomic writes
_original_save_checkpoint = mmengine_checkpoint.save_checkpoint


def _remove_stale_temporaries(path: str) -> None:
    """Delete what a writer of ``path`` killed mid-write left (only rank 0 writes a path)."""
    directory, name = osp.split(osp.abspath(path))
    for stale in glob.glob(osp.join(glob.escape(directory), f'.{glob.escape(name)}.tmp-*')):
        with contextlib.suppress(OSError):
            os.remove(stale)


def atomic_save_checkpoint(checkpoint: dict, filename: str, file_client_args: Any = None,
                           backend_args: Optional[dict] = None) -> None:
    """MMEngine's ``save_checkpoint``; a local file is written whole or not at all.

    Remote backends (``s3://``, ...) and the deprecated ``file_client_args`` keep MMEngine's
    behaviour.
    """
    local = (file_client_args is None and isinstance(filename, str) and '://' not in filename
             and isinstance(get_file_backend(filename, backend_args=backend_args),
                            LocalBackend))
    if not local:
        _original_save_checkpoint(checkpoint, filename, file_client_args=file_client_args,
                                  backend_args=backend_args)
        return
    # Not fileio.atomic_write: MMEngine opens the file itself (through its backend), so it is
    # given the temporary's name; and one writer per name (rank 0) lets a save delete what a
    # killed writer of the same name left, which a general writer could not.
    tmp = temporary_name(filename)
    _remove_stale_temporaries(filename)
    try:
        _original_save_checkpoint(checkpoint, tmp, backend_args=backend_args)
        replace_durably(tmp, filename)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _checkpoint_hook_open(file: Any, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
    """``open`` as seen by ``mmengine.hooks.checkpoint_hook``: atomic for ``last_checkpoint``."""
    if (isinstance(file, str) and osp.basename(file) == 'last_checkpoint' and mode == 'w'
            and not args):
        return atomic_write(file, mode, fsync=True, **kwargs)
    return builtins.open(file, mode, *args, **kwargs)


def enable_atomic_checkpoints() -> None:
    """Install :func:`atomic_save_checkpoint` and the atomic ``last_checkpoint`` write."""
    for module in (mmengine_checkpoint, mmengine.runner.runner, mmengine.runner):
        if getattr(module, 'save_checkpoint', None) is _original_save_checkpoint:
            module.save_checkpoint = atomic_save_checkpoint
    # CheckpointHook writes work_dir/last_checkpoint with the builtin open; a module-level
    # name shadows it for that module only.
    mmengine.hooks.checkpoint_hook.open = _checkpoint_hook_open


# --------------------------------------------------------------------------- 7. np.in1d
def _in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False, *,
          kind: Optional[str] = None) -> np.ndarray:
    """numpy < 2.4's ``np.in1d``: ``np.isin`` of the flattened first argument."""
    return np.isin(np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert, kind=kind)


def fix_numpy_in1d() -> None:
    """Give numpy >= 2.4 back ``np.in1d`` for cityscapesscripts."""
    if not hasattr(np, 'in1d'):
        np.in1d = _in1d


# --------------------------------------------------------------------------- 8. fused SGD + fp16
def unfuse_for_fp16_amp(optimizer: torch.optim.Optimizer, dtype: Optional[torch.dtype]) -> bool:
    """Turn off ``fused`` in ``optimizer`` when it runs under fp16 loss scaling.

    Args:
        optimizer (torch.optim.Optimizer): The wrapped optimizer.
        dtype (torch.dtype, optional): The AMP dtype; None is MMEngine's default, fp16.

    Returns:
        bool: Whether the optimizer was changed.
    """
    if dtype not in (None, torch.float16):
        return False
    if not any(group.get('fused') for group in optimizer.param_groups):
        return False
    for group in optimizer.param_groups:
        group['fused'] = False
    optimizer.defaults['fused'] = False
    # GradScaler hands grad_scale/found_inf to optimizers that say they handle them (fused).
    optimizer._step_supports_amp_scaling = False
    return True


def fix_fused_sgd_under_fp16_amp() -> None:
    """Make ``AmpOptimWrapper`` apply :func:`unfuse_for_fp16_amp` to its optimizer."""
    from mmengine.logging import print_log
    from mmengine.optim import AmpOptimWrapper
    if getattr(AmpOptimWrapper.__init__, '_detco_fixed', False):
        return
    original_init = AmpOptimWrapper.__init__

    def __init__(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        if unfuse_for_fp16_amp(self.optimizer, self.cast_dtype):
            print_log('fp16 AMP: the optimizer runs without fused=True (fused SGD under fp16 '
                      'loss scaling diverged; see detco_mm/stack_fixes.py, fix 8). bf16 '
                      '(optim_wrapper.dtype=bfloat16) keeps it.', logger='current',
                      level=logging.WARNING)

    __init__._detco_fixed = True
    AmpOptimWrapper.__init__ = __init__


def apply_all() -> None:
    """Apply every fix (1-8); idempotent."""
    fix_mmselfsup_registry_locations()
    fix_adjust_hue()
    enable_safe_checkpoint_loading()
    fix_collate_fn_scope()
    fix_distributed_without_cuda()
    enable_atomic_checkpoints()
    fix_numpy_in1d()
    fix_fused_sgd_under_fp16_amp()


apply_all()
