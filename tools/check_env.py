"""Check that the pinned detco-mm stack imports and its compiled ops run.

Usage: ``python tools/check_env.py``. Prints one line per package with its version and exits
non-zero, naming the package, when one of them fails. ``tools/install.sh`` runs it last.
"""
import importlib
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
    if failed:
        print(f'check_env: broken: {", ".join(failed)}', file=sys.stderr)
        return 1
    print('check_env: all packages import')
    return 0


if __name__ == '__main__':
    sys.exit(main())
