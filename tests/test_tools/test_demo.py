"""tools/demo.py (`make demo`): the same path with tiny sizes (`--tiny`: a few dozen images and
iterations, the configs' image sizes), through every step: demo data, DetCo and MoCo v2
pre-training with tools/train.py, backbone export, RetinaNet fine-tuning with `mim train mmdet`
from random init, MoCo v2 and DetCo with COCO evaluation, benchmark table, comparison and
verdict, loss-curve PNG with chance levels, summary."""
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
    for number in range(1, 7):
        assert f'=== [{number}/6]' in out
    # the runners' progress (with ETA) and the evaluation are on the console
    assert 'Epoch(train) [1][2/8]' in out and 'eta:' in out
    assert 'Iter(train) [6/6]' in out and 'coco/bbox_mAP:' in out
    assert 'tools/train.py configs/detco/detco_r18_demo.py' in out
    assert 'tools/train.py configs/detco/mocov2_r18_demo.py' in out
    assert out.count('train mmdet configs/finetune/retinanet_detco_demo.py') == 3
    assert 'model.backbone.init_cfg=None' in out  # the random-init baseline
    assert ('LinearScalingRuleHook: lr 0.0009375 for a total batch of 8 (8 per process x 1); the '
            'linear scaling rule gives 0.0009375') in out  # 0.03 x 8 / 256, applied

    summary = json.loads((work / 'summary.json').read_text())
    pre, det = summary['pretraining'], summary['finetuning']
    assert summary['mode'] == 'tiny' and summary['device'] == 'cpu'
    assert pre['iterations'] == 8  # 64 crops / batch 8, one epoch
    assert list(pre['final_losses']) == ['loss'] + TERMS
    assert all(math.isfinite(v) and v > 0 for v in pre['final_losses'].values())
    assert pre['final_losses']['loss'] == pytest.approx(
        sum(pre["final_losses"][t] for t in TERMS), rel=1e-4)  # means over the same window
    # chance levels w ln(K + 1) with the tiny queue of 64 keys
    weights = dict(res2=0.1, res3=0.4, res4=0.7, res5=1.0)
    for term in TERMS:
        assert pre['chance_levels'][term] == pytest.approx(
            weights[term.rsplit('_', 1)[1]] * math.log(65))
    assert pre['chance_levels']['loss'] == pytest.approx(3 * 2.2 * math.log(65))

    # one row per initialisation, the same labels, random init first; the baseline's row
    # has no delta, the others have one (one trial each: no spread)
    rows = det['rows']
    assert [r['init'] for r in rows] == ['random', 'mocov2', 'detco']
    assert {r['labels'] for r in rows} == {'annotations/instances_train2017_8.json'}
    assert [r['trials'] for r in rows] == [1, 1, 1]
    assert rows[0]['delta']['AP'] is None
    for r in rows[1:]:
        assert r['delta']['AP'] == pytest.approx(r['mean']['AP'] - rows[0]['mean']['AP'])
        assert r['delta_std']['AP'] is None
    assert len(det['verdict']) == 1
    assert det['verdict'][0].startswith(
        f'DetCo pre-training: {rows[2]["delta"]["AP"]:+.1f} AP over random init at 8 labelled '
        f'scenes, 1 fine-tune trial over 1 pre-training seed; ')
    assert det['verdict'][0].endswith(' over MoCo v2')
    assert set(summary['wall_time_s']) == {
        'data', 'pre-training DetCo', 'pre-training MoCo v2', 'fine-tuning from random init',
        'fine-tuning from MoCo v2', 'fine-tuning from DetCo', 'results', 'total'}

    # the printed summary has the same numbers, the table, the verdict and the paths
    tail = out[out.index('=== [6/6] summary'):]
    for key in TERMS:
        assert f'{key:<15} {pre["final_losses"][key]:8.4f}   chance' in tail
    assert f'| random init | 8 | 1 | {rows[0]["mean"]["AP"]:.1f} |' in tail
    assert det['verdict'][0] in tail
    png = work / 'loss_curves.png'
    assert f'loss curves              {png}' in tail
    assert png.read_bytes().startswith(b'\x89PNG') and png.stat().st_size > 20000
    assert (work / 'comparison.md').read_text().startswith('| initialisation |')

    # the exported backbones are ResNet-18s in mmdet format, and the detectors loaded them
    for method, name in (('detco', 'detco_r18_demo'), ('mocov2', 'mocov2_r18_demo')):
        backbone = work / name / 'backbone_mmdet.pth'
        state = torch.load(backbone, weights_only=True)['state_dict']
        assert 'layer4.1.conv2.weight' in state and 'layer4.2.conv1.weight' not in state
        log = (work / 'logs' / f'finetune_retinanet_{method}.log').read_text()
        assert f'load model from: {backbone}' in log
        assert f"pretrained='{backbone}' applied to model.backbone.init_cfg.checkpoint" in log
    random_log = (work / 'logs' / 'finetune_retinanet_random.log').read_text()
    assert 'load model from' not in random_log
    assert (work / 'finetune' / 'retinanet_random' / 'iter_6.pth').is_file()

    # the benchmark table tool put the three runs in one table, one row each
    table = (work / 'benchmark.md').read_text()
    assert '### COCO RetinaNet R50-FPN, 6 iters' in table
    assert '| ours | `random init` | 1 |' in table
    assert table.count('| ours |') == 3


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
    assert '=== [2/6]' not in out and not (work / 'detco_r18_demo').exists()
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
