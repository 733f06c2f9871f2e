"""Time DetCo against MMSelfSup's MoCo v2, side by side, in one process.

Modes: ``train`` (default): the train step of both models, median ms, images/s, peak memory
and the DetCo / MoCo v2 ratios; ``data``: decode + all views + packing per image, one worker;
``views``: one view of each view pipeline, CPU and wall ms. Both models get DetCo's config's
optimizer (fused SGD) unless ``--optimizer`` says otherwise. What each mode times and how:
:mod:`detco_mm.analysis.benchmark_speed` (the logic) and :mod:`detco_mm.analysis.pipeline_speed`.

Examples::

    python tools/analysis/benchmark_speed.py                       # train, ResNet-50, batch 8, CPU
    python tools/analysis/benchmark_speed.py --mode data
    python tools/analysis/benchmark_speed.py --mode views --repeats 5
    python tools/analysis/benchmark_speed.py --device cuda --amp bf16 --channels-last --batch 32
    python tools/analysis/benchmark_speed.py --optimizer plain     # both plain (unfused) SGD
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from detco_mm.analysis import benchmark_speed  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='benchmark_speed.py',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--mode', choices=benchmark_speed.MODES, default='train')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--depth', type=int, default=50,
                        choices=sorted(benchmark_speed.STAGE_CHANNELS))
    parser.add_argument('--batch', type=int, default=8, help='images per step')
    parser.add_argument('--queue-len', type=int, default=65536)
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    parser.add_argument('--steps', type=int, default=8, help='timed steps per model')
    parser.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none',
                        help='mixed precision (CUDA only)')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--optimizer', choices=benchmark_speed.OPTIMIZER_MODES, default='same',
                        help="train mode: 'same' (default): both models get DetCo's config "
                        "optimizer settings (SGD, fused); 'plain': both get them with "
                        "fused=False; 'config': each its own config's (DetCo fused, MoCo v2 "
                        "MMSelfSup's default loop: not a like-for-like ratio)")
    parser.add_argument('--images', type=int, default=40,
                        help='data mode: images per pipeline (views mode: at most 8 photos '
                        'unless --data-root)')
    parser.add_argument('--data-root', help='data / views mode: a folder of images to use')
    parser.add_argument('--repeats', type=int, default=3, help='views mode: timed passes')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    args = parser.parse_args(argv)
    if args.amp != 'none' and not args.device.startswith('cuda'):
        parser.error('--amp needs --device cuda (MMEngine AMP runs on CUDA only)')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda was asked for, but torch sees no CUDA device')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    try:
        benchmark_speed.run(benchmark_speed.BenchmarkSettings(**vars(parse_args(argv))))
    except benchmark_speed.NoImagesError as e:
        raise SystemExit(f'benchmark_speed: {e}')


if __name__ == '__main__':
    main()
