"""The exported backbone is the query encoder's, tensor for tensor, BN buffers included.

The demo's DetCo backbones once fine-tuned worse than random init; one suspect was the transfer
path. This pins it: after real training, every tensor of the exported file (weights, BN
running_mean / running_var / num_batches_tracked) equals the live model's query backbone,
none equals the momentum encoder's where the two differ, and the neck and queues stay out.
The detectron2 pickle keeps every tensor's shape (0-d counters included), and a backbone of
another architecture is refused with the key, the shape found and the shape expected.

Round trips: the trained ResNet-18 and a ResNet-50 checkpoint go out in the three formats and
load strictly into MMDetection's, MMSelfSup's and torchvision's ResNet. Inputs with a
``module.`` prefix, extracted backbones, truncated files, files that are no checkpoint (text,
random bytes, detectron2 pickles, ...), incomplete backbones, checkpoints without a backbone and
output paths that cannot be written each get one message naming the file and the fix (what the
command line shows of them: tests/test_tools/test_export_backbone.py).
"""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torchvision
from mmdet.registry import MODELS as MMDET_MODELS
from mmselfsup.registry import MODELS as SELFSUP_MODELS

import detco_mm  # noqa: F401  (allow-lists MMEngine's training state for torch.load)
from detco_mm.model_converters.backbone_export import (BackboneExportError, describe,
                                                       detectron2_name, expected_resnet_keys,
                                                       expected_resnet_shapes, export_backbone,
                                                       extract_backbone)
from detco_mm.safe_loading import UnsafeCheckpointError

from checkpoint_files import INPUT_CASES, unwritable_dir, write_no_checkpoint_files
from conftest import train_tiny_detco
from detection_data import write_detco_checkpoint


def test_export_equals_the_live_query_backbone(tmp_path):
    # momentum 0.5: the key encoder moves far from the query encoder in 2 steps
    runner = train_tiny_detco(str(tmp_path), 8, **{'model.momentum': 0.5})
    live = {k: v.detach().clone() for k, v in runner.model.backbone.state_dict().items()}
    key_encoder = runner.model.encoder_k.module[0].state_dict()
    assert live['bn1.num_batches_tracked'] == 2 * 2  # 2 iterations x (global views + patches)

    ckpt = str(tmp_path / 'work' / 'epoch_1.pth')
    out = str(tmp_path / 'backbone.pth')
    backbone = export_backbone(ckpt, out)
    text = describe(backbone)
    assert f'ResNet-18, {len(live)} tensors from backbone.* of {ckpt}' in text
    assert '(epoch 1, iter 2)' in text
    mm = torch.load(out, weights_only=True)
    assert set(mm) == {'state_dict', 'meta'}
    assert mm['meta']['depth'] == 18 and mm['meta']['epoch'] == 1
    assert mm['meta']['source'] == osp.abspath(ckpt)
    exported = mm['state_dict']
    assert exported.keys() == live.keys()
    buffers = [k for k in live if k.endswith(('running_mean', 'running_var',
                                              'num_batches_tracked'))]
    assert len(buffers) == 3 * sum(1 for k in live if k.endswith('running_var')) > 0
    for key, value in live.items():
        assert exported[key].dtype == value.dtype and torch.equal(exported[key], value), key
    moved = [k for k in live if not torch.equal(live[k], key_encoder[k])
             and live[k].is_floating_point()]
    assert 'layer4.1.conv2.weight' in moved and 'bn1.running_var' in moved

    # the mmdet file loads strictly into MMDetection's and MMSelfSup's ResNet, the torchvision
    # one into torchvision's, and the detectron2 pickle has detectron2's names
    for registry in (MMDET_MODELS, SELFSUP_MODELS):
        resnet = registry.build(dict(type='ResNet', depth=18))
        assert not resnet.load_state_dict(exported, strict=True).missing_keys
    export_backbone(ckpt, str(tmp_path / 'tv.pth'), 'torchvision')
    tv = torch.load(tmp_path / 'tv.pth', weights_only=True)
    torchvision_resnet(18).load_state_dict(tv, strict=True)
    assert torch.equal(tv['layer3.1.bn2.running_var'], live['layer3.1.bn2.running_var'])
    export_backbone(ckpt, str(tmp_path / 'd2.pkl'), 'detectron2')
    d2, _ = read_pickle_globals(tmp_path / 'd2.pkl')
    assert d2['__author__'] == 'detco-mm' and d2['matching_heuristics'] is True
    assert set(d2['model']) == {detectron2_name(k) for k in live}
    np.testing.assert_array_equal(d2['model']['res5.1.conv2.weight'],
                                  live['layer4.1.conv2.weight'].numpy())


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


