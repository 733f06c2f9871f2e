"""What ``tools/train.py`` does between parsing its options and ``runner.train()``.

The tool stays a thin command line: :func:`train_config` turns its options into the run's
config, :func:`build_train_runner` checks that config and builds the runner (the data loader
included, so that config mistakes surface before anything is trained). Tests call these two
in-process instead of loading the script.
"""
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import Config
from mmengine.runner import Runner

from .config_check import (ConfigError, check_train_config, check_train_iterations,
                           explain_config_errors, set_strict_data)
from .resume import resolve_resume


class TrainOptionError(ValueError):
    """An option of ``tools/train.py`` that the config or the machine cannot take."""


def default_work_dir(config_path: str) -> str:
    """``./work_dirs/<config name>``, MMSelfSup's default, for any config path.

    Args:
        config_path (str): The config file.

    Returns:
        str: The work dir.
    """
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def train_config(config: str, work_dir: Optional[str] = None,
                 cfg_options: Optional[Dict[str, Any]] = None, launcher: str = 'none',
                 amp: bool = False, strict_data: bool = False, auto_scale_lr: bool = False,
                 resume: Optional[str] = None) -> Config:
    """The config of a training run: the file, with the command line's options applied.

    Args:
        config (str): The config file.
        work_dir (Optional[str]): ``--work-dir``; else the config's ``work_dir``, else
            :func:`default_work_dir`.
        cfg_options (Optional[Dict[str, Any]]): ``--cfg-options``, parsed (``DictAction``).
        launcher (str): ``--launcher``. Defaults to ``'none'``.
        amp (bool): ``--amp``: ``AmpOptimWrapper`` with dynamic loss scale (CUDA only).
        strict_data (bool): ``--strict-data``: see :func:`~.config_check.set_strict_data`.
        auto_scale_lr (bool): ``--auto-scale-lr``: enable ``auto_scale_lr``.
        resume (Optional[str]): ``--resume``: ``'auto'`` (the newest complete checkpoint of
            the work dir) or a checkpoint; None starts a new run.

    Returns:
        mmengine.Config: The run's config.

    Raises:
        TrainOptionError: The config file is missing, or an option does not fit the config or
            the machine (the message says which and what to do).
    """
    if not osp.isfile(config):
        raise TrainOptionError(f'config file {config!r} does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)

    # work_dir priority: CLI > config > config file name
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(config)

    if amp:
        import torch
        if not torch.cuda.is_available():
            raise TrainOptionError('--amp needs a CUDA device (MMEngine\'s AmpOptimWrapper runs '
                                   'on CUDA only); drop --amp to train in fp32 on this machine.')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise TrainOptionError(f'--amp needs optim_wrapper.type OptimWrapper, the config has '
                                   f'{optim_wrapper!r}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if strict_data:
        try:
            set_strict_data(cfg)
        except ConfigError as e:
            raise TrainOptionError(str(e)) from None

    if auto_scale_lr:
        scaling = cfg.get('auto_scale_lr')
        if not isinstance(scaling, dict) or 'base_batch_size' not in scaling:
            raise TrainOptionError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                                   'config (the total batch its lr is for, e.g. '
                                   '--cfg-options auto_scale_lr.base_batch_size=256)')
        cfg.auto_scale_lr.enable = True

    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume
    return cfg


def build_train_runner(cfg: Config, world_size: int = 1) -> Runner:
    """Check a pre-training config, resolve ``--resume``, and build its runner and data loader.

    Configs with a ``runner_type`` (``configs/finetune``, the linear probe) are built by that
    runner, which applies the command-line settings to every field built from them and checks
    checkpoint and data paths itself (:class:`~.runner.DetCoFinetuneRunner`).

    Args:
        cfg (mmengine.Config): The run's config (:func:`train_config`).
        world_size (int): Number of training processes (``launcher_world_size``).
            Defaults to 1.

    Returns:
        mmengine.runner.Runner: The runner; ``--resume`` notes are logged as warnings.

    Raises:
        ConfigError: The first config mistake found, or a resume that would start over.
    """
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    check_train_config(cfg, world_size=world_size)
    resume_notes = resolve_resume(cfg)  # never starts over silently under --resume
    with explain_config_errors(cfg):
        runner = Runner.from_cfg(cfg)
        runner.train_loop  # noqa: B018  (builds the data loader: mistakes surface now)
    check_train_iterations(runner)
    for note in resume_notes:
        runner.logger.warning(f'--resume: {note}')
    return runner
