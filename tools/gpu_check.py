"""The prepared GPU check: pre-training, export and every fine-tuning family on one GPU.

Usage::

    python tools/gpu_check.py                       # on a CUDA machine (about 8 min on an H200)
    python tools/gpu_check.py --dry-run             # the same path on CPU with tiny sizes
    python tools/gpu_check.py --only env,pretrain-detco --pretrain-iters 20

Steps (each one line: ok / failed / skipped, seconds, figures; logs in WORK_DIR/logs/):
``env`` (imports, mmcv ops variant, nms / RoIAlign / sigmoid_focal_loss on CUDA vs CPU),
``data`` (embedded: scikit-image's photographs and tiny COCO / VOC / Cityscapes sets),
``pretrain-detco``, ``pretrain-detco-dist``, ``pretrain-mocov2``, ``pretrain-mocov2-dist``
(50 iterations each of ``configs/detco/detco_r50_8xb32.py``, batch 32, bf16 AMP,
channels-last, and of the MoCo v2 config with DetCo's optimizer settings, through
``tools/train.py`` and ``tools/dist_train.sh CFG 1``), ``ratio-detco/mocov2``, ``export``, and
``finetune-*`` (Mask R-CNN FPN / C4, RetinaNet, Faster R-CNN C4 on VOC, Cityscapes Mask R-CNN,
20 iterations each plus evaluation, from the freshly exported backbone). Nothing is downloaded.
The report goes to WORK_DIR/gpu_check.json and WORK_DIR/gpu_check.md; the exit status is 0
only when every step passed. Logic: :mod:`detco_mm.gpu_check.check`.
"""
import argparse
import dataclasses
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # detco_mm from this checkout

from detco_mm.gpu_check.check import DRY_RUN_SIZES, GPU_SIZES, GpuCheck, GpuCheckError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='gpu_check.py', description=__doc__.split('\n')[0])
    p.add_argument('--dry-run', action='store_true',
                   help='CPU, tiny sizes (batch 4, 3 + 2 iterations, 256x128 images, no AMP)')
    p.add_argument('--device', choices=['cuda', 'cpu'],
                   help='default: cuda, or cpu with --dry-run')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'gpu_check'))
    p.add_argument('--only', help="comma-separated step name prefixes, e.g. 'env,pretrain'")
    p.add_argument('--pretrain-iters', type=int)
    p.add_argument('--pretrain-batch', type=int)
    p.add_argument('--finetune-iters', type=int)
    p.add_argument('--amp', choices=['bf16', 'fp16', 'none'])
    p.add_argument('--step-timeout', type=int, help='seconds before a step is killed')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = args.device or ('cpu' if args.dry_run else 'cuda')
    sizes = DRY_RUN_SIZES if args.dry_run or device == 'cpu' else GPU_SIZES
    changes = {k: v for k, v in dict(pretrain_iters=args.pretrain_iters,
                                     pretrain_batch=args.pretrain_batch,
                                     finetune_iters=args.finetune_iters, amp=args.amp,
                                     step_timeout=args.step_timeout).items() if v is not None}
    try:
        sizes = dataclasses.replace(sizes, **changes)
        check = GpuCheck(args.work_dir, device, sizes,
                         only=args.only.split(',') if args.only else None)
    except GpuCheckError as e:
        print(f'gpu_check.py: {e}', file=sys.stderr)
        return 2
    print(f'gpu_check: device {device}, work dir {check.work_dir}', flush=True)
    check.run()
    report = check.report()
    failed = [s['name'] for s in report['steps'] if s['status'] != 'ok']
    print(f'gpu_check: {len(report["steps"]) - len(failed)} of {len(report["steps"])} steps ok'
          + (f'; not ok: {", ".join(failed)}' if failed else '')
          + f'; report {osp.join(check.work_dir, "gpu_check.json")}')
    return 0 if not failed else 1


if __name__ == '__main__':
    sys.exit(main())
