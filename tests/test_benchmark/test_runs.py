"""Reading work dirs (:mod:`detco_mm.benchmark.runs`): broken and odd work dirs are listed with
the reason, resumed and relaunched runs report their newest finished launch, runs and launches
that never trained are told apart. The work dirs are edited copies of the real tiny runs of
the ``real_runs`` session fixture (tests/conftest.py)."""
import json
import os
import os.path as osp
import shutil

from detco_mm.benchmark import NEVER_TRAINED

import benchmark_runs as br
from benchmark_runs import DASH, expected_cell, final_metrics, library_report, md_tables


def test_broken_runs_are_listed_with_the_reason(tmp_path, real_runs):
    real = real_runs
    root = br.make_root(tmp_path, real, 'retinanet_detco_s1')
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

    result = library_report(root, measured_only=True)
    markdown = result.markdown
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
    assert [r['name'] for r in json.loads(result.json())['runs_in_no_table']] == [
        'work_dirs/empty', 'work_dirs/faster_rcnn_fpn', 'work_dirs/garbage_config',
        'work_dirs/only_config']


def test_resumed_runs_take_the_newest_finished_launch(tmp_path, real_runs):
    real = real_runs
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

    result = library_report(root, measured_only=True)
    markdown = result.markdown
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
    # the run that never trained, and the launch that never trained in a run that did
    assert [r.name for r in result.found if r.status == NEVER_TRAINED] == [
        'work_dirs/failed_twice']
    assert [(r.name, launch) for r in result.runs for launch in r.never_trained] == [
        ('work_dirs/retried', '20990101_000000')]
    assert rows[1] == [
        'ours', f"`{real['detco']}`", 'unfinished', DASH, DASH, DASH,
        '`work_dirs/stopped`: unfinished: reached iteration 1 of 2 (still running, or stopped '
        'without a logged error)']
    row = json.loads(result.json())['benchmarks'][-1]['our_rows'][0]
    launches = {r['name']: r['launch'] for r in row['runs']}
    assert launches == {'work_dirs/relaunched': stamp, 'work_dirs/resumed': stamp,
                        'work_dirs/retried': stamp,
                        'work_dirs/tested_iter_1': br.timestamp_dirs(tested)[0]}
