"""``--resume`` that continues the right run or refuses, and can change the learning rate.

MMEngine's own ``resume=True`` with no checkpoint path reads ``work_dir/last_checkpoint`` and,
when that file is missing, logs "resumed from the latest checkpoint None" and trains from
scratch, overwriting ``epoch_1.pth``. A truncated checkpoint ends in a raw
``PytorchStreamReader`` error, and since ``last_checkpoint`` holds an absolute path, a moved
work dir resumes from the old location (someone else's run, if it still exists) or fails.
:func:`resolve_resume` (called by ``tools/train.py``) instead picks the checkpoint itself:

1. the one ``last_checkpoint`` names, looked up *in this work dir* by its file name (so a
   moved or copied work dir resumes its own files; a relative path is taken relative to the
   work dir; a path outside the work dir is used only when ``default_hooks.checkpoint.out_dir``
   is set, where CheckpointHook really writes there);
2. otherwise, or when that file is truncated or missing, the newest complete ``epoch_N.pth`` /
   ``iter_N.pth`` of the work dir (highest N first);
3. a checkpoint is complete when its zip directory (written last by ``torch.save``) can be
   read; each incomplete one skipped is logged, with the older checkpoint used instead;
4. no complete checkpoint: :class:`~detco_mm.engine.config_check.ConfigError` naming the work
   dir and what was found. ``--resume`` never starts over silently; to start a new run, drop
   ``--resume``.

An explicit ``--resume PATH`` is checked the same way and refused (naming the newest complete
alternative) when it is missing or truncated.

Changing the learning rate on resume: MMEngine restores the learning rate from the optimizer
and scheduler state of the checkpoint, so ``--cfg-options optim_wrapper.optimizer.lr=...`` had
no effect. :class:`ResumeLrHook`, added by :func:`resolve_resume`, compares the configured
base learning rate of each parameter group with the checkpoint's. Where they differ, it
rescales the checkpoint's optimizer and scheduler state to the configured value before they
are loaded (the schedule continues from the same position, from the new base value), and logs
it. With the config's learning rate unchanged, nothing is changed.
"""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import Any, List, Optional, Tuple

from mmengine.hooks import Hook
from mmselfsup.registry import HOOKS

from .config_check import ConfigError

_NUMBERED = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def incomplete_reason(path: str) -> Optional[str]:
    """Why the checkpoint file ``path`` is not complete, or None if it is.

    ``torch.save`` writes a zip archive whose directory comes last: a file cut short (killed
    writer, full disk, partial copy) has none.
    """
    if not osp.isfile(path):
        return 'file does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'empty file'
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        return f'truncated or not a torch checkpoint ({size} bytes; {e})'
    if not any(n.endswith('data.pkl') for n in names):
        return f'not a torch checkpoint (no data.pkl among {len(names)} entries)'
    return None


