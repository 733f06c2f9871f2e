"""Check that the pinned detco-mm stack imports and its compiled ops run.

Usage: ``python tools/check_env.py``. Prints one line per package with its version, the ops
variant of the installed mmcv (CPU ops, or CUDA ops with the CUDA version and the GPU
architectures read from its compiled extension) and, when a GPU is visible, runs ``nms``,
``RoIAlign`` and ``sigmoid_focal_loss`` on CUDA against CPU results
(:mod:`detco_mm.install.ops_check`). Exits non-zero, naming the package, when one of them
fails, and when a GPU is visible but mmcv has CPU ops only (unless ``DETCO_MMCV_CPU=1``).
``tools/install.sh`` runs it last.
"""
import importlib
import os
import sys

# (import name, distribution name) in dependency order; each package's own version asserts
# (e.g. mmselfsup's "mmcv < 2.1.0") run on import.
PACKAGES = [
    ('torch', 'torch'),
    ('torchvision', 'torchvision'),
    ('numpy', 'numpy'),
    ('cv2', 'opencv-python'),
    ('mmengine', 'mmengine'),
    ('mmcv', 'mmcv'),
    ('mmcls', 'mmcls'),
    ('mmselfsup', 'mmselfsup'),
    ('mmdet', 'mmdet'),
    ('mim', 'openmim'),
    ('pycocotools', 'pycocotools'),
    ('cityscapesscripts', 'cityscapesscripts'),
    ('pytest', 'pytest'),
    ('detco_mm', 'detco_mm'),
]


def check_mmcv_variant() -> list:
    """Print the installed mmcv's ops variant; with a GPU, compare its CUDA ops with CPU.

    Returns:
        Names of the failed checks (empty when all pass).
    """
    import torch

    from detco_mm.install.mmcv_wheels import installed_extension, installed_variant
    variant = installed_variant()
    if variant is None:
        print('  mmcv ops variant   FAILED: no compiled mmcv/_ext*.so (mmcv-lite?)')
        return ['mmcv ops variant']
    if variant.kind == 'cpu':
        desc = 'cpu (CPU ops only)'
    else:
        archs = variant.arch_list or 'architectures not readable'
        desc = (f'{variant.tag}: CUDA {variant.cuda} ops for {archs} '
                f'(torch CUDA {torch.version.cuda})')
    print(f'  mmcv ops variant   {desc}  [{os.path.basename(installed_extension())}]')
    if not torch.cuda.is_available():
        return []
    if variant.kind == 'cpu':
        if os.environ.get('DETCO_MMCV_CPU') == '1':
            print('  mmcv.ops on CUDA   skipped: CPU ops installed on purpose (DETCO_MMCV_CPU=1)')
            return []
        print('  mmcv ops variant   FAILED: a GPU is visible but mmcv has CPU ops only, so '
              "MMDetection's RoIAlign / nms fail on CUDA tensors. Re-run tools/install.sh with "
              'DETCO_FORCE=1 (it builds CUDA ops), or set DETCO_MMCV_CPU=1 if CPU ops are meant.')
        return ['mmcv ops variant']
    from detco_mm.install.ops_check import compare_ops
    failed = []
    for r in compare_ops('cuda'):
        state = 'ok' if r.ok else 'FAILED'
        print(f'  {r.name + " cuda":<18} {state}: max |diff| {r.max_abs_diff:.2e}; {r.detail}')
        if not r.ok:
            failed.append(f'mmcv.ops.{r.name} on CUDA')
    return failed


def main() -> int:
    from importlib.metadata import PackageNotFoundError, version
    failed = []
    for module, dist in PACKAGES:
        try:
            importlib.import_module(module)
            try:
                ver = version(dist)
            except PackageNotFoundError:
                ver = getattr(sys.modules[module], '__version__', '?')
            print(f'  {dist:<18} {ver}')
        except Exception as e:  # report every broken package, not only the first
            failed.append(dist)
            print(f'  {dist:<18} FAILED: {type(e).__name__}: {e}')
    if not failed:
        try:
            import torch
            from mmcv.ops import RoIAlign, nms
            feat = torch.arange(16.).reshape(1, 1, 4, 4)
            rois = torch.tensor([[0., 0., 0., 3., 3.]])
            out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2)(feat, rois)
            assert out.shape == (1, 1, 2, 2), out.shape
            boxes = torch.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.1], [5., 5., 6., 6.]])
            _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
            assert keep.tolist() == [0, 2], keep
            print('  mmcv.ops           RoIAlign and nms run')
        except Exception as e:
            failed.append('mmcv.ops')
            print(f'  mmcv.ops           FAILED: {type(e).__name__}: {e}')
    if not failed:
        failed += check_mmcv_variant()
    if failed:
        print(f'check_env: broken: {", ".join(failed)}', file=sys.stderr)
        return 1
    print('check_env: all packages import')
    return 0


if __name__ == '__main__':
    sys.exit(main())
