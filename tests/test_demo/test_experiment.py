"""The comparison of initialisations: rows of tools/benchmark_table.py's JSON pooled by
initialisation and labels, differences to random init with their standard error, the verdict.
(tests/test_tools/test_demo.py makes such JSON from real runs.)"""
import math

import pytest

from detco_mm.demo.experiment import (StepFailed, budget_of, comparison_rows, render_comparison,
                                      verdict)

LABELS_40 = 'annotations/instances_train2017_40.json'
LABELS_ALL = 'annotations/instances_train2017.json'


def row(weights, train_data, *aps):
    return dict(weights=weights, train_data=train_data, trials=len(aps), runs=[
        dict(name=f'{weights}-{i}', values=dict(AP=ap, AP50=ap + 20)) for i, ap in enumerate(aps)])


def tables(*rows, problems=()):
    return dict(benchmarks=[dict(title='COCO RetinaNet R50-FPN, 300 iters',
                                 columns=[dict(name='AP'), dict(name='AP50')],
                                 our_rows=list(rows), problem_runs=list(problems))])


BACKBONES = {'w/detco_s0/b.pth': 'detco', 'w/detco_s1/b.pth': 'detco',
             'w/mocov2_s0/b.pth': 'mocov2', 'w/mocov2_s1/b.pth': 'mocov2'}


def test_seeds_of_a_method_pool_and_deltas_have_their_spread():
    rows = comparison_rows(tables(
        row('w/detco_s0/b.pth', LABELS_40, 50.0), row('w/detco_s1/b.pth', LABELS_40, 54.0),
        row('random init', LABELS_40, 40.0, 44.0),
        row('w/mocov2_s0/b.pth', LABELS_40, 45.0), row('w/mocov2_s1/b.pth', LABELS_40, 47.0),
        row('random init', LABELS_ALL, 70.0),
        row('w/detco_s0/b.pth', LABELS_ALL, 69.0)), BACKBONES)
    assert [(r.init, r.labels, r.trials) for r in rows] == [
        ('random', LABELS_40, 2), ('mocov2', LABELS_40, 2), ('detco', LABELS_40, 2),
        ('random', LABELS_ALL, 1), ('detco', LABELS_ALL, 1)]
    detco = rows[2]
    assert detco.mean['AP'] == 52.0 and detco.std['AP'] == pytest.approx(math.sqrt(8))
    assert detco.delta['AP'] == 10.0
    # standard error of the difference: sqrt(8/2 + 8/2)
    assert detco.delta_std['AP'] == pytest.approx(math.sqrt(8.0))
    assert rows[4].delta['AP'] == -1.0 and rows[4].delta_std['AP'] is None  # 1 trial a side
    assert rows[0].delta['AP'] is None and rows[3].delta['AP'] is None

    table = render_comparison(rows)
    assert table[0].startswith('| initialisation | labelled scenes | trials | bbox AP | bbox AP50')
    assert '| DetCo | 40 | 2 | 52.0 ± 2.8 | 72.0 ± 2.8 | +10.0 ± 2.8 |' in table
    assert '| random init | 40 | 2 | 42.0 ± 2.8 | 62.0 ± 2.8 |  |' in table
    assert '| DetCo | instances_train2017.json | 1 | 69.0 | 89.0 | -1.0 |' in table

    lines = verdict(rows, pretrain_seeds=2)
    assert lines == [
        'DetCo pre-training: +10.0 ± 2.8 AP over random init at 40 labelled scenes, 2 fine-tune '
        'trials over 2 pre-training seeds; +6.0 ± 2.2 over MoCo v2',
        'DetCo pre-training: -1.0 AP over random init at instances_train2017.json, 1 fine-tune '
        'trial over 2 pre-training seeds']


def test_runs_that_are_not_results_stop_the_comparison():
    with pytest.raises(StepFailed, match='fine-tune run x has no result: crashed: boom'):
        comparison_rows(tables(row('random init', LABELS_40, 1.0), problems=[
            dict(name='x', status='crashed', reason='boom')]), BACKBONES)
    with pytest.raises(StepFailed, match='none of the compared initialisations'):
        comparison_rows(tables(row('elsewhere.pth', LABELS_40, 1.0)), BACKBONES)
    with pytest.raises(StepFailed, match='in one benchmark table'):
        comparison_rows(dict(benchmarks=[]), BACKBONES)


def test_budget_names():
    assert budget_of(LABELS_40) == '40 labelled scenes'
    assert budget_of(LABELS_ALL) == 'instances_train2017.json'
