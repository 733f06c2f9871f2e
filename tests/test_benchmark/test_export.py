"""The tables as CSV (one line per row and metric) and JSON (every trial): the same numbers
as the markdown (tests/test_benchmark/test_tables.py), from the same hand-made trial runs."""
import csv
import io
import json

import benchmark_runs as br
from benchmark_runs import library_report


def test_trials_in_csv_and_json(tmp_path, real_runs):
    real = real_runs
    root = tmp_path / 'work_dirs'
    root.mkdir()
    br.write_trial_runs(root, real)
    result = library_report(root, measured_only=True)

    lines = list(csv.DictReader(io.StringIO(result.csv(), newline='')))
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

    data = json.loads(result.json())
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
