"""Train a detco-mm (or any MMSelfSup 1.x) config with the MMEngine runner.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]] [--amp]
                                 [--strict-data] [--cfg-options k=v ...]
                                 [--launcher none|pytorch|slurm|mpi]

Multi-process runs go through ``tools/dist_train.sh`` (torchrun) or ``tools/slurm_train.sh``.
Config mistakes (data paths, queue length vs. global batch, unknown keys of any section, DetCo's
channel shapes, an epoch of zero iterations) stop the run with a message naming the key before
anything is trained (:mod:`detco_mm.engine.config_check`). ``--resume`` continues from the
newest complete checkpoint of the work dir or refuses, and takes a learning rate changed with
``--cfg-options`` (:mod:`detco_mm.engine.resume`).
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch.distributed.elastic.multiprocessing.errors import record

import detco_mm  # noqa: F401  (applies the stack fixes and registers DetCo)
from detco_mm.engine.config_check import (ConfigError, check_train_config, check_train_iterations,
                                          explain_config_errors, launcher_world_size)
from detco_mm.engine.resume import resolve_resume


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a self-supervised model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or with no value (or "auto") from the newest '
        'complete checkpoint of the work dir (last_checkpoint, else epoch_*/iter_*.pth; '
        'truncated ones are skipped); refuses when there is none. A learning rate changed '
        'with --cfg-options optim_wrapper.optimizer.lr=... takes effect on resume')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision training (CUDA only)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the config\'s lr linearly with the total batch (batch per process x '
        'processes) from auto_scale_lr.base_batch_size: DetCo\'s 0.03 is for 256 images')
    parser.add_argument(
        '--strict-data',
        action='store_true',
        help='stop at the first image file that cannot be loaded instead of skipping it '
        '(sets strict=True on the RobustLoadImageFromFile steps of the training pipeline)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs, e.g. '
        'train_dataloader.batch_size=16 or model.queue_len=4096')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def default_work_dir(config_path: str) -> str:
    """``./work_dirs/<config name>``, MMSelfSup's default, for any config path."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_strict_data(cfg: Config) -> None:
    """``strict=True`` on every ``RobustLoadImageFromFile`` of the training dataset(s)."""
    found = 0
    stack = [cfg.train_dataloader.dataset]
    while stack:
        dataset = stack.pop()
        for transform in dataset.get('pipeline') or []:
            if str(transform.get('type', '')).endswith('RobustLoadImageFromFile'):
                transform['strict'] = True
                found += 1
        stack += [d for d in [dataset.get('dataset')] + list(dataset.get('datasets') or [])
                  if isinstance(d, dict)]
    if not found:
        raise SystemExit('train.py: --strict-data needs RobustLoadImageFromFile as the loading '
                         'step of train_dataloader.dataset.pipeline (see '
                         'configs/detco/_base_/datasets/imagenet_detco.py)')


@record  # under torchrun, a failing rank's error is shown in the launcher's summary
def main() -> None:
    args = parse_args()
    if not osp.isfile(args.config):
        raise SystemExit(f'train.py: config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir priority: CLI > config > config file name
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)

    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('train.py: --amp needs a CUDA device (MMEngine\'s AmpOptimWrapper '
                             'runs on CUDA only); drop --amp to train in fp32 on this machine.')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise SystemExit(f'train.py: --amp needs optim_wrapper.type OptimWrapper, the config '
                             f'has {optim_wrapper!r}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.strict_data:
        set_strict_data(cfg)

    if args.auto_scale_lr:
        scaling = cfg.get('auto_scale_lr')
        if not isinstance(scaling, dict) or 'base_batch_size' not in scaling:
            raise SystemExit('train.py: --auto-scale-lr needs auto_scale_lr.base_batch_size in '
                             'the config (the total batch its lr is for, e.g. '
                             '--cfg-options auto_scale_lr.base_batch_size=256)')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if 'runner_type' in cfg:
        # configs/finetune: DetCoFinetuneRunner applies the command-line settings to every
        # field built from them and checks checkpoint and data paths itself.
        runner = RUNNERS.build(cfg)
    else:
        try:
            check_train_config(cfg, world_size=launcher_world_size(args.launcher))
            resume_notes = resolve_resume(cfg)  # never starts over silently under --resume
            with explain_config_errors(cfg):
                runner = Runner.from_cfg(cfg)
                runner.train_loop  # noqa: B018  (builds the data loader: mistakes surface now)
            check_train_iterations(runner)
        except ConfigError as e:
            raise SystemExit(f'train.py: config error: {e}') from None
        for note in resume_notes:
            runner.logger.warning(f'--resume: {note}')
    runner.train()


if __name__ == '__main__':
    main()
