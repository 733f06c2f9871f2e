"""mmcv op comparisons of check_env / gpu_check (detco_mm/install/ops_check.py)."""
import pytest
import torch

from detco_mm.install import ops_check


def test_cpu_ops_match_torchvision():
    results = {r.name: r for r in ops_check.compare_ops('cpu')}
    assert list(results) == ['nms', 'RoIAlign', 'sigmoid_focal_loss']
    assert results['nms'].ok and results['RoIAlign'].ok, results
    assert results['RoIAlign'].max_abs_diff <= 1e-4
    # mmcv 2.0.1 has no CPU kernel for it: reported as skipped, not as compared
    assert results['sigmoid_focal_loss'].skipped


def test_focal_reference_is_mmdets_formula():
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    logits = torch.randn(16, 5)
    labels = torch.randint(0, 6, (16,))
    target = torch.nn.functional.one_hot(labels, 6)[:, :5]
    ref = py_sigmoid_focal_loss(logits, target, gamma=2.0, alpha=0.25, reduction='none')
    torch.testing.assert_close(ops_check._focal_reference(logits, labels, 2.0, 0.25), ref)


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip('CUDA is available here')
    with pytest.raises(ValueError, match="device='cuda'"):
        ops_check.compare_ops('cuda')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_ops_match_cpu():
    for r in ops_check.compare_ops('cuda'):
        assert r.ok and not r.skipped, r
