"""tools/model_converters/export_backbone.py and detco_mm.model_converters.backbone_export.

Round trips: a trained DetCo checkpoint (ResNet-18, the tiny test config) and a ResNet-50 one go
out in the three formats and load strictly into MMDetection's, MMSelfSup's and torchvision's
ResNet; the detectron2 pickle has detectron2's names and every tensor's shape. Inputs with a
``module.`` prefix, extracted backbones, truncated files, files that are no checkpoint (text,
random bytes, detectron2 pickles, ...), incomplete backbones, checkpoints without a backbone and
output paths that cannot be written behave as the tool promises: one message naming the file
and the fix, as the user sees it from the command line.
"""
import importlib.util
import os
import os.path as osp
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import torchvision
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.config import Config
from mmengine.runner import Runner
from mmselfsup.registry import MODELS as SELFSUP_MODELS

import detco_mm  # noqa: F401  (allow-lists MMEngine's training state for torch.load)
from detco_mm.model_converters.backbone_export import (BackboneExportError, detectron2_name,
                                                       expected_resnet_keys, export_backbone,
                                                       extract_backbone)
from detco_mm.safe_loading import UnsafeCheckpointError

from conftest import REPO_ROOT, TEST_CONFIGS, write_image_folder
from detection_data import keep_default_scope, write_detco_checkpoint

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
    msg, _ = export([str(incomplete), str(tmp_path / 'out.pth')], capsys)
    assert msg == (
        f'export_backbone.py: {incomplete} (backbone.): the ResNet-50 backbone is incomplete: '
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
        msg, _ = export([str(incomplete), str(tmp_path / 'out.pth')], capsys)
        assert msg.startswith(
            f'export_backbone.py: {incomplete} (backbone.): the backbone is incomplete: it has '
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


FIX = ('Pass the checkpoint the pre-training run saved (work_dirs/<config>/epoch_N.pth) or a '
       'backbone this tool exported in mmdet/torchvision format.')


def _write_inputs(tmp_path):
    """name -> (path, expected message after 'export_backbone.py: ') of files that are no
    PyTorch checkpoint, each told apart without unpickling it."""
    rng = np.random.default_rng(0)
    cases = {}
    text = tmp_path / 'notes.pth'
    text.write_text('epoch 200 done, saved to work_dirs\n')
    cases['text'] = (text, f"{text} (35 bytes) is a text file, not a PyTorch checkpoint: it "
                     f"starts with 'epoch 200 done, saved to work_dirs'. {FIX}")
    noise = tmp_path / 'noise.pth'
    noise.write_bytes(b'\x17' + rng.bytes(4095))  # 0x17: neither a zip nor a pickle header
    head = noise.read_bytes()[:8].hex(' ')
    cases['random bytes'] = (noise, f'{noise} (4096 bytes) is not a PyTorch checkpoint: it starts '
                             f'with bytes {head}, while torch.save writes a zip archive (50 4b 03 '
                             f'04) or, in its legacy format, a pickle (80 02). {FIX}')
    official = tmp_path / 'detco_r50_d2.pkl'
    with open(official, 'wb') as f:  # as MoCo's / DetCo's convert-pretrain-to-detectron2.py
        pickle.dump({'model': {'stem.conv1.weight': np.zeros((64, 3, 7, 7), np.float32)},
                     '__author__': 'OpenSelfSup', 'matching_heuristics': True}, f)
    cases['detectron2 pkl'] = (
        official, f"{official} is a detectron2 checkpoint (a pickle of numpy arrays under "
        f"'model', __author__ 'OpenSelfSup'), not a PyTorch checkpoint: it is already "
        f"converted, e.g. by this tool's --format detectron2 or MoCo's "
        f"convert-pretrain-to-detectron2.py. Load it in detectron2 directly (MODEL.WEIGHTS "
        f"{official}); for another format, run this tool on the DetCo checkpoint it was "
        f"exported from (work_dirs/<config>/epoch_N.pth).")
    raw = tmp_path / 'raw.pkl'
    with open(raw, 'wb') as f:
        pickle.dump({'conv1.weight': np.zeros(3, np.float32)}, f, protocol=2)
    cases['raw pickle'] = (raw, f'refusing to load {raw}: it is a raw Python pickle (it names ')
    archive = tmp_path / 'images.zip'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('images/a.jpg', b'jpeg')
    cases['zip archive'] = (archive, f'{archive} is a zip archive without data.pkl (1 file: '
                            f'images/a.jpg), not a file written by torch.save. {FIX}')
    lfs = tmp_path / 'epoch_200.pth'
    lfs.write_text('version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n')
    cases['git lfs pointer'] = (lfs, f'{lfs} is a Git LFS pointer (63 bytes of text), not the '
                                f'checkpoint itself: fetch it with `git lfs pull` (or download '
                                f'the file), then export it.')
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    cases['empty'] = (empty, f'{empty} is empty (0 bytes), not a PyTorch checkpoint. {FIX}')
    return cases


INPUT_CASES = ['text', 'random bytes', 'detectron2 pkl', 'raw pickle', 'zip archive',
               'git lfs pointer', 'empty']


@pytest.mark.parametrize('case', INPUT_CASES)
def test_files_that_are_no_checkpoint_are_named(case, tmp_path, capsys):
    """One message naming the file, what it is and the fix; nothing is unpickled or written.
    (Before: text gave a raw ``KeyError: 101``, a detectron2 .pkl "truncated" or "raw pickle".)
    """
    path, expected = _write_inputs(tmp_path)[case]
    msg, _ = export([str(path), str(tmp_path / 'out.pth')], capsys)
    assert msg.startswith(f'export_backbone.py: {expected}'), msg
    assert '\n' not in msg and not (tmp_path / 'out.pth').exists()
    if case == 'raw pickle':
        assert 'numpy' in msg and 'not a file written by torch.save' in msg


def _unwritable_dir():
    """A directory that even root cannot create files in (sysfs), or None."""
    if not osp.isdir('/sys'):
        return None
    try:
        open('/sys/detco_probe.pth', 'wb').close()
    except OSError:
        return '/sys'
    os.remove('/sys/detco_probe.pth')
    return None


def test_output_paths(r50_ckpt, tmp_path, capsys):
    """Refused before reading the input: a detectron2 export to a non-.pkl path and an OUT that
    is a directory. Created: missing parent directories (as MMEngine's LocalBackend.put).
    Named: a parent that is a file, a directory that cannot be written."""
    msg, _ = export([r50_ckpt, str(tmp_path / 'r50_d2.pth'), '--format', 'detectron2'], capsys)
    assert msg == (
        f"export_backbone.py: the detectron2 format needs an output path ending in .pkl, not "
        f"{tmp_path / 'r50_d2.pth'}: detectron2's DetectionCheckpointer reads a pickle only from "
        f"a .pkl file and opens anything else with torch.load, which cannot read it. Use e.g. "
        f"{tmp_path / 'r50_d2.pkl'}")
    assert not (tmp_path / 'r50_d2.pth').exists()

    msg, _ = export([r50_ckpt, str(tmp_path)], capsys)
    assert msg == (f'export_backbone.py: the output {tmp_path} is a directory; give the file '
                   f'to write, e.g. {tmp_path / "backbone_mmdet.pth"}')

    nested = tmp_path / 'work_dirs' / 'detco' / 'backbone_mmdet.pth'
    assert export([r50_ckpt, str(nested)], capsys)[0] is None
    assert sorted(p.name for p in nested.parent.iterdir()) == ['backbone_mmdet.pth']  # no .part

    blocker = tmp_path / 'work_dirs' / 'detco' / 'backbone_mmdet.pth' / 'x' / 'out.pth'
    msg, _ = export([r50_ckpt, str(blocker)], capsys)
    assert msg == (f'export_backbone.py: cannot create the output directory {blocker.parent} for '
                   f'{blocker}: {nested} is a file, not a directory. Choose an output path in a '
                   f'directory you can write to (e.g. under work_dirs/).')

    locked = _unwritable_dir()
    if locked is None:
        pytest.skip('no directory here refuses writes to this user')
    msg, _ = export([r50_ckpt, osp.join(locked, 'backbone.pth')], capsys)
    assert msg.startswith(f'export_backbone.py: cannot write {locked}/backbone.pth: ')
    assert msg.endswith(f'. Choose an output path in a directory you can write to (e.g. under '
                        f'work_dirs/), or make {locked} writable for this user.')


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

    # what the user sees for bad input / output: one line, exit status 1, no traceback
    text, expected = _write_inputs(tmp_path)['text']
    runs = [([str(text), str(out), '--format', 'torchvision'], f'export_backbone.py: {expected}')]
    locked = _unwritable_dir()
    if locked is not None:
        runs.append(([r50_ckpt, osp.join(locked, 'r50.pkl')],
                     f'export_backbone.py: cannot write {locked}/r50.pkl: '))
    for args, message in runs:
        result = subprocess.run([sys.executable, SCRIPT, *args], env=subprocess_env,
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 1, result.stderr[-3000:]
        lines = [line for line in result.stderr.splitlines() if 'Warning' not in line]
        assert len(lines) == 1 and lines[0].startswith(message), result.stderr[-3000:]
        assert 'Traceback' not in result.stderr
