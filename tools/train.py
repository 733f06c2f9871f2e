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
``--cfg-options`` (:mod:`detco_mm.engine.resume`). This script only parses the options;
:mod:`detco_mm.engine.train_setup` applies them and builds the runner.
"""
import argparse
import os

from mmengine.config import DictAction
from torch.distributed.elastic.multiprocessing.errors import record

import detco_mm  # noqa: F401  (applies the stack fixes and registers DetCo)
from detco_mm.engine.config_check import ConfigError, launcher_world_size
from detco_mm.engine.train_setup import TrainOptionError, build_train_runner, train_config


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


@record  # under torchrun, a failing rank's error is shown in the launcher's summary
def main() -> None:
    args = parse_args()
    try:
        cfg = train_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                           launcher=args.launcher, amp=args.amp, strict_data=args.strict_data,
                           auto_scale_lr=args.auto_scale_lr, resume=args.resume)
    except TrainOptionError as e:
        raise SystemExit(f'train.py: {e}') from None
    try:
        runner = build_train_runner(cfg, world_size=launcher_world_size(args.launcher))
    except ConfigError as e:
        raise SystemExit(f'train.py: config error: {e}') from None
    runner.train()


if __name__ == '__main__':
    main()
