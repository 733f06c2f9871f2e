"""The exported backbone is the query encoder's, tensor for tensor, BN buffers included.

The demo's DetCo backbones once fine-tuned worse than random init; one suspect was the transfer
path. This pins it: after real training, every tensor of the exported file (weights, BN
running_mean / running_var / num_batches_tracked) equals the live model's query backbone,
none equals the momentum encoder's where the two differ, and the neck and queues stay out.
The detectron2 pickle keeps every tensor's shape (0-d counters included), and a backbone of
another architecture is refused with the key, the shape found and the shape expected.
"""
import pickle

import pytest
import torch
import torchvision

import detco_mm  # noqa: F401
from detco_mm.model_converters.backbone_export import (BackboneExportError, detectron2_name,
                                                       expected_resnet_shapes, export_backbone)

from conftest import train_tiny_detco
from detection_data import write_detco_checkpoint


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


@pytest.mark.parametrize('depth', [18, 50])
def test_expected_shapes_are_torchvision_s(depth):
    """expected_resnet_shapes() is what torchvision's ResNet holds, key for key."""
    with torch.device('meta'):
        model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    own = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith('fc.')}
    assert dict(expected_resnet_shapes(depth)) == own


def test_detectron2_arrays_keep_the_tensor_shapes(tmp_path):
    """Every array of the detectron2 pickle has its tensor's shape; num_batches_tracked is 0-d.

    detectron2 compares shapes exactly ("Shape of ... in checkpoint is (1,), while shape of ...
    in model is () ... will not be loaded"), so a (1,) counter would be dropped.
    """
    path = write_detco_checkpoint(str(tmp_path / 'epoch_7.pth'), depth=18)
    source = {k[len('backbone.'):]: v for k, v in
              torch.load(path, weights_only=True)['state_dict'].items()
              if k.startswith('backbone.')}
    export_backbone(path, str(tmp_path / 'd2.pkl'), 'detectron2')
    with open(tmp_path / 'd2.pkl', 'rb') as f:  # as detectron2's DetectionCheckpointer does
        model = pickle.load(f, encoding='latin1')['model']
    assert model.keys() == {detectron2_name(k) for k in source}
    for key, tensor in source.items():
        array = model[detectron2_name(key)]
        assert array.shape == tuple(tensor.shape), key
        assert torch.from_numpy(array).dtype == tensor.dtype, key
        assert torch.equal(torch.from_numpy(array), tensor), key
    counters = [k for k in model if k.endswith('num_batches_tracked')]
    assert len(counters) == 20 and all(model[k].shape == () for k in counters)


def test_old_counters_and_legacy_files_are_read(tmp_path):
    """num_batches_tracked of shape (1,) (which torch itself loads into a 0-d buffer) leaves
    as (); torch.save's legacy non-zip format is a checkpoint too."""
    path = write_detco_checkpoint(str(tmp_path / 'epoch_7.pth'), depth=18)
    state = torch.load(path, weights_only=True)['state_dict']
    old = {k: v.reshape(1) if k.endswith('num_batches_tracked') else v
           for k, v in state.items() if k.startswith('backbone.')}
    torch.save({'state_dict': old}, tmp_path / 'old.pth', _use_new_zipfile_serialization=False)
    with open(tmp_path / 'old.pth', 'rb') as f:
        assert f.read(2) == b'\x80\x02'  # legacy format: a pickle, not a zip archive
    backbone = export_backbone(str(tmp_path / 'old.pth'), str(tmp_path / 'd2.pkl'), 'detectron2')
    assert backbone.depth == 18
    assert backbone.state_dict['layer2.0.downsample.1.num_batches_tracked'].shape == ()
    with open(tmp_path / 'd2.pkl', 'rb') as f:
        assert pickle.load(f)['model']['res3.0.shortcut.norm.num_batches_tracked'].shape == ()


def test_shapes_of_another_architecture_are_named(tmp_path):
    path = write_detco_checkpoint(str(tmp_path / 'epoch_7.pth'), depth=18)
    ckpt = torch.load(path, weights_only=True)
    ckpt['state_dict']['backbone.layer2.1.conv2.weight'] = torch.zeros(96, 128, 3, 3)
    torch.save(ckpt, tmp_path / 'wide.pth')
    with pytest.raises(BackboneExportError) as e:
        export_backbone(str(tmp_path / 'wide.pth'), str(tmp_path / 'out.pth'))
    assert str(e.value).startswith(
        f'{tmp_path / "wide.pth"} (backbone.): 1 of its tensors differ in shape from a standard '
        f'ResNet-18 (torchvision resnet18, MMDetection ResNet(depth=18)): '
        f'layer2.1.conv2.weight has shape (96, 128, 3, 3), expected (128, 128, 3, 3).')
    assert 'wide ResNet or a ResNeXt' in str(e.value)
    assert not (tmp_path / 'out.pth').exists()

    ckpt = torch.load(path, weights_only=True)
    ckpt['state_dict']['backbone.layer3.0.conv2.conv_offset.weight'] = torch.zeros(18, 256, 3, 3)
    torch.save(ckpt, tmp_path / 'dcn.pth')
    with pytest.raises(BackboneExportError, match=r'dcn.pth \(backbone\.\): 1 tensor is not part '
                       r'of a standard ResNet-18: layer3\.0\.conv2\.conv_offset\.weight\. '):
        export_backbone(str(tmp_path / 'dcn.pth'), str(tmp_path / 'out.pth'))


class _WrongArguments:
    """Pickles as a call of an allowed function with arguments it cannot take."""

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, ('x', )


def test_hostile_inputs_and_outputs_get_one_message(tmp_path):
    import os
    import zipfile

    from detco_mm.model_converters.backbone_export import check_output, read_checkpoint
    malformed = str(tmp_path / 'malformed.pth')
    torch.save({'state_dict': _WrongArguments()}, malformed)
    with pytest.raises(BackboneExportError, match=r'malformed.pth: its pickle is malformed '
                                                  r'\(TypeError'):
        read_checkpoint(malformed)
    # a deflated data.pkl (torch.save stores entries uncompressed): never decompressed
    bomb = str(tmp_path / 'bomb.pth')
    with zipfile.ZipFile(bomb, 'w', compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr('bomb/version', '3\n', compress_type=zipfile.ZIP_STORED)
        z.writestr('bomb/data.pkl', b'\0' * 1_000_000)
    with pytest.raises(BackboneExportError, match=r'compressed entries \(bomb/data.pkl\)'):
        read_checkpoint(bomb)
    fifo = str(tmp_path / 'out.pth')
    os.mkfifo(fifo)
    with pytest.raises(BackboneExportError, match='exists and is not a regular file'):
        check_output(fifo, 'mmdet')