# ---------------------------------------------------------------- round trips, inputs, messages
@pytest.fixture(scope='module')
def r50_ckpt(tmp_path_factory):
    return write_detco_checkpoint(str(tmp_path_factory.mktemp('detco_r50') / 'epoch_7.pth'))


def query_backbone(path):
    state = torch.load(path, weights_only=True)['state_dict']
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def torchvision_resnet(depth):
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    del model.fc
    return model


def export_error(*args) -> str:
    """The one message :func:`export_backbone` raises for these arguments."""
    with pytest.raises((BackboneExportError, UnsafeCheckpointError)) as e:
        export_backbone(*args)
    return str(e.value)


def read_pickle_globals(path):
    """The pickle's content and the globals it references, loading nothing else."""
    seen = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            seen.add(f'{module}.{name}')
            assert (module, name) in {('numpy', 'ndarray'), ('builtins', 'bytearray')}, name
            return super().find_class(module, name)

    with open(path, 'rb') as f:
        return Recorder(f).load(), seen


def test_resnet50_round_trips(r50_ckpt, tmp_path):
    expected = query_backbone(r50_ckpt)
    backbone = export_backbone(r50_ckpt, str(tmp_path / 'mm.pth'))
    assert backbone.depth == 50 and backbone.prefix == 'backbone.'
    assert backbone.meta == {'epoch': 7, 'iter': 70}
    mm = torch.load(tmp_path / 'mm.pth', weights_only=True)['state_dict']
    for registry in (MMDET_MODELS, SELFSUP_MODELS):
        registry.build(dict(type='ResNet', depth=50)).load_state_dict(mm, strict=True)
    assert all(torch.equal(mm[k], v) for k, v in expected.items())

    export_backbone(r50_ckpt, str(tmp_path / 'tv.pth'), 'torchvision')
    model = torchvision_resnet(50)
    model.load_state_dict(torch.load(tmp_path / 'tv.pth', weights_only=True), strict=True)
    assert torch.equal(model.layer2[0].downsample[1].running_mean,
                       expected['layer2.0.downsample.1.running_mean'])

    export_backbone(r50_ckpt, str(tmp_path / 'd2.pkl'), 'detectron2')
    d2, globals_used = read_pickle_globals(tmp_path / 'd2.pkl')
    # numpy 2's default array pickling names numpy._core, which numpy < 1.26 cannot import
    assert globals_used == {'numpy.ndarray', 'builtins.bytearray'}
    model = d2['model']
    assert len(model) == len(expected) == len(expected_resnet_keys(50))
    shapes = {
        'stem.conv1.weight': (64, 3, 7, 7),
        'stem.conv1.norm.running_mean': (64, ),
        'res2.0.conv1.weight': (64, 64, 1, 1),
        'res2.0.conv1.norm.weight': (64, ),
        'res2.0.shortcut.weight': (256, 64, 1, 1),
        'res2.0.shortcut.norm.running_var': (256, ),
        'res3.0.conv2.weight': (128, 128, 3, 3),
        'res4.5.conv3.norm.bias': (1024, ),
        'res5.0.shortcut.weight': (2048, 1024, 1, 1),
        'res5.2.conv3.weight': (2048, 512, 1, 1),
    }
    for key, shape in shapes.items():
        assert model[key].shape == shape, key
        assert model[key].flags.writeable
    assert not any(k.startswith(('layer', 'fc', 'bn')) or 'downsample' in k for k in model)
    np.testing.assert_array_equal(model['res4.5.conv3.norm.bias'],
                                  expected['layer3.5.bn3.bias'].numpy())
    # every array has its tensor's shape: detectron2 skips any other ("Shape of ... will not be
    # loaded"); the 53 BN counters are 0-d as v.numpy() makes them in MoCo's converter
    for key, tensor in expected.items():
        assert model[detectron2_name(key)].shape == tuple(tensor.shape), key
    counters = [k for k in model if k.endswith('num_batches_tracked')]
    assert len(counters) == 53 and {model[k].shape for k in counters} == {()}

    # the pickle is no input: it is already converted
    with pytest.raises(BackboneExportError, match=r"d2\.pkl is a detectron2 checkpoint \(a pickle "
                       r"of numpy arrays under 'model', __author__ 'detco-mm'\)"):
        extract_backbone(str(tmp_path / 'd2.pkl'))


@pytest.mark.parametrize('key,name', [
    ('conv1.weight', 'stem.conv1.weight'),
    ('bn1.running_var', 'stem.conv1.norm.running_var'),
    ('layer1.0.conv3.weight', 'res2.0.conv3.weight'),
    ('layer1.2.bn3.weight', 'res2.2.conv3.norm.weight'),
    ('layer2.0.downsample.0.weight', 'res3.0.shortcut.weight'),
    ('layer4.0.downsample.1.bias', 'res5.0.shortcut.norm.bias'),
])
def test_detectron2_names(key, name):
    assert detectron2_name(key) == name


