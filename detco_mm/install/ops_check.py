"""Run mmcv's compiled ops that MMDetection needs on a device and compare them with CPU results.

``nms`` and ``RoIAlign`` (forward and backward) on ``device`` are compared with mmcv's own CPU
kernels, or, when ``device`` is the CPU, with torchvision's implementations;
``sigmoid_focal_loss`` (mmcv has CUDA kernels only) is compared with the plain-PyTorch formula
MMDetection uses without mmcv (``py_sigmoid_focal_loss``), forward and gradient.

Used by ``tools/check_env.py`` (when a GPU is visible) and ``tools/gpu_check.py``. Needs torch,
torchvision and mmcv with ops; unlike :mod:`detco_mm.install.mmcv_wheels` it is not stdlib-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List


@dataclass
class OpCheck:
    """Result of one op comparison.

    Attributes:
        name: The op, e.g. ``'RoIAlign'``.
        ok: Whether the device result matched the reference.
        max_abs_diff: Largest absolute difference (0 for exact comparisons such as nms).
        detail: What was compared, or what went wrong.
        skipped: The op has no kernel for the device (sigmoid_focal_loss on CPU); ``ok`` is
            then True and nothing was compared.
    """

    name: str
    ok: bool
    max_abs_diff: float
    detail: str
    skipped: bool = False


def _focal_reference(logits, labels, gamma: float, alpha: float):
    """MMDetection's ``py_sigmoid_focal_loss`` per element; label ``C`` means background."""
    import torch.nn.functional as F
    num_classes = logits.shape[1]
    target = F.one_hot(labels, num_classes + 1)[:, :num_classes].type_as(logits)
    p = logits.sigmoid()
    pt = (1 - p) * target + p * (1 - target)
    weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    return F.binary_cross_entropy_with_logits(logits, target, reduction='none') * weight


def _run(name: str, fn: Callable[[], tuple | None]) -> OpCheck:
    try:
        result = fn()
        if result is None:
            return OpCheck(name, True, 0.0, 'skipped: mmcv has no CPU kernel (MMDetection uses '
                           'its PyTorch formula on CPU)', skipped=True)
        ok, diff, detail = result
        return OpCheck(name, bool(ok), float(diff), detail)
    except Exception as e:  # an op that does not run on the device is a failed check
        return OpCheck(name, False, float('nan'), f'{type(e).__name__}: {e}'.splitlines()[0])


def compare_ops(device: str = 'cuda', seed: int = 0, atol: float = 1e-4) -> List[OpCheck]:
    """Run nms, RoIAlign and sigmoid_focal_loss on ``device`` against CPU references.

    Args:
        device: ``'cuda'``, ``'cuda:1'`` or ``'cpu'``.
        seed: Seed of the random boxes, features and logits.
        atol: Absolute tolerance of the float comparisons (inputs are O(1)).

    Returns:
        One :class:`OpCheck` per op, in the order nms, RoIAlign, sigmoid_focal_loss.

    Raises:
        ValueError: ``device`` is a CUDA device but CUDA is not available.
    """
    import torch
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device={device!r} but torch.cuda.is_available() is False')
    from mmcv.ops import RoIAlign, nms, sigmoid_focal_loss
    g = torch.Generator().manual_seed(seed)
    on_cpu = torch.device(device).type == 'cpu'

    def check_nms():
        xy = torch.rand(300, 2, generator=g) * 100
        wh = torch.rand(300, 2, generator=g) * 30 + 2
        boxes = torch.cat([xy, xy + wh], 1)
        scores = torch.randperm(300, generator=g).float() / 300  # distinct: a unique order
        _, keep_dev = nms(boxes.to(device), scores.to(device), iou_threshold=0.5)
        if on_cpu:
            import torchvision
            ref, what = torchvision.ops.nms(boxes, scores, 0.5), 'torchvision.ops.nms'
        else:
            _, ref = nms(boxes, scores, iou_threshold=0.5)
            what = 'mmcv nms on CPU'
        same = keep_dev.cpu().tolist() == ref.tolist()
        return same, 0.0, f'{len(ref)} of 300 boxes kept, same indices as {what}: {same}'

    def check_roi_align():
        feat = torch.randn(2, 8, 32, 32, generator=g)
        idx = torch.randint(0, 2, (24, 1), generator=g).float()
        x0y0 = torch.rand(24, 2, generator=g) * 20
        rois = torch.cat([idx, x0y0, x0y0 + torch.rand(24, 2, generator=g) * 10 + 1], 1)
        op = RoIAlign((7, 7), spatial_scale=1.0, sampling_ratio=2, aligned=True)

        def fwd_bwd(dev):
            f = feat.detach().clone().to(dev).requires_grad_(True)
            out = op(f, rois.to(dev))
            out.sum().backward()
            return out.detach().cpu(), f.grad.cpu()
        out, grad = fwd_bwd(device)
        if on_cpu:
            import torchvision
            f = feat.detach().clone().requires_grad_(True)
            ref = torchvision.ops.roi_align(f, rois, (7, 7), 1.0, 2, aligned=True)
            ref.sum().backward()
            ref, ref_grad, what = ref.detach(), f.grad, 'torchvision.ops.roi_align'
        else:
            (ref, ref_grad), what = fwd_bwd('cpu'), 'mmcv RoIAlign on CPU'
        diff = max((out - ref).abs().max().item(), (grad - ref_grad).abs().max().item())
        return diff <= atol, diff, f'24 rois 7x7, forward + backward vs {what}'

    def check_focal():
        if on_cpu:
            return None
        logits = torch.randn(64, 8, generator=g)
        labels = torch.randint(0, 9, (64,), generator=g)  # 8 = background
        x = logits.clone().requires_grad_(True)
        ref = _focal_reference(x, labels, 2.0, 0.25)
        ref.sum().backward()
        xd = logits.to(device).requires_grad_(True)
        out = sigmoid_focal_loss(xd, labels.to(device), 2.0, 0.25, None, 'none')
        out.sum().backward()
        diff = max((out.detach().cpu() - ref.detach()).abs().max().item(),
                   (xd.grad.cpu() - x.grad).abs().max().item())
        return diff <= atol, diff, '64x8 logits, loss + gradient vs the PyTorch formula'

    return [_run('nms', check_nms), _run('RoIAlign', check_roi_align),
            _run('sigmoid_focal_loss', check_focal)]
