"""tools/model_converters/export_backbone.py and detco_mm.utils.backbone_export.

Round trips: a trained DetCo checkpoint (ResNet-18, the tiny test config) and a ResNet-50 one go
out in the three formats and load strictly into MMDetection's, MMSelfSup's and torchvision's
ResNet; the detectron2 pickle has detectron2's names and shapes. Inputs with a ``module.``
prefix, extracted backbones, truncated files and checkpoints without a backbone behave as the
tool promises.
"""
import importlib.util
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.runner import Runner

import detco_mm  # noqa: F401  (allow-lists MMEngine's training state for torch.load)
from conftest import REPO_ROOT, TEST_CONFIGS, write_image_folder
from detco_mm.stack_fixes import UnsafeCheckpointError
from detco_mm.utils.backbone_export import (BackboneExportError, detectron2_name,
                                            expected_resnet_keys, export_backbone,
                                            extract_backbone)
from detection_data import keep_default_scope, write_detco_checkpoint
from mmdet.registry import MODELS as MMDET_MODELS
from mmselfsup.registry import MODELS as SELFSUP_MODELS

SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters', 'export_backbone.py')


def _load_script():
    spec = importlib.util.spec_from_file_location('export_backbone_script', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export_script = _load_script()


@pytest.fixture(scope='module')
def trained_ckpt(tmp_path_factory):
    """epoch_1.pth of the tiny DetCo config (ResNet-18), trained for real: a stock checkpoint."""
    tmp = tmp_path_factory.mktemp('detco_r18')
    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    cfg.train_dataloader.dataset.data_root = write_image_folder(str(tmp / 'data'), 8, (64, 80))
    cfg.work_dir = str(tmp / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.log_level = 'WARNING'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: 2 threads mostly wait on each other
    try:
        with keep_default_scope():
            Runner.from_cfg(cfg).train()
    finally:
        torch.set_num_threads(threads)
    return str(tmp / 'work' / 'epoch_1.pth')


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


def export(args, capsys):
    """Run the CLI's main() in this process; returns (exit message or None, stdout)."""
    try:
        export_script.main(args)
    except SystemExit as e:
        return str(e.code), capsys.readouterr().out
    return None, capsys.readouterr().out


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


def test_trained_checkpoint_in_all_formats(trained_ckpt, tmp_path, capsys):
    expected = query_backbone(trained_ckpt)
    momentum = {k[len('encoder_k.module.0.'):]: v for k, v in torch.load(
        trained_ckpt, weights_only=True)['state_dict'].items()
        if k.startswith('encoder_k.module.0.')}
    # one epoch at m = 0.999 moved the key encoder away from the query encoder
    assert not torch.equal(momentum['layer4.1.conv2.weight'], expected['layer4.1.conv2.weight'])

    msg, out = export([trained_ckpt, str(tmp_path / 'mm.pth')], capsys)
    assert msg is None
    assert f'ResNet-18, {len(expected)} tensors from backbone.* of {trained_ckpt}' in out
    assert '(epoch 1, iter 2)' in out and '(mmdet format)' in out
    mm = torch.load(tmp_path / 'mm.pth', weights_only=True)
    assert set(mm) == {'state_dict', 'meta'}
    assert mm['meta']['depth'] == 18 and mm['meta']['epoch'] == 1
    assert mm['meta']['source'] == osp.abspath(trained_ckpt)
    assert mm['state_dict'].keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(mm['state_dict'][key], value), key
    for registry in (MMDET_MODELS, SELFSUP_MODELS):
        resnet = registry.build(dict(type='ResNet', depth=18))
        assert not resnet.load_state_dict(mm['state_dict'], strict=True).missing_keys

    assert export([trained_ckpt, str(tmp_path / 'tv.pth'), '--format', 'torchvision'],
                  capsys)[0] is None
    tv = torch.load(tmp_path / 'tv.pth', weights_only=True)
    torchvision_resnet(18).load_state_dict(tv, strict=True)
    assert torch.equal(tv['layer3.1.bn2.running_var'], expected['layer3.1.bn2.running_var'])

    assert export([trained_ckpt, str(tmp_path / 'd2.pkl')], capsys)[0] is None  # .pkl: d2
    d2, _ = read_pickle_globals(tmp_path / 'd2.pkl')
    assert d2['__author__'] == 'detco-mm' and d2['matching_heuristics'] is True
    assert set(d2['model']) == {detectron2_name(k) for k in expected}
    np.testing.assert_array_equal(d2['model']['res5.1.conv2.weight'],
                                  expected['layer4.1.conv2.weight'].numpy())


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


def test_truncated_file_is_named(r50_ckpt, tmp_path, capsys):
    truncated = tmp_path / 'epoch_7.pth'
    with open(r50_ckpt, 'rb') as f:
        truncated.write_bytes(f.read()[:1_000_000])
    msg, _ = export([str(truncated), str(tmp_path / 'out.pth')], capsys)
    assert msg.startswith('export_backbone.py: cannot read')
    assert str(truncated) in msg and '1000000 bytes' in msg and 'truncated' in msg
    assert not (tmp_path / 'out.pth').exists()

    msg, _ = export([str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth')], capsys)
    assert msg == f'export_backbone.py: {tmp_path / "missing.pth"} does not exist'


def test_checkpoints_without_a_query_backbone(r50_ckpt, tmp_path, capsys):
    state = torch.load(r50_ckpt, weights_only=True)['state_dict']

    other = tmp_path / 'classifier.pth'
    torch.save({'meta': {}, 'state_dict': {k: v for k, v in state.items()
                                           if k.startswith(('neck.', 'global_queue'))}}, other)
    msg, _ = export([str(other), str(tmp_path / 'out.pth')], capsys)
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
    with pytest.raises(BackboneExportError, match=r'incomplete.pth \(backbone\.\): the '
                       r'ResNet-50 backbone is incomplete, 5 keys are missing \(e\.g\. '
                       r'layer4\.2\.conv3\.weight'):
        extract_backbone(str(incomplete))
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if not k.startswith('backbone.layer4.2.')}}, incomplete)
    with pytest.raises(BackboneExportError, match=r'Bottleneck blocks \(3, 4, 6, 2\) per '
                       r'stage is none of the standard depths'):
        extract_backbone(str(incomplete))

    with pytest.raises(BackboneExportError, match='holds a list, not a checkpoint dict'):
        torch.save([1, 2], tmp_path / 'list.pth')
        extract_backbone(str(tmp_path / 'list.pth'))


def test_foreign_pickled_objects_are_refused(r50_ckpt, tmp_path, capsys):
    import argparse
    ckpt = torch.load(r50_ckpt, weights_only=True)
    ckpt['meta']['args'] = argparse.Namespace(lr=0.1)
    foreign = tmp_path / 'foreign.pth'
    torch.save(ckpt, foreign)
    with pytest.raises(UnsafeCheckpointError):
        extract_backbone(str(foreign))
    msg, _ = export([str(foreign), str(tmp_path / 'out.pth')], capsys)
    assert f'refusing to load {foreign}' in msg and 'argparse.Namespace' in msg
    assert 'DETCO_SAFE_GLOBALS' in msg


def test_script_runs_from_the_command_line(r50_ckpt, tmp_path, subprocess_env):
    out = tmp_path / 'backbone_mmdet.pth'
    result = subprocess.run([sys.executable, SCRIPT, r50_ckpt, str(out)], env=subprocess_env,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'-> {out} (mmdet format)' in result.stdout
    assert torch.load(out, weights_only=True)['meta']['exported_by'].startswith('detco-mm ')

    result = subprocess.run([sys.executable, SCRIPT, str(tmp_path / 'nope.pth'), str(out),
                             '--format', 'torchvision'], env=subprocess_env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'export_backbone.py: {tmp_path / "nope.pth"} does not exist')