def test_module_prefix_and_extracted_inputs(r50_ckpt, tmp_path):
    expected = query_backbone(r50_ckpt)
    state = torch.load(r50_ckpt, weights_only=True)['state_dict']
    ddp = tmp_path / 'ddp.pth'
    torch.save({f'module.{k}': v for k, v in state.items()}, ddp)
    from_ddp = extract_backbone(str(ddp))
    assert from_ddp.prefix == 'backbone.' and from_ddp.depth == 50
    assert all(torch.equal(from_ddp.state_dict[k], v) for k, v in expected.items())

    # our own exports are valid inputs: mmdet ({'state_dict'}) and torchvision (bare)
    for fmt in ('mmdet', 'torchvision'):
        first = tmp_path / f'{fmt}.pth'
        export_backbone(r50_ckpt, str(first), fmt)
        again = export_backbone(str(first), str(tmp_path / f'{fmt}_again.pth'), 'mmdet')
        assert again.prefix == '' and again.depth == 50
        assert again.state_dict.keys() == expected.keys()
        assert all(torch.equal(again.state_dict[k], v) for k, v in expected.items())

    # a full torchvision model (with fc) is an extracted backbone too; fc is dropped
    tv = tmp_path / 'tv_full.pth'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tv)
    backbone = extract_backbone(str(tv))
    assert backbone.depth == 18 and 'fc.weight' not in backbone.state_dict

    with pytest.raises(BackboneExportError, match='refusing to overwrite the input'):
        export_backbone(str(ddp), str(ddp))


def test_truncated_file_is_named(r50_ckpt, tmp_path):
    truncated = tmp_path / 'epoch_7.pth'
    with open(r50_ckpt, 'rb') as f:
        truncated.write_bytes(f.read()[:1_000_000])
    msg = export_error(str(truncated), str(tmp_path / 'out.pth'))
    assert msg.startswith('cannot read')
    assert str(truncated) in msg and '1000000 bytes' in msg and 'truncated' in msg
    assert not (tmp_path / 'out.pth').exists()

    msg = export_error(str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth'))
    assert msg == f'{tmp_path / "missing.pth"} does not exist'


def test_checkpoints_without_a_query_backbone(r50_ckpt, tmp_path):
    state = torch.load(r50_ckpt, weights_only=True)['state_dict']

    other = tmp_path / 'classifier.pth'
    torch.save({'meta': {}, 'state_dict': {k: v for k, v in state.items()
                                           if k.startswith(('neck.', 'global_queue'))}}, other)
    msg = export_error(str(other), str(tmp_path / 'out.pth'))
    assert f'{other} holds no ResNet backbone' in msg
    assert "top-level keys ['meta', 'state_dict']" in msg
    assert "tensors in 'state_dict': global_queue (1), neck.* (" in msg

    momentum_only = tmp_path / 'momentum.pth'
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if k.startswith('encoder_k.')}}, momentum_only)
    with pytest.raises(BackboneExportError) as e:
        extract_backbone(str(momentum_only))
    assert "ResNet weights only under ['encoder_k.module.0.']" in str(e.value)
    assert 'momentum encoder, which is never exported' in str(e.value)

    incomplete = tmp_path / 'incomplete.pth'
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if not k.startswith(('backbone.layer4.2.conv3',
                                                    'backbone.layer4.2.bn3'))}}, incomplete)
    msg = export_error(str(incomplete), str(tmp_path / 'out.pth'))
    assert msg == (
        f'{incomplete} (backbone.): the ResNet-50 backbone is incomplete: '
        f'5 keys are missing: layer4.2.{{conv3.weight, bn3.*}}. Export from the complete '
        f'checkpoint the run saved (work_dirs/<config>/epoch_N.pth); a backbone truncated by a '
        f'copy or edited by hand cannot be exported.')
    # whole blocks missing: named against the nearest standard depth
    for gone, blocks, missing in [
            (('backbone.layer4.2.', ), '(3, 4, 6, 2)', 'layer4.2'),
            (('backbone.layer4.', ), '(3, 4, 6, 0)', 'layer4.* (all 3 blocks)'),
            (('backbone.layer3.1.', 'backbone.layer3.2.', 'backbone.layer3.3.',
              'backbone.layer3.4.', 'backbone.layer1.2.'), '(2, 4, 2, 3)',
             'layer1.2, 4 of the 6 blocks of layer3 (layer3.1 ... layer3.4)')]:
        torch.save({'state_dict': {k: v for k, v in state.items() if not k.startswith(gone)}},
                   incomplete)
        msg = export_error(str(incomplete), str(tmp_path / 'out.pth'))
        assert msg.startswith(
            f'{incomplete} (backbone.): the backbone is incomplete: it has '
            f'Bottleneck blocks {blocks} per stage (layer1..layer4), and the nearest standard '
            f'depth, ResNet-50, has (3, 4, 6, 3); missing: {missing}. Export from the complete '
            f'checkpoint'), msg
    # more blocks than any standard depth
    extra = dict(state, **{'backbone.layer1.3.conv1.weight': torch.zeros(64, 256, 1, 1)})
    torch.save({'state_dict': extra}, incomplete)
    with pytest.raises(BackboneExportError, match=r'Bottleneck blocks \(4, 4, 6, 3\) per '
                       r'stage \(layer1..layer4\) is none of the standard depths \(ResNet-18 '
                       r'BasicBlock \(2, 2, 2, 2\), .*ResNet-50 Bottleneck \(3, 4, 6, 3\)'):
        extract_backbone(str(incomplete))
    assert not (tmp_path / 'out.pth').exists()

    with pytest.raises(BackboneExportError, match='holds a list, not a checkpoint dict'):
        torch.save([1, 2], tmp_path / 'list.pth')
        extract_backbone(str(tmp_path / 'list.pth'))


