"""Does pre-training help? Random init vs MoCo v2 vs DetCo on the demo data, with seeds.

Usage::

    python tools/analysis/init_study.py [--seeds 0 1 2] [--budgets 40 400] [--work-root DIR]
        [--data-root DIR] [--device auto|cpu|cuda] [--pretrain-options K=V ...]
        [--finetune-options K=V ...] [--verbose]

For each seed: pre-trains MoCo v2 and DetCo with the demo configs and exports their backbones;
for each label budget (the first N of the demo's 400 training scenes; ``all`` for every one),
fine-tunes RetinaNet from random init and from each backbone. Writes ``WORK_ROOT/study.md``
(mean ± std per initialisation and budget, differences to random init and to MoCo v2 with
their standard error), ``study.json`` and ``study.png``. A finished run is not redone, so an
interrupted study continues where it stopped. Logic: :mod:`detco_mm.analysis.init_study`.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from detco_mm.analysis.init_study import run_study  # noqa: E402
from detco_mm.demo import DemoDataError, DemoDataSpec, prepare_demo_data  # noqa: E402
from detco_mm.demo.steps import Console, StepFailed, child_env, rel, resolve_device  # noqa: E402


def budget(text: str) -> Optional[int]:
    if text == 'all':
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: a label budget is a positive number of '
                                         f'training scenes, or "all"')
    return int(text)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='init_study.py', description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--budgets', type=budget, nargs='+', default=[40, 400],
                        help='label budgets: first N training scenes, or "all" (default 40 400)')
    parser.add_argument('--methods', nargs='+', default=['mocov2', 'detco'])
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'init_study'))
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'demo'))
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    parser.add_argument('--pretrain-options', nargs='*', default=[], metavar='KEY=VALUE',
                        help='more --cfg-options for every pre-training')
    parser.add_argument('--finetune-options', nargs='*', default=[], metavar='KEY=VALUE',
                        help='more --cfg-options for every fine-tuning')
    parser.add_argument('--verbose', action='store_true')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    work_root, data_root = osp.abspath(args.work_root), osp.abspath(args.data_root)
    os.chdir(ROOT)
    console = Console(args.verbose)
    budgets = sorted({b for b in args.budgets if b is not None}) + (
        [None] if None in args.budgets else [])
    try:
        spec = DemoDataSpec()
        extra = tuple(b for b in budgets if b is not None and b not in spec.det_budgets)
        if any(b > spec.det_train for b in extra):
            raise SystemExit(f'init_study.py: a label budget above the {spec.det_train} '
                             f'training scenes')
        data = prepare_demo_data(rel(data_root), DemoDataSpec(
            det_budgets=tuple(sorted(set(spec.det_budgets) | set(extra)))), log=console.say)
        run_study(rel(work_root), data, args.seeds, budgets,
                  child_env(resolve_device(args.device)), console, args.methods,
                  args.pretrain_options, args.finetune_options)
    except (DemoDataError, StepFailed, ValueError) as e:
        print(f'\ninit_study.py: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
