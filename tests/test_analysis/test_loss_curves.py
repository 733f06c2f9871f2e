"""detco_mm.analysis.loss_curves and its CLI tools/analysis/plot_loss_curves.py: every DetCo
term per stage and the total, from MMEngine's vis_data/scalars.json, with each term's chance
level w ln(K + 1) from the dumped config (the real log of a DetCo run is plotted by
tests/test_tools/test_demo.py)."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

from detco_mm.analysis import loss_curves as tool

from conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'plot_loss_curves.py')
STAGES = ('res2', 'res3', 'res4', 'res5')
TERMS = ('g2g', 'l2l', 'l2g')


def record(step, scale=1.0):
    r = dict(lr=0.03, data_time=0.01, time=0.5, epoch=1, iter=step, step=step)
    total = 0.0
    for s, stage in enumerate(STAGES):
        for t, term in enumerate(TERMS):
            value = scale * (s + 1) + t / 10 + 1 / step
            r[f'loss_{term}_{stage}'] = value
            total += value
    r['loss'] = total
    return r


def write_launch(work_dir, stamp, records, extra_lines=()):
    vis = work_dir / stamp / 'vis_data'
    vis.mkdir(parents=True)
    with open(vis / 'scalars.json', 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
        for line in extra_lines:
            f.write(line + '\n')


def test_curves_over_resumed_launches(tmp_path):
    work = tmp_path / 'detco_run'
    # the first launch died after step 30 (its last line half-written); the resumed launch
    # repeats step 30 and goes on; an evaluation record has no loss and is ignored
    write_launch(work, '20260101_000000', [record(s) for s in (10, 20, 30)],
                 ['{"loss": 1.0, "st'])
    write_launch(work, '20260101_010000', [record(s, scale=2.0) for s in (30, 40)]
                 + [dict(step=40, accuracy=0.5)])
    curves = tool.loss_curves(tool.read_training_records(str(work)))
    assert list(curves) == ['loss'] + [f'loss_{t}_{s}' for s in STAGES for t in TERMS]
    steps, values = curves['loss_l2g_res5']
    assert steps == [10, 20, 30, 40]
    assert values == [record(10)['loss_l2g_res5'], record(20)['loss_l2g_res5'],
                      record(30, 2.0)['loss_l2g_res5'], record(40, 2.0)['loss_l2g_res5']]
    last = tool.last_values(curves)
    assert last['loss'] == pytest.approx(record(40, 2.0)['loss'])


def test_chance_levels_from_the_dumped_config(tmp_path):
    work = tmp_path / 'detco_run'
    write_launch(work, '20260101_000000', [record(s) for s in (10, 20)])
    curves = tool.loss_curves(tool.read_training_records(str(work)))
    assert tool.read_chance_levels(str(work), curves) == {}  # no config: no levels
    (work / '20260101_000000' / 'vis_data' / 'config.py').write_text(
        "model = dict(type='DetCo', queue_len=1024,\n"
        "             head=dict(type='HierarchicalContrastiveHead',\n"
        "                       loss_weights=(0.1, 0.4, 0.7, 1.0)))\n"
        "import os\nos.system('touch pwned')\n")  # read with ast, never executed
    levels = tool.read_chance_levels(str(work), curves)
    assert levels['loss_l2l_res5'] == pytest.approx(math.log(1025))  # 6.93
    assert levels['loss_g2g_res2'] == pytest.approx(0.1 * math.log(1025))
    assert levels['loss'] == pytest.approx(3 * 2.2 * math.log(1025))
    assert set(levels) == set(curves)
    assert not (tmp_path / 'pwned').exists() and not osp.exists('pwned')
    # weights that do not match the stages: no levels rather than wrong ones
    mismatch = dict(model=dict(queue_len=64, head=dict(loss_weights=(1.0, ))))
    assert tool.chance_levels(curves, mismatch) == {}


def test_cli_writes_the_same_png_twice(tmp_path):
    work = tmp_path / 'detco_run'
    write_launch(work, '20260101_000000', [record(s) for s in range(10, 110, 10)])
    outs = []
    for name in ('a.png', 'b.png'):
        result = subprocess.run([sys.executable, TOOL, str(work), '--out', str(tmp_path / name)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1] and outs[0].startswith(b'\x89PNG')
    assert 'last values (iteration 100), chance level w ln(K+1):' in result.stdout
    assert f'loss_l2g_res5   {record(100)["loss_l2g_res5"]:.4f}' in result.stdout
    assert '13 curves, 10 logged iterations' in result.stderr
    # the default output goes into the work dir
    result = subprocess.run([sys.executable, TOOL, str(work), '--quiet'], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and (work / 'loss_curves.png').read_bytes() == outs[0]


def test_not_a_detco_log(tmp_path):
    work = tmp_path / 'detector_run'
    write_launch(work, '20260101_000000', [dict(step=10, loss=1.0, loss_cls=0.5)])
    result = subprocess.run([sys.executable, TOOL, str(work)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert 'the log has no DetCo loss terms' in result.stderr
    result = subprocess.run([sys.executable, TOOL, str(tmp_path / 'nothing')],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and 'is neither a work dir nor a scalars.json' in result.stderr