@pytest.mark.parametrize('case', INPUT_CASES)
def test_files_that_are_no_checkpoint_are_named(case, tmp_path):
    """One message naming the file, what it is and the fix; nothing is unpickled or written.
    (Before: text gave a raw ``KeyError: 101``, a detectron2 .pkl "truncated" or "raw pickle".)
    """
    path, expected = write_no_checkpoint_files(tmp_path)[case]
    msg = export_error(str(path), str(tmp_path / 'out.pth'))
    assert msg.startswith(expected), msg
    assert '\n' not in msg and not (tmp_path / 'out.pth').exists()
    if case == 'raw pickle':
        assert 'numpy' in msg and 'not a file written by torch.save' in msg


def test_output_paths(r50_ckpt, tmp_path):
    """Refused before reading the input: a detectron2 export to a non-.pkl path and an OUT that
    is a directory. Created: missing parent directories (as MMEngine's LocalBackend.put).
    Named: a parent that is a file, a directory that cannot be written."""
    msg = export_error(r50_ckpt, str(tmp_path / 'r50_d2.pth'), 'detectron2')
    assert msg == (
        f"the detectron2 format needs an output path ending in .pkl, not "
        f"{tmp_path / 'r50_d2.pth'}: detectron2's DetectionCheckpointer reads a pickle only from "
        f"a .pkl file and opens anything else with torch.load, which cannot read it. Use e.g. "
        f"{tmp_path / 'r50_d2.pkl'}")
    assert not (tmp_path / 'r50_d2.pth').exists()

    msg = export_error(r50_ckpt, str(tmp_path))
    assert msg == (f'the output {tmp_path} is a directory; give the file '
                   f'to write, e.g. {tmp_path / "backbone_mmdet.pth"}')

    nested = tmp_path / 'work_dirs' / 'detco' / 'backbone_mmdet.pth'
    export_backbone(r50_ckpt, str(nested))
    assert sorted(p.name for p in nested.parent.iterdir()) == ['backbone_mmdet.pth']  # no .part

    blocker = tmp_path / 'work_dirs' / 'detco' / 'backbone_mmdet.pth' / 'x' / 'out.pth'
    msg = export_error(r50_ckpt, str(blocker))
    assert msg == (f'cannot create the output directory {blocker.parent} for '
                   f'{blocker}: {nested} is a file, not a directory. Choose an output path in a '
                   f'directory you can write to (e.g. under work_dirs/).')

    locked = unwritable_dir()
    if locked is None:
        pytest.skip('no directory here refuses writes to this user')
    msg = export_error(r50_ckpt, osp.join(locked, 'backbone.pth'))
    assert msg.startswith(f'cannot write {locked}/backbone.pth: ')
    assert msg.endswith(f'. Choose an output path in a directory you can write to (e.g. under '
                        f'work_dirs/), or make {locked} writable for this user.')


def test_foreign_pickled_objects_are_refused(r50_ckpt, tmp_path):
    import argparse
    ckpt = torch.load(r50_ckpt, weights_only=True)
    ckpt['meta']['args'] = argparse.Namespace(lr=0.1)
    foreign = tmp_path / 'foreign.pth'
    torch.save(ckpt, foreign)
    with pytest.raises(UnsafeCheckpointError):
        extract_backbone(str(foreign))
    msg = export_error(str(foreign), str(tmp_path / 'out.pth'))
    assert f'refusing to load {foreign}' in msg and 'argparse.Namespace' in msg
    assert 'DETCO_SAFE_GLOBALS' in msg
