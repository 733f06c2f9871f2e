"""tools/benchmark_table.py on real MMEngine work dirs of tiny CPU fine-tune runs.

The module fixture trains (and evaluates) tiny mmdet detectors with MMEngine's Runner, with
configs shaped like ``configs/finetune/`` (tests/data/benchmark/configs): RetinaNet and Mask
R-CNN FPN on COCO-format data, Faster R-CNN C4 on VOC07+12, iteration- and epoch-based, one run
stopped by an exception, one whose evaluation finds nothing, a ``tools/test.py``-style test
launch. Broken and longer-schedule runs are hand-made from copies of those (the edits are in
tests/data/benchmark/benchmark_runs.py), so every file the tool reads is in MMEngine's format.
"""
import csv
import importlib.util
import io
import json
import os
import os.path as osp
import shutil
import statistics
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal

import pytest
import torch

import detco_mm  # noqa: F401  (stack fixes: checkpoint loading, collate scope)
from detco_mm.benchmark import END_MARKER, START_MARKER, load_paper_results, parse_config, recognise

from conftest import REPO_ROOT, TEST_CONFIGS, write_image_folder

sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'data', 'benchmark'))
import benchmark_runs as br  # noqa: E402

TOOL = osp.join(REPO_ROOT, 'tools', 'benchmark_table.py')
PAPER_DATA = osp.join(REPO_ROOT, 'tools', 'benchmark_data', 'paper_results.json')
PAPER_DOC = osp.join(REPO_ROOT, '..', 'shared', 'docs', 'paper_results.md')
DASH = '—'

PAPER_TITLES = [
    'VOC07+12 Faster R-CNN R50-C4, 24k iters',
    'COCO Mask R-CNN R50-C4, 12k iters',
    'COCO Mask R-CNN R50-C4, 1x (90k iters)',
    'COCO Mask R-CNN R50-C4, 2x (180k iters)',
    'COCO Mask R-CNN R50-FPN, 12k iters',
    'COCO Mask R-CNN R50-FPN, 1x (90k iters)',
    'COCO Mask R-CNN R50-FPN, 2x (180k iters)',
    'COCO RetinaNet R50-FPN, 12k iters',
    'COCO RetinaNet R50-FPN, 1x (90k iters)',
    'COCO RetinaNet R50-FPN, 2x (180k iters)',
    'Cityscapes Mask R-CNN R50-FPN (instance seg.), 24k iters',
]
RETINANET_PAPER_1X = [
    ['Supervised (paper)', '', '', '37.4', '56.5', '39.7', ''],
    ['MoCov2 (paper)', '', '', '37.2', '56.2', '39.6', ''],
    ['DetCo (paper)', '', '', '38.0', '57.4', '40.7', ''],
    ['DetCo+AA (paper)', '', '', '38.4', '57.8', '41.2', ''],
]


