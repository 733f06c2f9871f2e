"""Tests of :class:`detco_mm.models.data_preprocessor.DetCoDataPreprocessor` (DetCo sec. 3.2)."""
import pytest
import torch
from mmselfsup.models.utils import SelfSupDataPreprocessor
from mmselfsup.registry import MODELS
from mmselfsup.structures import SelfSupDataSample

import detco_mm  # noqa: F401  (registers the components)

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def build(**kwargs):
    return MODELS.build(dict(type='DetCoDataPreprocessor', **kwargs))


def labelled_patches(b: int = 2, n: int = 9, h: int = 5, w: int = 4) -> torch.Tensor:
    """(B, N, 3, h, w) uint8 where pixel value = 80 * channel + 8 * patch + image (< 256)."""
    c = torch.arange(3).view(1, 1, 3, 1, 1) * 80
    p = torch.arange(n).view(1, n, 1, 1, 1) * 8
    i = torch.arange(b).view(b, 1, 1, 1, 1)
    return (c + p + i).expand(b, n, 3, h, w).to(torch.uint8).contiguous()


def random_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    globals_ = [torch.randint(0, 256, (2, 3, 12, 10), generator=g, dtype=torch.uint8)
                for _ in range(2)]
    patches = [torch.randint(0, 256, (2, 9, 3, 6, 6), generator=g, dtype=torch.uint8)
               for _ in range(2)]
    return globals_, patches


def test_channel_flip_on_dim_minus_3_for_patch_sets():
    x = labelled_patches()
    out, _ = build(bgr_to_rgb=True)(dict(inputs=[x]))
    y = out[0]
    assert y.shape == x.shape and y.dtype == torch.float32
    # channel c of the output is channel 2 - c of the input; patch and image axes unchanged
    torch.testing.assert_close(y, x.flip(2).float(), rtol=0, atol=0)
    assert y[1, 7, 0, 0, 0].item() == 160 + 56 + 1
    assert y[1, 7, 2, 0, 0].item() == 0 + 56 + 1
    # MMSelfSup's own preprocessor indexes the patch axis instead: the reason for this class
    parent, _ = SelfSupDataPreprocessor(bgr_to_rgb=True)(dict(inputs=[x], data_samples=None))
    assert not torch.equal(parent[0], y)


def test_normalisation_5d_matches_manual():
    x = labelled_patches()
    out, _ = build(mean=MEAN, std=STD, bgr_to_rgb=True)(dict(inputs=[x]))
    rgb = x.flip(2).double()
    mean = torch.tensor(MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(3, 1, 1)
    torch.testing.assert_close(out[0].double(), (rgb - mean) / std, rtol=0, atol=1e-5)


@pytest.mark.parametrize('kwargs', [
    dict(mean=MEAN, std=STD, bgr_to_rgb=True),
    dict(mean=MEAN, std=STD, rgb_to_bgr=True),
    dict(mean=MEAN, std=STD),
    dict(bgr_to_rgb=True),
    dict(),
])
def test_equals_selfsup_preprocessor_on_4d(kwargs):
    globals_, _ = random_batch()
    samples = [SelfSupDataSample(), SelfSupDataSample()]
    ours, ours_samples = build(**kwargs)(dict(inputs=list(globals_), data_samples=samples))
    ref, _ = SelfSupDataPreprocessor(**kwargs)(
        dict(inputs=list(globals_), data_samples=samples))
    assert len(ours) == len(ref) == 2
    for a, b in zip(ours, ref):
        assert a.dtype == b.dtype == torch.float32
        assert torch.equal(a, b)
    assert len(ours_samples) == 2
    assert all(isinstance(s, SelfSupDataSample) for s in ours_samples)


def test_mixed_views_each_patch_equals_4d_processing():
    globals_, patches = random_batch(1)
    pre = build(mean=MEAN, std=STD, bgr_to_rgb=True)
    out, _ = pre(dict(inputs=globals_ + patches, data_samples=None))
    assert [tuple(x.shape) for x in out] == [(2, 3, 12, 10)] * 2 + [(2, 9, 3, 6, 6)] * 2
    # A patch set processed as 5-D equals its patches processed as a 4-D batch.
    flat, _ = pre(dict(inputs=[patches[0].flatten(0, 1)]))
    assert torch.equal(out[2].flatten(0, 1), flat[0])


def test_float_input_not_modified_in_place():
    x = torch.rand(2, 9, 3, 4, 4) * 255
    x0 = x.clone()
    out, _ = build(mean=MEAN, std=STD)(dict(inputs=[x]))
    assert torch.equal(x, x0)
    assert not torch.equal(out[0], x)


def test_bad_inputs():
    pre = build(mean=MEAN, std=STD, bgr_to_rgb=True)
    with pytest.raises(ValueError, match=r'input 0 must be a \(B, C, H, W\)'):
        pre(dict(inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8)]))
    with pytest.raises(ValueError, match='input 1 .* 9 channels on dim -3'):
        pre(dict(inputs=[torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
                         torch.zeros(1, 3, 9, 4, 4, dtype=torch.uint8)]))
    with pytest.raises(ValueError, match='mean/std have 3 values'):
        build(mean=MEAN, std=STD)(dict(inputs=[torch.zeros(1, 1, 4, 4, dtype=torch.uint8)]))
    with pytest.raises(TypeError, match='default_collate'):
        pre([dict(inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8)])])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_runs_on_cuda():
    _, patches = random_batch()
    pre = build(mean=MEAN, std=STD, bgr_to_rgb=True)
    cpu, _ = pre(dict(inputs=list(patches)))
    out, _ = pre.cuda()(dict(inputs=list(patches)))
    assert out[0].is_cuda
    torch.testing.assert_close(out[0].cpu(), cpu[0])
