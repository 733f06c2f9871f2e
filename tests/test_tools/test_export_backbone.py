"""tools/model_converters/export_backbone.py, the command line over
detco_mm.model_converters.backbone_export: the output format follows the option or OUT's
extension, a success prints what was exported, and every refusal of the library (its messages
are tested in tests/test_model_converters/test_backbone_export.py), safe loading's included,
ends the tool with exit status 1 and one line ``export_backbone.py: <message>`` on stderr and
no traceback. One test runs the tool as users do, in a fresh interpreter."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from detco_mm.model_converters.backbone_export import describe, extract_backbone

from checkpoint_files import unwritable_dir, write_no_checkpoint_files
from conftest import REPO_ROOT, load_tool
from detection_data import write_detco_checkpoint

SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters', 'export_backbone.py')


export_script = load_tool('model_converters/export_backbone.py')


@pytest.fixture(scope='module')
def r50_ckpt(tmp_path_factory):
    return write_detco_checkpoint(str(tmp_path_factory.mktemp('detco_r50') / 'epoch_7.pth'))


def export(args, capsys):
    """Run the CLI's main() in this process; returns (exit message or None, stdout)."""
    try:
        export_script.main(args)
    except SystemExit as e:
        return str(e.code), capsys.readouterr().out
    return None, capsys.readouterr().out


def test_format_from_the_option_or_the_extension(r50_ckpt, tmp_path, capsys):
    described = describe(extract_backbone(r50_ckpt))
    msg, out = export([r50_ckpt, str(tmp_path / 'mm.pth')], capsys)
    assert msg is None
    assert out == f'exported {described} -> {tmp_path / "mm.pth"} (mmdet format)\n'
    assert set(torch.load(tmp_path / 'mm.pth', weights_only=True)) == {'state_dict', 'meta'}
    msg, out = export([r50_ckpt, str(tmp_path / 'tv.pth'), '--format', 'torchvision'], capsys)
    assert msg is None and out.endswith('(torchvision format)\n')
    assert 'conv1.weight' in torch.load(tmp_path / 'tv.pth', weights_only=True)
    msg, out = export([r50_ckpt, str(tmp_path / 'd2.pkl')], capsys)  # .pkl: detectron2
    assert msg is None and out.endswith('(detectron2 format)\n')
    with pytest.raises(SystemExit) as e:
        export_script.parse_args([r50_ckpt, 'out.pth', '--format', 'onnx'])
    assert e.value.code == 2 and "invalid choice: 'onnx'" in capsys.readouterr().err


def test_refusals_are_one_line_after_the_tool_name(r50_ckpt, tmp_path, capsys):
    msg, _ = export([str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth')], capsys)
    assert msg == f'export_backbone.py: {tmp_path / "missing.pth"} does not exist'
    # safe loading's refusal (not a BackboneExportError) is caught the same way
    import argparse
    ckpt = torch.load(r50_ckpt, weights_only=True)
    ckpt['meta']['args'] = argparse.Namespace(lr=0.1)
    foreign = tmp_path / 'foreign.pth'
    torch.save(ckpt, foreign)
    msg, _ = export([str(foreign), str(tmp_path / 'out.pth')], capsys)
    assert msg.startswith(f'export_backbone.py: refusing to load {foreign}')
    assert 'argparse.Namespace' in msg and 'DETCO_SAFE_GLOBALS' in msg
    assert not (tmp_path / 'out.pth').exists()


def test_script_runs_from_the_command_line(r50_ckpt, tmp_path, subprocess_env):
    out = tmp_path / 'backbone_mmdet.pth'
    result = subprocess.run([sys.executable, SCRIPT, r50_ckpt, str(out)], env=subprocess_env,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'-> {out} (mmdet format)' in result.stdout
    assert torch.load(out, weights_only=True)['meta']['exported_by'].startswith('detco-mm ')

    # what the user sees for bad input / output: one line, exit status 1, no traceback
    text, expected = write_no_checkpoint_files(tmp_path)['text']
    runs = [([str(text), str(out), '--format', 'torchvision'], f'export_backbone.py: {expected}')]
    locked = unwritable_dir()
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
