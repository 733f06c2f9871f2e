"""Which fine-tune runs are trials of one row: the same benchmark, schedule and weights, and also
the same training labels, total batch and schedule in detail (a 40-label run and a full-data run
of the same weights are two rows, each saying what it was trained on; so are a 12-epoch and a
90k-iteration run of the 1x table, or runs with other lr steps)."""
import os.path as osp

from detco_mm.benchmark.paper_results import load_paper_results
from detco_mm.benchmark.recognise import recognise
from detco_mm.benchmark.runs import FINISHED, Evaluation, Launch, Run
from detco_mm.benchmark.tables import build_tables

from conftest import REPO_ROOT

PAPER = osp.join(REPO_ROOT, 'tools', 'benchmark_data', 'paper_results.json')


def config(ann_file, batch=8, weights=None, wrapped=False, indices=None, max_iters=200,
           milestones=(150, ), epochs=None):
    dataset = dict(type='CocoDataset', data_root='data/coco/', ann_file=ann_file)
    if indices is not None:
        dataset['indices'] = indices
    if wrapped:
        dataset = dict(type='RepeatDataset', times=2, dataset=dataset)
    init_cfg = dict(type='Pretrained', checkpoint=weights) if weights else None
    return dict(
        model=dict(type='RetinaNet', backbone=dict(type='ResNet', depth=18, init_cfg=init_cfg),
                   neck=dict(type='FPN')),
        train_dataloader=dict(batch_size=batch, dataset=dataset),
        val_dataloader=dict(dataset=dict(type='CocoDataset')),
        train_cfg=(dict(type='IterBasedTrainLoop', max_iters=max_iters) if epochs is None else
                   dict(type='EpochBasedTrainLoop', max_epochs=epochs)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
            dict(type='MultiStepLR', by_epoch=epochs is not None, milestones=list(milestones))])


def run(name, cfg, ap):
    launch = Launch(name='20260101_000000', path=name, config=cfg, world_size=1,
                    final_eval=Evaluation({'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap,
                                           'coco/bbox_mAP_75': ap}, 'scalars.json'),
                    setting=recognise(cfg), state=FINISHED)
    return Run(path=name, name=name, status=FINISHED, launch=launch)


def test_train_data_through_wrappers_and_subsets():
    assert recognise(config('annotations/a.json')).train_data == 'annotations/a.json'
    assert recognise(config('annotations/a.json', wrapped=True)).train_data == (
        'annotations/a.json')
    assert recognise(config('a.json', indices=40)).train_data == 'a.json [first 40]'
    # ConcatDataset[RepeatDataset[a, first 40], b]: every file read, in order; the data set
    # type (for the task) is the inner one, through both wrappers
    cfg = config('annotations/a.json', indices=40, wrapped=True)
    inner = cfg['train_dataloader']['dataset']
    concat = dict(type='ConcatDataset', datasets=[
        inner, dict(type='CocoDataset', ann_file='annotations/./b.json')])
    cfg['train_dataloader']['dataset'] = cfg['val_dataloader']['dataset'] = concat
    setting = recognise(cfg)
    assert setting.train_data == 'annotations/a.json [first 40] + annotations/b.json'
    assert setting.benchmark is not None and setting.benchmark.task.dataset_type == 'CocoDataset'
    # inner data sets of different types: no one data set type, no benchmark
    concat['datasets'][1]['type'] = 'VOCDataset'
    assert recognise(cfg).benchmark is None
    assert 'RetinaNet (FPN) on an unknown data set' in recognise(cfg).unrecognised


def test_other_labels_or_batch_are_other_rows():
    runs = [run('r40_s0', config('ann_40.json'), 0.20), run('r40_s1', config('ann_40.json'), 0.22),
            run('rall', config('ann.json'), 0.60), run('rall_b16', config('ann.json', 16), 0.62),
            run('d40', config('ann_40.json', weights='d.pth'), 0.30)]
    tables, unplaced = build_tables(runs, load_paper_results(PAPER), measured_only=True)
    assert not unplaced and len(tables) == 1
    rows = {(r.weights, r.train_data, r.total_batch): r for r in tables[0].our_rows}
    assert set(rows) == {('random init', 'ann_40.json', 8), ('random init', 'ann.json', 8),
                         ('random init', 'ann.json', 16), ('d.pth', 'ann_40.json', 8)}
    pair = rows[('random init', 'ann_40.json', 8)]
    assert pair.trials == 2 and [r.name for r in pair.runs] == ['r40_s0', 'r40_s1']
    assert float(pair.mean['AP']) == 21.0
    # the notes say what tells rows of the same weights apart, only where something does
    assert 'trained on ann_40.json' in pair.notes
    assert 'total batch 16' in rows[('random init', 'ann.json', 16)].notes
    assert not any(n.startswith(('trained on', 'total batch'))
                   for n in rows[('d.pth', 'ann_40.json', 8)].notes)


def test_other_schedules_are_other_rows():
    runs = [run('s0', config('ann.json'), 0.20), run('s1', config('ann.json'), 0.22),
            run('steps', config('ann.json', milestones=(100, 180)), 0.30),
            run('long', config('ann.json', max_iters=90000, milestones=(60000, 80000)), 0.40),
            run('epochs', config('ann.json', epochs=12, milestones=(8, 11)), 0.41),
            run('iters', config('ann.json', max_iters=90000, milestones=(60000, 80000)), 0.42)]
    tables, unplaced = build_tables(runs, load_paper_results(PAPER), measured_only=True)
    assert not unplaced
    by_title = {t.benchmark.title: t for t in tables}
    assert sorted(by_title) == ['COCO RetinaNet R50-FPN, 1x (90k iters)',
                                'COCO RetinaNet R50-FPN, 200 iters']
    short = {tuple(r.name for r in row.runs): row
             for row in by_title['COCO RetinaNet R50-FPN, 200 iters'].our_rows}
    assert set(short) == {('s0', 's1'), ('steps', )}
    # only the lr steps differ: each row names its own, not the warmup they share
    assert short[('s0', 's1')].notes[0] == 'lr schedule lr steps (x0.1) at 150 iters'
    assert short[('steps', )].notes[0] == 'lr schedule lr steps (x0.1) at 100, 180 iters'
    assert float(short[('s0', 's1')].mean['AP']) == 21.0
    # 12 epochs (MMDetection's 1x) and 90k iterations (the paper's): one table, two rows
    long = {tuple(r.name for r in row.runs): row
            for row in by_title['COCO RetinaNet R50-FPN, 1x (90k iters)'].our_rows}
    assert set(long) == {('long', 'iters'), ('epochs', )}
    assert long[('epochs', )].notes[:2] == ['schedule EpochBasedTrainLoop, 12 epochs',
                                            'lr schedule lr steps (x0.1) at 8, 11 epochs']
    assert long[('long', 'iters')].train_loop == 'IterBasedTrainLoop, 90000 iters'
    assert long[('long', 'iters')].lr_schedule == (
        'LinearLR(begin=0, by_epoch=False, end=50, start_factor=0.001)',
        'lr steps (x0.1) at 60000, 80000 iters')
