"""tools/demo.py (`make demo`): the same path with tiny sizes (`--tiny`: a few dozen images and
iterations, the configs' image sizes), through every step: demo data, DetCo pre-training with
tools/train.py, backbone export, RetinaNet fine-tuning with `mim train mmdet` and COCO
evaluation, benchmark table, loss-curve PNG, summary."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT

DEMO = osp.join(REPO_ROOT, 'tools', 'demo.py')
TERMS = [f'loss_{t}_{s}' for s in ('res2', 'res3', 'res4', 'res5') for t in ('g2g', 'l2l', 'l2g')]


def run_demo(args, env, cwd, timeout=900):
    result = subprocess.run([sys.executable, DEMO, *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def test_tiny_demo_end_to_end(tmp_path, subprocess_env):
    data, work = tmp_path / 'data', tmp_path / 'work'
    # run from another directory: the steps still run in the checkout
    rc, out, err = run_demo(['--tiny', '--device', 'cpu', '--data-root', str(data),
                             '--work-dir', str(work)], subprocess_env, tmp_path)
    assert rc == 0, (out + err)[-6000:]
    for number in range(1, 6):
        assert f'=== [{number}/5]' in out
    # the runners' progress (with ETA) and the evaluation are on the console
    assert 'Epoch(train) [1][2/8]' in out and 'eta:' in out
    assert 'Iter(train) [6/6]' in out and 'coco/bbox_mAP:' in out
    assert 'tools/train.py configs/detco/detco_r18_demo.py' in out
    assert 'train mmdet configs/finetune/retinanet_detco_demo.py' in out

    summary = json.loads((work / 'summary.json').read_text())
    pre, det = summary['pretraining'], summary['finetuning']
    assert summary['mode'] == 'tiny' and summary['device'] == 'cpu'
    assert pre['iterations'] == 8  # 64 crops / batch 8, one epoch
    assert list(pre['final_losses']) == ['loss'] + TERMS
    assert all(math.isfinite(v) and v > 0 for v in pre['final_losses'].values())
    assert pre['final_losses']['loss'] == pytest.approx(
        sum(pre["final_losses"][t] for t in TERMS), rel=1e-4)  # means over the same window
    assert det['benchmark'] == 'COCO RetinaNet R50-FPN, 6 iters'
    assert set(det['bbox_AP']) == {'AP', 'AP50', 'AP75'}
    assert all(0 <= v <= 100 for v in det['bbox_AP'].values())
    assert set(summary['wall_time_s']) == {'data', 'pre-training', 'export',
                                           'fine-tuning + evaluation', 'table + plot', 'total'}

    # the printed summary has the same numbers and paths
    tail = out[out.index('=== [5/5] summary'):]
    for key in TERMS:
        assert f'{key:<15} {pre["final_losses"][key]:.4f}' in tail
    assert f'AP50      {det["bbox_AP"]["AP50"]:.1f}' in tail
    png = work / 'loss_curves.png'
    assert f'loss curves              {png}' in tail
    assert png.read_bytes().startswith(b'\x89PNG') and png.stat().st_size > 20000

    # the exported backbone is a ResNet-18 in mmdet format, and the detector loaded it
    backbone = work / 'detco_r18_demo' / 'backbone_mmdet.pth'
    state = torch.load(backbone, weights_only=True)['state_dict']
    assert 'layer4.1.conv2.weight' in state and 'layer4.2.conv1.weight' not in state
    finetune_log = (work / 'logs' / 'finetune.log').read_text()
    assert f'load model from: {backbone}' in finetune_log
    assert f"pretrained='{backbone}' applied to model.backbone.init_cfg.checkpoint" in \
        finetune_log
    assert (work / 'retinanet_detco_demo' / 'iter_6.pth').is_file()

    # the benchmark table tool placed the run in a table of its own, with its result
    table = (work / 'benchmark.md').read_text()
    assert '### COCO RetinaNet R50-FPN, 6 iters' in table
    assert 'The paper reports no results for this schedule.' in table
    assert (f'| ours | `{backbone}` | 1 | {det["bbox_AP"]["AP"]:.1f} | '
            f'{det["bbox_AP"]["AP50"]:.1f} | {det["bbox_AP"]["AP75"]:.1f} |') in table


def test_half_written_data_is_refused_before_training(tmp_path, subprocess_env):
    data, work = tmp_path / 'data', tmp_path / 'work'
    (data / 'pretrain' / 'train').mkdir(parents=True)
    (data / 'pretrain' / 'train' / 'a.jpg').write_bytes(b'\xff\xd8 half a jpeg')
    rc, out, err = run_demo(['--tiny', '--device', 'cpu', '--data-root', str(data),
                             '--work-dir', str(work)], subprocess_env, tmp_path)
    assert rc == 1
    assert (f'demo.py: demo data: {data}/pretrain exists but is not a finished demo '
            f'pre-training crops') in err
    assert 'rm -rf' in err
    assert '=== [2/5]' not in out and not (work / 'detco_r18_demo').exists()
    assert (data / 'pretrain' / 'train' / 'a.jpg').is_file()  # not deleted


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message without a GPU')
def test_cuda_without_gpu_is_a_clear_error(tmp_path, subprocess_env):
    rc, out, err = run_demo(['--tiny', '--device', 'cuda', '--work-dir', str(tmp_path / 'w'),
                             '--data-root', str(tmp_path / 'd')], subprocess_env, tmp_path)
    assert rc == 1 and 'demo.py: --device cuda, but torch sees no CUDA device' in err
    assert not (tmp_path / 'd').exists()
    env = dict(subprocess_env, DETCO_DEMO_DEVICE='gpu')
    rc, out, err = run_demo(['--tiny'], env, tmp_path)
    assert rc == 2 and "DETCO_DEMO_DEVICE='gpu': use auto, cpu or cuda" in err
