"""Make the COCO label subsets of the semi-supervised protocol (paper Tables 10-12).

Usage::

    python tools/dataset_converters/coco_subset.py ANN_FILE --percent P [P ...] [--seed S]
                                                   [--out OUT]

    # the files configs/finetune/semi/*.py read (seed 0, next to the source):
    python tools/dataset_converters/coco_subset.py \
        data/coco/annotations/instances_train2017.json --percent 1 2 5 10
    # -> data/coco/annotations/instances_train2017_{1,2,5,10}pct_seed0.json

Each subset holds ``round(N x P / 100)`` of the N images (half up, at least 1), drawn by a
seeded permutation of the sorted image ids, with all their annotations; categories, licenses
and info are kept, and ``info['subset']`` records source checksum, percent and seed (see
:mod:`detco_mm.datasets.coco_subset`). ``--out`` names the output of a single percent. An output
that exists with other contents is refused (exit status 1), an identical one is left alone.
"""
import argparse
import sys

from detco_mm.datasets.coco_subset import CocoSubsetError, read_coco, write_coco_subset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a seeded image-level subset of a COCO instances json')
    parser.add_argument('ann_file', help='COCO instances json, e.g. '
                        'data/coco/annotations/instances_train2017.json')
    parser.add_argument('--percent', type=float, nargs='+', required=True,
                        help='share(s) of the images to keep, in (0, 100]')
    parser.add_argument('--seed', type=int, default=0, help='seed of the permutation '
                        '(default 0, the one configs/finetune/semi/ use)')
    parser.add_argument('--out', help='output file (one --percent only); default '
                        '<ann_file stem>_<P>pct_seed<S>.json next to ANN_FILE')
    args = parser.parse_args(argv)
    if args.out and len(args.percent) > 1:
        parser.error('--out names one file: give a single --percent')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        loaded = read_coco(args.ann_file)
        for percent in args.percent:
            path, written, record = write_coco_subset(args.ann_file, percent, args.seed,
                                                      args.out, loaded=loaded)
            print(f"{'wrote' if written else 'unchanged (identical)'} {path}: "
                  f"{record['num_images']} of {record['of_images']} images, "
                  f"{record['num_annotations']} of {record['of_annotations']} annotations "
                  f'({percent:g} %, seed {args.seed})')
    except (CocoSubsetError, FileExistsError) as e:
        sys.exit(f'coco_subset.py: {e}')


if __name__ == '__main__':
    main()
