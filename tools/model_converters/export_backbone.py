"""Export the query encoder's ResNet of a DetCo checkpoint for MMDetection, torchvision or
detectron2 (see :mod:`detco_mm.model_converters.backbone_export`).

Usage::

    python tools/model_converters/export_backbone.py CKPT OUT [--format FORMAT]

    # for configs/finetune/*.py (their default `pretrained` path):
    python tools/model_converters/export_backbone.py work_dirs/detco_r50_8xb32/epoch_200.pth \
        work_dirs/detco_r50_8xb32/backbone_mmdet.pth
    # torchvision resnet50 (load_state_dict(strict=True) without fc), detectron2 (.pkl):
    python tools/model_converters/export_backbone.py CKPT r50_tv.pth --format torchvision
    python tools/model_converters/export_backbone.py CKPT r50_d2.pkl --format detectron2

CKPT may be a full MMEngine checkpoint (``epoch_N.pth``), a state dict whose keys carry DDP's
``module.`` prefix, or an already extracted backbone. FORMAT defaults to ``detectron2`` when OUT
ends with ``.pkl`` and to ``mmdet`` otherwise; ``detectron2`` needs a ``.pkl`` OUT. Missing
parent directories of OUT are created.

Bad input (not a PyTorch checkpoint, a detectron2 ``.pkl``, an incomplete or non-standard
ResNet, pickled objects that safe loading refuses) or an output that cannot be written ends the
tool with exit status 1 and one line on stderr naming the file, what is wrong and the fix.
"""
import argparse
import sys

from detco_mm.model_converters.backbone_export import (FORMATS, BackboneExportError, describe,
                                                       export_backbone)
from detco_mm.safe_loading import UnsafeCheckpointError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the query-encoder ResNet of a DetCo checkpoint')
    parser.add_argument('checkpoint', help='DetCo checkpoint, DDP state dict or extracted '
                        'backbone')
    parser.add_argument('out', help='output file (.pkl for detectron2); missing parent '
                        'directories are created')
    parser.add_argument(
        '--format', choices=FORMATS, default=None,
        help='mmdet: {"state_dict", "meta"} for init_cfg=Pretrained (MMDetection/MMSelfSup '
        'ResNet); torchvision: bare state dict of torchvision resnet (without fc); '
        'detectron2: MoCo-style .pkl. Default: detectron2 for a .pkl OUT, else mmdet')
    args = parser.parse_args(argv)
    if args.format is None:
        args.format = 'detectron2' if args.out.endswith('.pkl') else 'mmdet'
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        backbone = export_backbone(args.checkpoint, args.out, args.format)
    except (BackboneExportError, UnsafeCheckpointError) as e:
        sys.exit(f'export_backbone.py: {e}')
    print(f'exported {describe(backbone)} -> {args.out} ({args.format} format)')


if __name__ == '__main__':
    main()
