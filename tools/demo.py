"""Does DetCo pre-training help a detector? End to end on embedded data (``make demo``).

Usage::

    python tools/demo.py [--device auto|cpu|cuda] [--tiny] [--data-root DIR] [--work-dir DIR]
                         [--verbose]
    make demo            # installs when needed, then runs this

Pre-trains DetCo and MoCo v2 on crops of the photographs bundled with scikit-image, fine-tunes
RetinaNet on a small labelled set from random init, MoCo v2 and DetCo, and prints one table
with each beside random init, the verdict line and every loss term against its chance level.
Nothing is downloaded. The steps run the project's own tools (``tools/train.py``,
``tools/model_converters/export_backbone.py``, ``mim train mmdet``,
``tools/benchmark_table.py``); the console shows their progress lines, each step's full output
is in ``WORK_DIR/logs/``. ``--device auto`` (the default, or ``DETCO_DEMO_DEVICE``) trains on a
CUDA GPU when torch sees one; ``--tiny`` is the same path with a few dozen images and
iterations (what the test suite runs). Logic: :mod:`detco_mm.demo.end_to_end`.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # detco_mm from this checkout, also when run as `python tools/demo.py`

from detco_mm.demo import DemoDataError  # noqa: E402
from detco_mm.demo.end_to_end import print_summary, run_demo, write_summary  # noqa: E402
from detco_mm.demo.steps import Console, StepFailed  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='demo.py', description='Does DetCo pre-training help? DetCo vs MoCo v2 vs random '
        'init, end to end on data made from scikit-image\'s bundled photographs.')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'],
                        default=os.environ.get('DETCO_DEMO_DEVICE', 'auto'),
                        help='auto (default; env DETCO_DEMO_DEVICE): CUDA when torch sees a GPU, '
                        'else CPU')
    parser.add_argument('--tiny', action='store_true',
                        help='the same path with a few dozen images and iterations (~2 min)')
    parser.add_argument('--data-root', help='where the demo data are made and cached '
                        '(default: data/demo, or data/demo_tiny with --tiny)')
    parser.add_argument('--work-dir', help='where the runs, tables, plot and summary go '
                        '(default: work_dirs/demo, or work_dirs/demo_tiny with --tiny)')
    parser.add_argument('--verbose', action='store_true',
                        help='show the runners\' whole output, not only progress and results')
    args = parser.parse_args(argv)
    if args.device not in ('auto', 'cpu', 'cuda'):
        parser.error(f'DETCO_DEMO_DEVICE={args.device!r}: use auto, cpu or cuda')
    suffix = '_tiny' if args.tiny else ''
    # defaults in the checkout (whatever the current directory), given paths as usual
    args.data_root = osp.abspath(args.data_root or osp.join(ROOT, 'data', f'demo{suffix}'))
    args.work_dir = osp.abspath(args.work_dir or osp.join(ROOT, 'work_dirs', f'demo{suffix}'))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)  # paths made absolute here
    os.chdir(ROOT)  # the steps run in the checkout; paths inside it are shown relative to it
    console = Console(args.verbose)
    try:
        summary = run_demo('tiny' if args.tiny else 'full', args.device, args.data_root,
                           args.work_dir, console)
    except SystemExit as e:  # --device cuda without a GPU
        print(f'\ndemo.py: {e}', file=sys.stderr)
        return 1
    except DemoDataError as e:
        print(f'\ndemo.py: demo data: {e}', file=sys.stderr)
        return 1
    except StepFailed as e:
        print(f'\ndemo.py: {e}', file=sys.stderr)
        return 1
    write_summary(summary)
    print_summary(summary, console)
    return 0


if __name__ == '__main__':
    sys.exit(main())