def _load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_table_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def run_tool(*args):
    """The CLI in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = tool.main([str(a) for a in args])
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def md_tables(markdown):
    """``{heading: [[cell, ...] per body row]}`` of the generated markdown."""
    tables, title = {}, None
    for line in markdown.splitlines():
        if line.startswith('### '):
            title = line[4:]
            tables[title] = []
        elif line.startswith('| ') and title is not None:
            cells = [c.strip() for c in line[2:-2].split(' | ')]
            if cells[0] not in ('Method', 'Run'):
                tables[title].append(cells)
    return tables


def pct(fraction):
    return Decimal(repr(fraction)) * 100


def r1(value):
    return value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)


def expected_cell(fractions):
    """Independent of the tool: mean (half up, 1 decimal) [± sample std] of logged fractions."""
    values = [pct(f) for f in fractions]
    text = str(r1(sum(values) / len(values)))
    if len(values) > 1:
        text += f' ± {r1(statistics.stdev(values))}'
    return text


def final_metrics(work_dir):
    """The last evaluation record of the newest launch, read straight from its files."""
    stamp = sorted(br.timestamp_dirs(work_dir))[-1]
    test_json = osp.join(work_dir, stamp, f'{stamp}.json')
    if osp.isfile(test_json):
        with open(test_json) as f:
            return json.load(f)
    return br.read_lines(osp.join(work_dir, stamp, 'vis_data', 'scalars.json'))[-1]


# --------------------------------------------------------------------------- real runs
@pytest.fixture(scope='module')
def real(tmp_path_factory):
    """Tiny real fine-tune runs; returns their work dirs and the pre-trained weights."""
    tmp = tmp_path_factory.mktemp('benchmark_runs')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on 2 shared cores are several times slower here
    try:
        coco = br.write_coco(str(tmp / 'data' / 'coco'))
        voc = br.write_voc(str(tmp / 'data' / 'voc'))
        detco = br.write_backbone(str(tmp / 'pretrain' / 'detco_r18' / 'epoch_2.pth'), seed=0)
        moco = br.write_backbone(str(tmp / 'pretrain' / 'mocov2_r18' / 'epoch_2.pth'), seed=1)
        cfgs, wd = str(tmp / 'configs'), tmp / 'runs'
        runs = {}

        def run(name, config, fails=None, **kwargs):
            runs[name] = str(wd / name)
            try:
                br.train(config, runs[name], **kwargs)
            except RuntimeError as e:
                assert 'simulated crash' in str(e)
            except Exception as e:  # noqa: BLE001
                assert fails and fails in str(e), e
            else:
                assert fails is None

        retinanet = br.materialise_config('retinanet_r18_coco_tiny', cfgs, coco, detco)
        run('retinanet_detco_s0', retinanet, seed=0)
        br.test(retinanet, runs['retinanet_detco_s0'],
                osp.join(runs['retinanet_detco_s0'], 'iter_2.pth'))
        run('retinanet_detco_s1', retinanet, seed=1)
        run('mask_rcnn_detco', br.materialise_config(
            'mask_rcnn_r18_fpn_coco_tiny', cfgs, coco, detco))
        run('mask_rcnn_random_epochs', br.materialise_config(
            'mask_rcnn_r18_fpn_coco_tiny', cfgs + '/epochs', coco, None,
            replace={"type='InfiniteSampler'": "type='DefaultSampler'"}, append=(
                "\ntrain_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=1, "
                "val_interval=1)\nlog_processor = dict(by_epoch=True)\ndefault_hooks = dict("
                "logger=dict(interval=1), checkpoint=dict(by_epoch=True, interval=1))\n")))
        run('faster_rcnn_c4_voc_mocov2', br.materialise_config(
            'faster_rcnn_r18_c4_voc_tiny', cfgs, voc, moco))
        run('retinanet_detco_12k_stopped', br.materialise_config(
            'retinanet_r18_coco_tiny', cfgs + '/12k', coco, detco, max_iters=12000),
            crash_after=2)
        run('retinanet_mocov2_nothing_found', br.materialise_config(
            'retinanet_r18_coco_tiny', cfgs + '/nothing', coco, moco,
            replace={'score_thr=0.0': 'score_thr=1.01'}))
        # a launch that failed before its first iteration: its training annotations are missing
        run('retinanet_detco_no_data', br.materialise_config(
            'retinanet_r18_coco_tiny', cfgs + '/no_data', coco, detco,
            replace={"ann_file='annotations/train.json'": "ann_file='annotations/none.json'"}),
            fails='annotations/none.json')
        # the pre-training (no evaluation, not a detector) lands in the same work_dirs/
        images = write_image_folder(str(tmp / 'data' / 'images'), 8, (64, 80))
        run('detco_r18_pretrain', osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'), options={
            'train_dataloader.dataset.data_root': images, 'train_cfg.max_epochs': 1})
    finally:
        torch.set_num_threads(threads)
    return dict(runs=runs, detco=detco, moco=moco)


def make_root(tmp_path, real, *names, root='work_dirs'):
    """A fresh ``work_dirs/`` with copies (no checkpoints) of the named real runs."""
    base = tmp_path / root
    base.mkdir(exist_ok=True)
    for name in names:
        br.clone_run(real['runs'][name], str(base / name))
    return base


def test_real_runs_make_the_tables_cell_by_cell(tmp_path, real):
    root = make_root(tmp_path, real, *real['runs'])
    code, markdown, err = run_tool(root)
    assert code == 0, err
    tables = md_tables(markdown)
    detco, moco = f"`{real['detco']}`", f"`{real['moco']}`"
    runs = real['runs']
    assert markdown.startswith('Generated by `tools/benchmark_table.py` from 8 runs in '
                               '`work_dirs`. AP in %.')
    assert 'benchmark_table.py: 8 runs: 5 with a result, 2 without one, 1 in no table' in err
    # the run that failed before its first iteration is in no table, and named once on stderr
    no_data = br.only_timestamp_dir(real['runs']['retinanet_detco_no_data'])
    assert osp.isfile(osp.join(no_data, 'vis_data', 'config.py'))
    assert not osp.exists(osp.join(no_data, 'vis_data', 'scalars.json'))
    assert err.count('retinanet_detco_no_data') == 1 and 'no_data' not in markdown
    assert ('benchmark_table.py: skipped 1 run that never trained (no training iteration or '
            'evaluation logged: failed before training, or still starting): '
            'work_dirs/retinanet_detco_no_data\n') in err

    # every paper benchmark has a table, ours of the 2-iteration schedule are added
    assert [t for t in tables if t in PAPER_TITLES] == PAPER_TITLES
    assert list(tables) == [
        'VOC07+12 Faster R-CNN R50-C4, 2 iters', PAPER_TITLES[0], *PAPER_TITLES[1:4],
        'COCO Mask R-CNN R50-FPN, 2 iters', *PAPER_TITLES[4:7],
        'COCO RetinaNet R50-FPN, 2 iters', *PAPER_TITLES[7:], 'Runs in no table']
    assert tables['Runs in no table'] == [[
        '`work_dirs/detco_r18_pretrain`', 'not evaluated',
        "model DetCo is none of the detectors of the paper's benchmarks (FasterRCNN, MaskRCNN, "
        'RetinaNet): not a fine-tune run; training finished but no evaluation was logged after '
        'it (no val_evaluator, or the evaluation was cut off)']]
    assert markdown.count('_No runs of ours yet._') == 10
    assert 'The paper reports no results for this schedule.' in markdown

    # RetinaNet, 2 iterations: two trials of the same weights, and the run whose evaluation
    # found nothing. s0's newest finished launch is its test launch.
    s0, s1 = final_metrics(runs['retinanet_detco_s0']), final_metrics(runs['retinanet_detco_s1'])
    assert 'iter' not in s0 and 'step' not in s0  # the test launch's <ts>.json
    cells = [expected_cell([s0[k], s1[k]])
             for k in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')]
    rows = tables['COCO RetinaNet R50-FPN, 2 iters']
    assert rows[0] == ['ours', detco, '2', *cells,
                       'result of a test launch of iter_2.pth; runs: '
                       '`work_dirs/retinanet_detco_s0`, `work_dirs/retinanet_detco_s1`']
    assert rows[1][:6] == ['ours', moco, 'no metric', DASH, DASH, DASH]
    assert rows[1][6] == (
        '`work_dirs/retinanet_mocov2_nothing_found`: its final evaluation logged no metrics '
        '(its log: "The testing results of the whole dataset is empty.")')
    assert len(rows) == 2

    # Mask R-CNN FPN: iteration-based with the DetCo weights, epoch-based from random init
    mask = final_metrics(runs['mask_rcnn_detco'])
    epochs = final_metrics(runs['mask_rcnn_random_epochs'])
    keys = [f'coco/{t}_mAP{s}' for t in ('bbox', 'segm') for s in ('', '_50', '_75')]
    rows = tables['COCO Mask R-CNN R50-FPN, 2 iters']
    assert rows == [
        ['ours', detco, '1', *[expected_cell([mask[k]]) for k in keys],
         'runs: `work_dirs/mask_rcnn_detco`'],
        ['ours', '`random init`', '1', *[expected_cell([epochs[k]]) for k in keys],
         'runs: `work_dirs/mask_rcnn_random_epochs`'],
    ]

    # VOC: COCO-style AP = pascal_voc/mAP over the ten IoU thresholds
    voc = final_metrics(runs['faster_rcnn_c4_voc_mocov2'])
    assert sorted(k for k in voc if k.startswith('pascal_voc/AP'))[::9] == [
        'pascal_voc/AP50', 'pascal_voc/AP95']
    assert tables['VOC07+12 Faster R-CNN R50-C4, 2 iters'] == [
        ['ours', moco, '1', *[expected_cell([voc[k]]) for k in (
            'pascal_voc/mAP', 'pascal_voc/AP50', 'pascal_voc/AP75')],
         'runs: `work_dirs/faster_rcnn_c4_voc_mocov2`']]

    # the run stopped by an exception at iteration 2 of 12000: in the 12k table, no number
    rows = tables['COCO RetinaNet R50-FPN, 12k iters']
    assert rows[:4] == [
        ['Supervised (paper)', '', '', '24.3', '40.7', '25.1', ''],
        ['MoCov2 (paper)', '', '', '22.2', '36.9', '23.0', ''],
        ['DetCo (paper)', '', '', '23.6', '38.7', '24.6', ''],
        ['DetCo+AA (paper)', '', '', '25.3', '41.6', '26.5', '']]
    assert rows[4] == [
        'ours', detco, 'unfinished', DASH, DASH, DASH,
        '`work_dirs/retinanet_detco_12k_stopped`: unfinished: reached iteration 2 of 12000 '
        '(still running, or stopped without a logged error); backbone ResNet-18 (paper: '
        'ResNet-50); total batch 2 (paper: 16)']
    assert tables['VOC07+12 Faster R-CNN R50-C4, 24k iters'][:6] == [
        ['Supervised, 90 ep (paper)', '', '', '53.5', '81.3', '58.8', ''],
        ['MoCov2, 200 ep (paper)', '', '', '57.0', '82.4', '63.6', ''],
        ['MoCov2, 800 ep (paper)', '', '', '57.4', '82.5', '64.0', ''],
        ['DetCo, 100 ep (paper)', '', '', '57.4', '82.5', '63.9', ''],
        ['DetCo, 200 ep (paper)', '', '', '57.8', '82.6', '64.2', ''],
        ['DetCo, 800 ep (paper)', '', '', '58.2', '82.7', '65.0', '']]
    assert 'Paper: Table 6. In brackets: ours minus the paper\'s DetCo, 200 ep.' in markdown
    assert 'Paper: Table 4, FPN columns.' in markdown

    # --measured-only keeps the tables with runs of ours
    code, measured, _ = run_tool(root, '--measured-only')
    assert list(md_tables(measured)) == [
        'VOC07+12 Faster R-CNN R50-C4, 2 iters', 'COCO Mask R-CNN R50-FPN, 2 iters',
        'COCO RetinaNet R50-FPN, 2 iters', 'COCO RetinaNet R50-FPN, 12k iters',
        'Runs in no table']


def _finished_clone(real, root, source, name, metrics, iters=None, epochs=None,
                    config_edits=()):
    work_dir = br.clone_run(real['runs'][source], str(root / name))
    br.fake_schedule(work_dir, iters=iters, epochs=epochs)
    ts_dir = br.only_timestamp_dir(work_dir)
    for edit in config_edits:  # (old, new) or (pattern, replacement, True)
        br.rewrite_config(ts_dir, *edit)
    br.set_eval_metrics(ts_dir, metrics)
    return work_dir


def _retinanet(ap, ap50, ap75):
    return {'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap50, 'coco/bbox_mAP_75': ap75,
            'coco/bbox_mAP_s': -1.0}


def test_trials_mean_std_and_delta_to_the_paper(tmp_path, real):
    root = tmp_path / 'work_dirs'
    root.mkdir()
    for seed, metrics in enumerate([(0.381, 0.570, 0.409), (0.383, 0.575, 0.407),
                                    (0.379, 0.580, 0.411)]):
        _finished_clone(real, root, 'retinanet_detco_s1', f'retinanet_detco_1x_s{seed}',
                        _retinanet(*metrics), iters=90000)
    _finished_clone(real, root, 'retinanet_mocov2_nothing_found', 'retinanet_mocov2_1x',
                    _retinanet(0.372, 0.562, 0.396), iters=90000)
    # 2x as 24 epochs (MMDetection's COCO 2x) from the epoch-based run; half-up rounding
    for seed, metrics in enumerate([(0.398, 0.595, 0.424), (0.399, 0.596, 0.424)]):
        _finished_clone(real, root, 'mask_rcnn_random_epochs', f'retinanet_2x_s{seed}',
                        _retinanet(*metrics), epochs=24,
                        config_edits=[("type='MaskRCNN'", "type='RetinaNet'")])
    # VOC 24k with the ten IoU thresholds, and one with VOCMetric's default IoU 0.5 only
    voc = {f'pascal_voc/AP{t}': 0.5 for t in range(50, 100, 5)}
    voc.update({'pascal_voc/mAP': 0.581, 'pascal_voc/AP50': 0.826, 'pascal_voc/AP75': 0.645})
    _finished_clone(real, root, 'faster_rcnn_c4_voc_mocov2', 'voc_24k', voc, iters=24000)
    _finished_clone(real, root, 'faster_rcnn_c4_voc_mocov2', 'voc_24k_iou50',
                    {'pascal_voc/mAP': 0.826, 'pascal_voc/AP50': 0.826}, iters=24000)
    # Cityscapes: the Cityscapes evaluator's keys, and a run that only has COCO-style ones
    cityscapes = [("'CocoDataset'", "'CityscapesDataset'")]
    _finished_clone(real, root, 'mask_rcnn_detco', 'cityscapes',
                    {'coco/segm_mAP': 0.3, 'cityscapes/mAP': 0.351, 'cityscapes/AP@50': 0.640},
                    iters=24000, config_edits=cityscapes)
    _finished_clone(real, root, 'retinanet_mocov2_nothing_found', 'cityscapes_coco_metric',
                    {'coco/segm_mAP': 0.3, 'coco/segm_mAP_50': 0.55}, iters=24000,
                    config_edits=cityscapes + [("type='RetinaNet'", "type='MaskRCNN'")])

    code, markdown, err = run_tool(root, '--measured-only')
    assert code == 0, err
    tables = md_tables(markdown)
    detco, moco = f"`{real['detco']}`", f"`{real['moco']}`"
    notes = 'backbone ResNet-18 (paper: ResNet-50); total batch 2 (paper: 16)'
    assert tables['COCO RetinaNet R50-FPN, 1x (90k iters)'] == RETINANET_PAPER_1X + [
        ['ours', detco, '3', '38.1 ± 0.2 (+0.1)', '57.5 ± 0.5 (+0.1)', '40.9 ± 0.2 (+0.2)',
         f'{notes}; runs: `work_dirs/retinanet_detco_1x_s0`, `work_dirs/retinanet_detco_1x_s1`'
         ', `work_dirs/retinanet_detco_1x_s2`'],
        ['ours', moco, '1', '37.2 (-0.8)', '56.2 (-1.2)', '39.6 (-1.1)',
         f'{notes}; runs: `work_dirs/retinanet_mocov2_1x`']]
    assert tables['COCO RetinaNet R50-FPN, 2x (180k iters)'][-1] == [
        'ours', '`random init`', '2', '39.9 ± 0.1 (+0.1)', '59.6 ± 0.1 (+0.1)',
        '42.4 ± 0.0 (+0.0)',
        f'{notes}; runs: `work_dirs/retinanet_2x_s0`, `work_dirs/retinanet_2x_s1`']
    voc_rows = tables['VOC07+12 Faster R-CNN R50-C4, 24k iters']
    assert voc_rows[6:] == [
        ['ours', moco, '1', '58.1 (+0.3)', '82.6 (+0.0)', '64.5 (+0.3)',
         f'{notes}; runs: `work_dirs/voc_24k`'],
        ['ours', moco, 'incomplete', DASH, '82.6', DASH,
         '`work_dirs/voc_24k_iou50`: COCO-style AP needs VOCMetric(iou_thrs=[0.5, 0.55, ..., '
         '0.95]); with the default iou_thrs=[0.5] pascal_voc/mAP is AP50; no pascal_voc/AP75 or '
         f'coco/bbox_mAP_75 in its final evaluation; {notes}']]
    assert tables['Cityscapes Mask R-CNN R50-FPN (instance seg.), 24k iters'] == [
        ['Supervised (paper)', '', '', '32.9', '59.6', ''],
        ['MoCov2 (paper)', '', '', '33.9', '60.8', ''],
        ['DetCo (paper)', '', '', '34.7', '63.2', ''],
        ['ours', detco, '1', '35.1 (+0.4)', '64.0 (+0.8)',
         'backbone ResNet-18 (paper: ResNet-50); total batch 2 (paper: 8); '
         'runs: `work_dirs/cityscapes`'],
        ['ours', moco, '1', '30.0 (-4.7)', '55.0 (-8.2)',
         'backbone ResNet-18 (paper: ResNet-50); total batch 2 (paper: 8); COCO-style mask AP '
         '(the paper uses the Cityscapes evaluator); runs: `work_dirs/cityscapes_coco_metric`']]
    assert len(tables) == 4

    # the same numbers in CSV and JSON
    csv_path, json_path = tmp_path / 'out.csv', tmp_path / 'out.json'
    assert run_tool(root, '--csv', csv_path, '--json', json_path, '--measured-only')[0] == 0
    with open(csv_path, newline='') as f:
        lines = list(csv.DictReader(f))
    ours = [r for r in lines if r['benchmark'] == 'coco_retinanet_1x' and r['row'] == 'ours'
            and r['weights'] == real['detco']]
    assert [(r['column'], r['trials'], r['value'], r['std'], r['delta_vs_paper_detco'])
            for r in ours] == [('AP', '3', '38.1000', '0.2000', '+0.1'),
                               ('AP50', '3', '57.5000', '0.5000', '+0.1'),
                               ('AP75', '3', '40.9000', '0.2000', '+0.2')]
    assert ours[0]['runs'] == ('work_dirs/retinanet_detco_1x_s0;work_dirs/retinanet_detco_1x_s1;'
                               'work_dirs/retinanet_detco_1x_s2')
    paper = [r for r in lines if r['benchmark'] == 'coco_retinanet_1x' and r['row'] == 'paper'
             and r['column'] == 'AP']
    assert [(r['method'], r['value']) for r in paper] == [
        ('Supervised (paper)', '37.4'), ('MoCov2 (paper)', '37.2'), ('DetCo (paper)', '38.0'),
        ('DetCo+AA (paper)', '38.4')]
    incomplete = [r for r in lines if r['runs'] == 'work_dirs/voc_24k_iou50']
    assert [(r['column'], r['status'], r['value']) for r in incomplete] == [
        ('AP', 'incomplete', ''), ('AP50', 'incomplete', '82.6000'), ('AP75', 'incomplete', '')]

    with open(json_path) as f:
        data = json.load(f)
    by_key = {b['key']: b for b in data['benchmarks']}
    assert list(by_key) == ['voc_faster_rcnn_c4_24k', 'coco_retinanet_1x', 'coco_retinanet_2x',
                            'cityscapes_mask_rcnn_fpn_24k']
    rn = by_key['coco_retinanet_1x']
    assert rn['paper_table'] == '5' and rn['paper_columns'] == 'RN90k'
    assert rn['reference'] == 'DetCo (paper)'
    row = rn['our_rows'][0]
    assert row['trials'] == 3 and row['mean'] == {'AP': 38.1, 'AP50': 57.5, 'AP75': 40.9}
    assert row['std'] == {'AP': 0.2, 'AP50': 0.5, 'AP75': 0.2}
    assert row['delta_vs_reference'] == {'AP': 0.1, 'AP50': 0.1, 'AP75': 0.2}
    assert [r['values']['AP'] for r in row['runs']] == [38.1, 38.3, 37.9]
    assert row['runs'][0]['metric_keys'] == {'AP': 'coco/bbox_mAP', 'AP50': 'coco/bbox_mAP_50',
                                             'AP75': 'coco/bbox_mAP_75'}
    assert by_key['coco_retinanet_2x']['our_rows'][0]['mean']['AP'] == 39.85
    city = by_key['cityscapes_mask_rcnn_fpn_24k']['our_rows']
    assert city[0]['runs'][0]['metric_keys']['AP^mk'] == 'cityscapes/mAP'
    assert city[1]['runs'][0]['metric_keys']['AP^mk'] == 'coco/segm_mAP'
    voc = by_key['voc_faster_rcnn_c4_24k']
    assert voc['reference'] == 'DetCo, 200 ep (paper)'
    assert voc['problem_runs'][0]['values'] == {'AP': None, 'AP50': 82.6, 'AP75': None}


def test_other_schedules_are_other_rows(tmp_path, real):
    """Runs identical but for the schedule are not trials of one row: other lr steps, or 12
    epochs instead of 90k iterations, are rows of their own that name their schedule; 12k
    instead of 90k iterations is another table."""
    root = tmp_path / 'work_dirs'
    root.mkdir()
    for seed, ap in enumerate([0.381, 0.383]):
        _finished_clone(real, root, 'retinanet_detco_s1', f'steps_default_s{seed}',
                        _retinanet(ap, 0.57, 0.40), iters=90000)
    _finished_clone(real, root, 'retinanet_detco_s1', 'steps_60k_80k',
                    _retinanet(0.391, 0.58, 0.41), iters=90000,
                    config_edits=[(r'milestones=\[[^\]]*\]', 'milestones=[60000, 80000]', True)])
    # MMDetection's 1x: 12 epochs (a RetinaNet from the DetCo weights, made from the epoch run)
    _finished_clone(real, root, 'mask_rcnn_random_epochs', 'epochs_12',
                    _retinanet(0.371, 0.56, 0.39), epochs=12,
                    config_edits=[("type='MaskRCNN'", "type='RetinaNet'"), (
                        "init_cfg=None,\n        norm_cfg=dict(requires_grad=True, type='BN'),",
                        f"init_cfg=dict(type='Pretrained', checkpoint={real['detco']!r}),\n"
                        "        norm_cfg=dict(requires_grad=True, type='BN'),")])
    _finished_clone(real, root, 'retinanet_detco_s1', 'iters_12k',
                    _retinanet(0.235, 0.38, 0.24), iters=12000)

    json_path = tmp_path / 'out.json'
    code, markdown, err = run_tool(root, '--measured-only')
    assert code == 0, err
    assert run_tool(root, '--measured-only', '--json', json_path)[0] == 0
    tables = md_tables(markdown)
    assert list(tables) == ['COCO RetinaNet R50-FPN, 12k iters',
                            'COCO RetinaNet R50-FPN, 1x (90k iters)']
    assert [r[:3] for r in tables['COCO RetinaNet R50-FPN, 12k iters'][4:]] == [
        ['ours', f"`{real['detco']}`", '1']]
    ours = tables['COCO RetinaNet R50-FPN, 1x (90k iters)'][4:]
    notes = 'backbone ResNet-18 (paper: ResNet-50); total batch 2 (paper: 16)'
    detco = f"`{real['detco']}`"
    iters, epochs = 'IterBasedTrainLoop, 90000 iters', 'EpochBasedTrainLoop, 12 epochs'
    assert [r[:4] + r[6:] for r in ours] == [
        ['ours', detco, '1', '37.1 (-0.9)', f'schedule {epochs}; lr schedule lr steps (x0.1) '
         f'at 2 iters; {notes}; runs: `work_dirs/epochs_12`'],
        ['ours', detco, '2', '38.2 ± 0.1 (+0.2)', f'schedule {iters}; lr schedule lr steps '
         f'(x0.1) at 2 iters; {notes}; runs: `work_dirs/steps_default_s0`, '
         '`work_dirs/steps_default_s1`'],
        ['ours', detco, '1', '39.1 (+1.1)', f'schedule {iters}; lr schedule lr steps (x0.1) at '
         f'60000, 80000 iters; {notes}; runs: `work_dirs/steps_60k_80k`']]
    with open(json_path) as f:
        rows = json.load(f)['benchmarks'][1]['our_rows']
    assert [(r['train_loop'], r['lr_schedule'], r['trials']) for r in rows] == [
        (epochs, ['lr steps (x0.1) at 2 iters'], 1), (iters, ['lr steps (x0.1) at 2 iters'], 2),
        (iters, ['lr steps (x0.1) at 60000, 80000 iters'], 1)]


def test_broken_runs_are_listed_with_the_reason(tmp_path, real):
    root = make_root(tmp_path, real, 'retinanet_detco_s1')
    (root / 'empty').mkdir()
    (root / 'only_config').mkdir()
    shutil.copy(osp.join(real['runs']['retinanet_detco_s1'], 'retinanet_r18_coco_tiny.py'),
                root / 'only_config')
    # truncated scalars.json: its final evaluation line is cut -> read from the text log
    cut = br.clone_run(real['runs']['mask_rcnn_detco'], str(root / 'truncated_scalars'))
    scalars = osp.join(br.only_timestamp_dir(cut), 'vis_data', 'scalars.json')
    with open(scalars) as f:
        text = f.read()
    with open(scalars, 'w') as f:
        f.write(text[:text.rindex('{') + 40])
    # ... and also the evaluation lines of the log: trained, but no evaluation
    cut2 = br.clone_run(cut, str(root / 'truncated_scalars_and_log'))
    log = osp.join(br.only_timestamp_dir(cut2), osp.basename(br.only_timestamp_dir(cut2)) + '.log')
    with open(log) as f:
        lines = f.read().splitlines(keepends=True)
    with open(log, 'w') as f:
        f.writelines(lines[:[i for i, l in enumerate(lines) if 'Saving checkpoint' in l][0] + 1])
    # the stopped 12k run whose log got the traceback (stderr redirected into it)
    crashed = br.clone_run(real['runs']['retinanet_detco_12k_stopped'], str(root / 'crashed'))
    stamp = osp.basename(br.only_timestamp_dir(crashed))
    br.copy_launch(crashed, stamp, '20990101_000000', keep_iters=2,
                   traceback='RuntimeError: simulated crash after iteration 2')
    shutil.rmtree(osp.join(crashed, stamp))
    # a model that is not one of the paper's benchmarks, and a config that is not Python
    other = br.clone_run(real['runs']['mask_rcnn_detco'], str(root / 'faster_rcnn_fpn'))
    br.rewrite_config(br.only_timestamp_dir(other), "type='MaskRCNN'", "type='FasterRCNN'")
    garbage = br.clone_run(real['runs']['retinanet_detco_s1'], str(root / 'garbage_config'))
    ts = br.only_timestamp_dir(garbage)
    with open(osp.join(ts, 'vis_data', 'config.py'), 'w') as f:
        f.write('model = dict(type=\n')
    os.remove(osp.join(ts, osp.basename(ts) + '.log'))
    os.remove(osp.join(garbage, 'retinanet_r18_coco_tiny.py'))
    # a config whose code would run if executed is read, not executed
    sneaky = br.clone_run(real['runs']['retinanet_detco_s1'], str(root / 'sneaky_config'))
    marker = tmp_path / 'executed'
    br.rewrite_config(br.only_timestamp_dir(sneaky), "backend_args = None",
                      f"backend_args = open({str(marker)!r}, 'w')")

    json_path, md_path = tmp_path / 'out.json', tmp_path / 'out.md'
    code, _, err = run_tool(root, '--measured-only', '--json', json_path, '--markdown', md_path)
    assert code == 0, err
    markdown = md_path.read_text()
    assert not marker.exists()
    tables = md_tables(markdown)
    detco = f"`{real['detco']}`"
    mask = final_metrics(real['runs']['mask_rcnn_detco'])
    rows = tables['COCO Mask R-CNN R50-FPN, 2 iters']
    keys = [f'coco/{t}_mAP{s}' for t in ('bbox', 'segm') for s in ('', '_50', '_75')]
    # the text log has 4 decimals of the fractions: the same numbers at one decimal of percent
    truncated = 'vis_data/scalars.json line 3 is not valid JSON (truncated?)'
    assert rows[0] == ['ours', detco, '1', *[expected_cell([mask[k]]) for k in keys],
                       f'{truncated}; metrics read from the text log (vis_data/scalars.json has '
                       'no final evaluation); runs: `work_dirs/truncated_scalars`']
    assert rows[1] == ['ours', detco, 'not evaluated', *[DASH] * 6,
                       '`work_dirs/truncated_scalars_and_log`: training finished but no '
                       'evaluation was logged after it (no val_evaluator, or the evaluation was '
                       f'cut off); {truncated}']
    assert tables['COCO RetinaNet R50-FPN, 12k iters'][4] == [
        'ours', detco, 'crashed', DASH, DASH, DASH,
        '`work_dirs/crashed`: crashed at iteration 2 of 12000: RuntimeError: simulated crash '
        'after iteration 2; backbone ResNet-18 (paper: ResNet-50); total batch 2 (paper: 16)']
    s1 = final_metrics(real['runs']['retinanet_detco_s1'])
    assert tables['COCO RetinaNet R50-FPN, 2 iters'] == [
        ['ours', detco, '2', *[expected_cell([s1[k]] * 2) for k in (
            'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')],
         'runs: `work_dirs/retinanet_detco_s1`, `work_dirs/sneaky_config`']]
    assert tables['Runs in no table'] == [
        ['`work_dirs/empty`', 'empty', 'empty directory'],
        ['`work_dirs/faster_rcnn_fpn`', 'finished',
         'FasterRCNN (FPN) on CocoDataset is not one of the paper\'s benchmarks'],
        ['`work_dirs/garbage_config`', 'no config',
         f'{osp.basename(ts)}/vis_data/config.py is not valid Python (line 1)'],
        ['`work_dirs/only_config`', 'no logs',
         'no MMEngine launch in it (no <timestamp>/ directory)']]
    with open(json_path) as f:
        data = json.load(f)
    assert [r['name'] for r in data['runs_in_no_table']] == [
        'work_dirs/empty', 'work_dirs/faster_rcnn_fpn', 'work_dirs/garbage_config',
        'work_dirs/only_config']


def test_resumed_runs_take_the_newest_finished_launch(tmp_path, real):
    root = tmp_path / 'work_dirs'
    root.mkdir()
    source = real['runs']['retinanet_detco_s1']
    stamp = osp.basename(br.only_timestamp_dir(source))
    metrics = final_metrics(source)
    # resumed: an older launch that crashed at iteration 1, the newest finished
    resumed = br.clone_run(source, str(root / 'resumed'))
    br.copy_launch(resumed, stamp, '20000101_000000', keep_iters=1,
                   traceback='KeyboardInterrupt')
    # relaunched: a newer launch that is still running after iteration 1
    relaunched = br.clone_run(source, str(root / 'relaunched'))
    br.copy_launch(relaunched, stamp, '20990101_000000', keep_iters=1)
    # tested an intermediate checkpoint after training: not its final result
    tested = br.clone_run(real['runs']['retinanet_detco_s0'], str(root / 'tested_iter_1'))
    test_launch = br.timestamp_dirs(tested)[-1]
    br.rewrite_config(osp.join(tested, test_launch), "iter_2.pth'", "iter_1.pth'")
    # never finished: only launches that stopped
    stopped = br.clone_run(source, str(root / 'stopped'))
    br.copy_launch(stopped, stamp, '20000101_000000', keep_iters=1,
                   traceback='RuntimeError: CUDA out of memory')
    br.copy_launch(stopped, stamp, '20990101_000000', keep_iters=1)
    shutil.rmtree(osp.join(stopped, stamp))
    # retried: a finished run with a newer launch that failed before its first iteration
    # (the real one whose training data was missing), passed over
    no_data = real['runs']['retinanet_detco_no_data']
    no_data_stamp = osp.basename(br.only_timestamp_dir(no_data))
    retried = br.clone_run(source, str(root / 'retried'))
    br.copy_launch(retried, no_data_stamp, '20990101_000000', from_dir=no_data)
    # never trained: two such launches, the older with the traceback in its log
    failed_twice = br.clone_run(no_data, str(root / 'failed_twice'))
    br.copy_launch(failed_twice, no_data_stamp, '20000101_000000',
                   traceback="FileNotFoundError: file 'annotations/none.json' does not exist")

    json_path, md_path = tmp_path / 'out.json', tmp_path / 'out.md'
    code, _, err = run_tool(root, '--measured-only', '--json', json_path, '--markdown', md_path)
    assert code == 0, err
    markdown = md_path.read_text()
    rows = md_tables(markdown)['COCO RetinaNet R50-FPN, 2 iters']
    train_s0 = br.read_lines(osp.join(tested, br.timestamp_dirs(tested)[0], 'vis_data',
                                      'scalars.json'))[-1]
    assert rows[0] == [
        'ours', f"`{real['detco']}`", '4',
        *[expected_cell([metrics[k], metrics[k], metrics[k], train_s0[k]])
          for k in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')],
        'a newer launch in this work dir is not finished; the newest finished one is reported; '
        'runs: `work_dirs/relaunched`, `work_dirs/resumed`, `work_dirs/retried`, '
        '`work_dirs/tested_iter_1`']
    assert 'failed_twice' not in markdown and len(rows) == 2
    assert err.splitlines()[1:] == [
        'benchmark_table.py: skipped 1 run that never trained (no training iteration or '
        'evaluation logged: failed before training, or still starting): work_dirs/failed_twice',
        'benchmark_table.py: passed over 1 launch that never trained, in runs that did: '
        'work_dirs/retried/20990101_000000']
    assert rows[1] == [
        'ours', f"`{real['detco']}`", 'unfinished', DASH, DASH, DASH,
        '`work_dirs/stopped`: unfinished: reached iteration 1 of 2 (still running, or stopped '
        'without a logged error)']
    with open(json_path) as f:
        row = json.load(f)['benchmarks'][-1]['our_rows'][0]
    launches = {r['name']: r['launch'] for r in row['runs']}
    assert launches == {'work_dirs/relaunched': stamp, 'work_dirs/resumed': stamp,
                        'work_dirs/retried': stamp,
                        'work_dirs/tested_iter_1': br.timestamp_dirs(tested)[0]}


def test_readme_section_rewritten_in_place_and_second_run_changes_nothing(
        tmp_path, real, subprocess_env):
    root = make_root(tmp_path, real, 'retinanet_detco_s0', 'faster_rcnn_c4_voc_mocov2',
                     'retinanet_detco_12k_stopped')
    before = '# detco-mm\n\nIntro ünïcode text.  \n\n## Results\n\n' + START_MARKER
    after = END_MARKER + '\n\nTrailing text\twith tab, no final newline'
    readme = tmp_path / 'README.md'
    readme.write_bytes((before + '\nstale tables\n' + after).encode())
    out = tmp_path / 'out'
    args = [root, '--readme', readme, '--markdown', out / 'tables.md', '--csv', out / 't.csv',
            '--json', out / 't.json', '--plot-dir', out / 'plots']

    # as users run it: a fresh interpreter from the repo root
    result = subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=REPO_ROOT,
                            env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == ''
    assert f'{readme}: updated' in result.stderr
    text = readme.read_bytes().decode()
    tables = (out / 'tables.md').read_text()
    assert text == before + '\n' + tables + after
    assert 'stale tables' not in text and '### COCO RetinaNet R50-FPN, 2 iters' in tables
    pngs = sorted(os.listdir(out / 'plots'))
    assert pngs == sorted(['voc_faster_rcnn_c4_2iters.png', 'voc_faster_rcnn_c4_24k.png',
                           'coco_retinanet_2iters.png'] + [
        f'{t}_{s}.png' for t in ('coco_mask_rcnn_c4', 'coco_mask_rcnn_fpn', 'coco_retinanet')
        for s in ('12k', '1x', '2x')] + ['cityscapes_mask_rcnn_fpn_24k.png'])
    for name in pngs:
        data = (out / 'plots' / name).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000

    # a second run with no new results rewrites nothing
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns)
                for p in [readme, *out.rglob('*')] if p.is_file()}
    code, stdout, err = run_tool(*args)
    assert code == 0 and stdout == ''
    assert f'{readme}: unchanged' in err and f'{out / "t.csv"}: unchanged' in err
    assert 'charts: 0 written, 13 unchanged' in err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in snapshot} == snapshot

    # a new result changes the section and nothing else
    br.clone_run(real['runs']['retinanet_detco_s1'], str(root / 'retinanet_detco_s1'))
    assert run_tool(*args)[0] == 0
    text = readme.read_bytes().decode()
    assert text.startswith(before + '\n') and text.endswith('\n' + after)
    assert md_tables(text)['COCO RetinaNet R50-FPN, 2 iters'][0][2] == '2'
    assert (out / 'plots' / 'coco_retinanet_2iters.png').read_bytes() != snapshot[
        out / 'plots' / 'coco_retinanet_2iters.png'][0]


def test_readme_with_crlf_line_endings_keeps_them(tmp_path, real):
    root = make_root(tmp_path, real, 'mask_rcnn_detco')
    readme = tmp_path / 'README.md'
    readme.write_bytes(f'Title\r\n\r\n{START_MARKER}\r\n{END_MARKER}\r\nEnd\r\n'.encode())
    assert run_tool(root, '--readme', readme, '--measured-only')[0] == 0
    data = readme.read_bytes()
    assert data.startswith(f'Title\r\n\r\n{START_MARKER}\r\nGenerated by'.encode())
    assert data.endswith(f'\r\n{END_MARKER}\r\nEnd\r\n'.encode())
    assert b'\n' not in data.replace(b'\r\n', b'')


def test_bad_command_lines_are_clear_errors(tmp_path, real):
    root = make_root(tmp_path, real, 'mask_rcnn_detco')
    code, _, err = run_tool(tmp_path / 'missing')
    assert code == 2 and f"work dir '{tmp_path / 'missing'}' does not exist" in err
    (tmp_path / 'file').write_text('x')
    code, _, err = run_tool(tmp_path / 'file')
    assert code == 2 and 'is not a directory' in err
    code, _, err = run_tool(root, '--readme', tmp_path / 'nope.md')
    assert code == 2 and "--readme '" in err and 'does not exist' in err

    readme = tmp_path / 'README.md'
    readme.write_text('# Title\n\nNo markers here.\n')
    code, stdout, err = run_tool(root, '--readme', readme, '--csv', tmp_path / 'x.csv')
    assert code == 2 and stdout == ''
    assert f'{readme} has no {START_MARKER} and {END_MARKER}' in err
    assert f'Add these two lines where the benchmark tables should go:\n\n{START_MARKER}\n' \
           f'{END_MARKER}' in err
    assert readme.read_text() == '# Title\n\nNo markers here.\n'
    assert not (tmp_path / 'x.csv').exists()  # nothing written on a bad command line
    readme.write_text(f'{START_MARKER}\nonly the start\n')
    code, _, err = run_tool(root, '--readme', readme)
    assert code == 2 and f'has no {END_MARKER}.' in err
    readme.write_text(f'{END_MARKER}\n{START_MARKER}\n')
    code, _, err = run_tool(root, '--readme', readme)
    assert code == 2 and 'comes before' in err
    readme.write_text(f'{START_MARKER}\n{END_MARKER}\n{START_MARKER}\n{END_MARKER}\n')
    code, _, err = run_tool(root, '--readme', readme)
    assert code == 2 and 'has 2 start and 2 end markers' in err

    broken = tmp_path / 'paper.json'
    broken.write_text('{"tables": {"4": {"title": "t", "header": ["Method", "AP"], '
                      '"columns": ["AP"], "rows": [{"method": "DetCo", "values": [39.4, 1]}]}}}')
    code, _, err = run_tool(root, '--paper-data', broken)
    assert code == 2 and 'table 4, row 0 (DetCo): 2 values for 1 columns' in err


# --------------------------------------------------------------------------- paper data
def test_paper_data_file_shape_and_hand_checked_cells():
    paper = load_paper_results(PAPER_DATA)
    assert sorted(paper.tables, key=int) == ['3', '4', '5', '6', '7', '13']
    for number, table in paper.tables.items():
        assert len(table.header) - len(table.columns) == (2 if number == '6' else 1)
        assert [r.method for r in table.rows][:2] == ['Rand Init', 'Supervised']
    t = paper.tables
    # cells copied by hand from the paper (arXiv v1), one or two per table
    assert t['3'].find('DetCo+AA').values['fpn_segm_AP75'] == 28.7
    assert t['3'].find('SwAV').values['c4_bbox_AP50'] == 35.2
    assert t['4'].find('DetCo').values['fpn_bbox_AP'] == 39.5
    assert t['4'].find('MoCov2').values['c4_segm_AP'] == 34.2
    assert t['5'].find('DetCo').values['rn90k_AP'] == 38.0
    assert t['5'].find('DetCo+AA').values['kp_AP'] is None
    assert t['5'].find('Supervised').values['rn180k_AP75'] == 41.5
    assert t['6'].find('DetCo', 800).values['AP75'] == 65.0
    assert t['6'].find('DetCo', 200).values['AP'] == 57.8
    assert t['6'].find('Rand Init').epochs is None
    assert t['7'].find('MoCov2').values['segm_AP50'] == 60.8
    assert t['13'].find('Supervised').values['c4_segm_AP'] == 34.7
    assert t['13'].find('DetCo').values['fpn_segm_AP'] == 37.6


@pytest.mark.skipif(not osp.isfile(PAPER_DOC), reason='the paper doc is not in this checkout')
def test_paper_data_file_matches_the_paper_doc_everywhere():
    paper = load_paper_results(PAPER_DATA)
    with open(PAPER_DOC) as f:
        sections = f.read().split('\n### ')
    for number, table in paper.tables.items():
        section = next(s for s in sections if s.startswith(f'Table {number} '))
        lines = [line for line in section.splitlines() if line.startswith('|')]
        header = [c.strip() for c in lines[0].strip('|').split('|')]
        assert tuple(header) == table.header, number
        body = [[c.strip() for c in line.strip('|').split('|')] for line in lines[2:]]
        assert len(body) == len(table.rows), number
        for cells, row in zip(body, table.rows):
            assert cells[0] == row.method
            values = cells[1:]
            if number == '6':
                assert values.pop(0) == ('-' if row.epochs is None else str(row.epochs))
            assert values == ['-' if row.values[c] is None else f'{row.values[c]:.1f}'
                              for c in table.columns], (number, row.method)


# --------------------------------------------------------------------------- recognition
FINETUNE_CONFIGS = {
    'faster_rcnn_c4_detco_voc.py': 'voc_faster_rcnn_c4_24k',
    'mask_rcnn_c4_detco_12k.py': 'coco_mask_rcnn_c4_12k',
    'mask_rcnn_c4_detco.py': 'coco_mask_rcnn_c4_1x',
    'mask_rcnn_c4_detco_2x.py': 'coco_mask_rcnn_c4_2x',
    'mask_rcnn_detco_12k.py': 'coco_mask_rcnn_fpn_12k',
    'mask_rcnn_detco.py': 'coco_mask_rcnn_fpn_1x',
    'mask_rcnn_detco_2x.py': 'coco_mask_rcnn_fpn_2x',
    'retinanet_detco_12k.py': 'coco_retinanet_12k',
    'retinanet_detco.py': 'coco_retinanet_1x',
    'retinanet_detco_2x.py': 'coco_retinanet_2x',
    'mask_rcnn_detco_cityscapes.py': 'cityscapes_mask_rcnn_fpn_24k',
}


def test_finetune_configs_are_recognised_from_their_dump(tmp_path):
    from mmengine.config import Config
    present = {n: k for n, k in FINETUNE_CONFIGS.items()
               if osp.isfile(osp.join(REPO_ROOT, 'configs', 'finetune', n))}
    if not present:
        pytest.skip('configs/finetune/ is not in this checkout')
    for name, key in present.items():
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'finetune', name))
        dumped = tmp_path / name
        cfg.dump(str(dumped))  # what the Runner writes to <work_dir>/<name>
        data, skipped = parse_config(dumped.read_text())
        assert skipped == [], name
        setting = recognise(data)
        assert setting.benchmark is not None, (name, setting.unrecognised)
        assert setting.benchmark.key == key, name
        assert setting.backbone == 'ResNet-50', name
        assert setting.weights == data['model']['backbone']['init_cfg']['checkpoint'], name