def _numbered_checkpoints(directory: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` of ``directory``, highest N (then newest) first."""
    found = []
    for path in glob.glob(osp.join(glob.escape(directory), '*.pth')):
        match = _NUMBERED.match(osp.basename(path))
        if match:
            found.append((int(match.group(2)), osp.getmtime(path), path))
    return [p for _, _, p in sorted(found, reverse=True)]


def _checkpoint_dirs(cfg: Any, work_dir: str) -> List[str]:
    """The work dir, and where CheckpointHook writes when ``out_dir`` is set."""
    dirs = [work_dir]
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    out_dir = hook.get('out_dir') if isinstance(hook, dict) else None
    if isinstance(out_dir, str) and out_dir and '://' not in out_dir:
        dirs.append(osp.join(out_dir, osp.basename(osp.normpath(work_dir))))
    return dirs


def find_resume_checkpoint(cfg: Any, work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The checkpoint ``--resume`` continues from; see the module docstring.

    Returns:
        Tuple[Optional[str], List[str]]: The path (None when there is no complete one) and
        notes for the log (what was skipped, and why).
    """
    notes: List[str] = []
    dirs = _checkpoint_dirs(cfg, work_dir)
    candidates: List[str] = []
    last_file = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last_file):
        with open(last_file, encoding='utf-8') as f:
            recorded = f.read().strip()
        if recorded:
            path = recorded if osp.isabs(recorded) else osp.join(work_dir, recorded)
            own = [osp.join(d, osp.basename(recorded)) for d in dirs]
            own = [p for p in own if osp.isfile(p)]
            if own:
                if osp.abspath(own[0]) != osp.abspath(path):
                    notes.append(f'last_checkpoint names {recorded}; using {own[0]}, the file '
                                 f'of that name in this work dir (it was moved or copied)')
                candidates.append(own[0])
            elif any(osp.abspath(path).startswith(osp.abspath(d) + os.sep) for d in dirs):
                candidates.append(path)
            else:
                notes.append(f'last_checkpoint names {recorded}, which is not in this work '
                             f'dir ({work_dir}); ignored')
    for directory in dirs:
        candidates += _numbered_checkpoints(directory)
    seen = set()
    for path in candidates:
        key = osp.abspath(path)
        if key in seen:
            continue
        seen.add(key)
        reason = incomplete_reason(path)
        if reason is None:
            if any(n.startswith('skipped') for n in notes):
                notes.append(f'falling back to {path}, the newest complete checkpoint')
            return path, notes
        notes.append(f'skipped checkpoint {path}: {reason}')
    return None, notes


def resolve_resume(cfg: Any) -> List[str]:
    """Set ``cfg.load_from`` to the checkpoint a resumed run continues from, or refuse.

    Does nothing unless ``cfg.resume`` is true. Also adds :class:`ResumeLrHook` to
    ``cfg.custom_hooks``.

    Args:
        cfg (mmengine.Config): The merged config with ``work_dir``; modified in place.

    Returns:
        List[str]: Notes for the run's log.

    Raises:
        ConfigError: No complete checkpoint to resume from, or a given one is incomplete.
    """
    if not cfg.get('resume'):
        return []
    work_dir = osp.abspath(cfg.work_dir)
    given = cfg.get('load_from')
    if given and '://' not in str(given):
        reason = incomplete_reason(str(given))
        if reason is not None:
            newest, _ = find_resume_checkpoint(cfg, work_dir)
            other = (f' The newest complete checkpoint of the work dir is {newest}: '
                     f'--resume {newest}' if newest else '')
            raise ConfigError(f'--resume {given}: cannot resume from it: {reason}.{other}')
        notes = [f'resuming from {given}']
    elif not given:
        path, notes = find_resume_checkpoint(cfg, work_dir)
        if path is None:
            found = '; '.join(notes) if notes else 'no epoch_*.pth, iter_*.pth or last_checkpoint'
            raise ConfigError(
                f'--resume: no complete checkpoint to resume from in {work_dir} ({found}). '
                f'Refusing to start over under --resume: drop --resume to start a new run, or '
                f'pass --resume PATH (or --work-dir) to name the run to continue.')
        cfg.load_from = path
        notes.append(f'resuming from {path}')
    else:
        notes = [f'resuming from {given}']
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, dict) and h.get('type') == 'ResumeLrHook' for h in hooks):
        hooks.append(dict(type='ResumeLrHook'))
    cfg.custom_hooks = hooks
    return notes


@HOOKS.register_module()
class ResumeLrHook(Hook):
    """On resume, keep the configured base learning rate if it differs from the checkpoint's.

    Records each parameter group's base learning rate (``initial_lr``, else ``lr``) when the
    run starts, i.e. as built from the config (after ``auto_scale_lr``), and rescales the
    optimizer and ``lr`` scheduler state of the checkpoint being resumed to it.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.configured: Optional[List[float]] = None

    def before_run(self, runner) -> None:
        optim_wrapper = runner.optim_wrapper
        optimizer = getattr(optim_wrapper, 'optimizer', None)
        if optimizer is None:  # OptimWrapperDict (several optimizers): not handled
            return
        self.configured = [float(g.get('initial_lr', g['lr'])) for g in optimizer.param_groups]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        optim_state = checkpoint.get('optimizer')
        if self.configured is None or not isinstance(optim_state, dict) \
                or 'param_groups' not in optim_state:
            return
        groups = optim_state['param_groups']
        if len(groups) != len(self.configured):
            return
        saved = [float(g.get('initial_lr', g['lr'])) for g in groups]
        ratios = [new / old if old else None for new, old in zip(self.configured, saved)]
        if all(r is None or abs(r - 1) < 1e-9 for r in ratios):
            return
        for group, ratio, new in zip(groups, ratios, self.configured):
            if ratio is None:
                group['lr'] = new
            else:
                group['lr'] *= ratio
            if 'initial_lr' in group:
                group['initial_lr'] = new
        schedulers = checkpoint.get('param_schedulers') or []
        for state in schedulers if isinstance(schedulers, list) else []:
            if not isinstance(state, dict) or state.get('param_name', 'lr') != 'lr':
                continue
            for key in ('base_values', '_last_value', 'base_lrs', '_last_lr'):
                values = state.get(key)
                if isinstance(values, list) and len(values) == len(ratios):
                    state[key] = [v * r if r is not None else v for v, r in zip(values, ratios)]
        runner.logger.warning(
            'resume: the configured learning rate (optim_wrapper.optimizer.lr, base value '
            f'{", ".join(format(v, "g") for v in self.configured)}) differs from the '
            f'checkpoint\'s ({", ".join(format(v, "g") for v in saved)}): continuing with the '
            f'configured one, at the same position of the schedule (current lr now '
            f'{", ".join(format(g["lr"], "g") for g in groups)}).')
