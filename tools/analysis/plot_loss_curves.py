"""Plot every DetCo loss term per stage, and their sum, from a pre-training run's log.

Usage::

    python tools/analysis/plot_loss_curves.py WORK_DIR [--out FILE.png] [--dpi N] [--quiet]

WORK_DIR is the run's MMEngine work dir (every launch in it is read, a resumed launch replacing
the iterations it repeats) or one ``scalars.json`` file. One panel per stage with its weighted
terms, one with the total; each term's chance level ``w * ln(K + 1)`` (read from the run's
dumped config) is drawn dashed. Default ``--out``: ``WORK_DIR/loss_curves.png``. Prints the
last logged value of every term and its chance level. Logic: :mod:`detco_mm.analysis.loss_curves`.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from detco_mm.analysis.loss_curves import (LossLogError, last_values, loss_curves,
                                           read_chance_levels, read_training_records, render_png)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='plot_loss_curves.py',
        description='Every DetCo loss term per stage, and the total, from a pre-training log.')
    parser.add_argument('work_dir', help='MMEngine work dir of the run, or a scalars.json file')
    parser.add_argument('--out', help='PNG to write (default: WORK_DIR/loss_curves.png)')
    parser.add_argument('--title', help='figure title (default: the work dir)')
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--quiet', action='store_true', help='do not print the last values')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    out = args.out
    if out is None:
        base = args.work_dir if osp.isdir(args.work_dir) else osp.dirname(args.work_dir)
        out = osp.join(base, 'loss_curves.png')
    try:
        records = read_training_records(args.work_dir)
        curves = loss_curves(records)
    except LossLogError as e:
        print(f'plot_loss_curves.py: error: {e}', file=sys.stderr)
        return 2
    chance = read_chance_levels(args.work_dir, curves)
    title = args.title if args.title is not None else (
        f'DetCo pre-training losses: {osp.basename(osp.normpath(args.work_dir))}')
    png = render_png(curves, title, args.dpi, chance)
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out, 'wb') as f:
        f.write(png)
    if not args.quiet:
        steps = curves['loss'][0]
        print(f'last values (iteration {steps[-1]}), chance level w ln(K+1):')
        for key, value in last_values(curves).items():
            level = f'  chance {chance[key]:.4f}' if key in chance else ''
            print(f'  {key:<15} {value:.4f}{level}')
    print(f'plot_loss_curves.py: {len(curves)} curves, {len(records)} logged iterations -> {out}',
          file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
