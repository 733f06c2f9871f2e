"""The exported backbone is the query encoder's, tensor for tensor, BN buffers included.

The demo's DetCo backbones once fine-tuned worse than random init; one suspect was the transfer
path. This pins it: after real training, every tensor of the exported file (weights, BN
running_mean / running_var / num_batches_tracked) equals the live model's query backbone,
none equals the momentum encoder's where the two differ, and the neck and queues stay out.
"""
import torch

import detco_mm  # noqa: F401
from conftest import train_tiny_detco
from detco_mm.utils.backbone_export import export_backbone


def test_export_equals_the_live_query_backbone(tmp_path):
    # momentum 0.5: the key encoder moves far from the query encoder in 2 steps
    runner = train_tiny_detco(str(tmp_path), 8, **{'model.momentum': 0.5})
    live = {k: v.detach().clone() for k, v in runner.model.backbone.state_dict().items()}
    key_encoder = runner.model.encoder_k.module[0].state_dict()
    assert live['bn1.num_batches_tracked'] == 2 * 2  # 2 iterations x (global views + patches)

    out = str(tmp_path / 'backbone.pth')
    export_backbone(str(tmp_path / 'work' / 'epoch_1.pth'), out)
    exported = torch.load(out, weights_only=True)['state_dict']
    assert exported.keys() == live.keys()
    buffers = [k for k in live if k.endswith(('running_mean', 'running_var',
                                              'num_batches_tracked'))]
    assert len(buffers) == 3 * sum(1 for k in live if k.endswith('running_var')) > 0
    for key, value in live.items():
        assert exported[key].dtype == value.dtype and torch.equal(exported[key], value), key
    moved = [k for k in live if not torch.equal(live[k], key_encoder[k])
             and live[k].is_floating_point()]
    assert 'layer4.1.conv2.weight' in moved and 'bn1.running_var' in moved


def test_a_checkpoint_of_zero_iterations_is_not_exported(tmp_path):
    """A run that trained nothing (e.g. fewer images than the batch) saved random weights."""
    import pytest

    from detco_mm.utils.backbone_export import BackboneExportError
    from detection_data import write_detco_checkpoint
    path = write_detco_checkpoint(str(tmp_path / 'epoch_1.pth'), depth=18)
    ckpt = torch.load(path, weights_only=True)
    ckpt['meta'] = dict(epoch=1, iter=0)
    torch.save(ckpt, path)
    with pytest.raises(BackboneExportError, match='saved after 0 training iterations: its '
                       'backbone is the random initialisation'):
        export_backbone(path, str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()
    ckpt['meta'] = dict(epoch=1, iter=1)
    torch.save(ckpt, path)
    export_backbone(path, str(tmp_path / 'out.pth'))  # one iteration is training
