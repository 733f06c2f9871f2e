"""The one walk over a config's dataset configs, and the local data-path findings of one."""
import os

from mmengine.config import Config

from detco_mm.engine.config_walk import (DataPathProblem, data_path_problems, is_remote,
                                         iter_datasets)


def coco(name, **kwargs):
    return dict(type='CocoDataset', data_root=f'data/{name}/',
                ann_file=f'annotations/{name}.json', data_prefix=dict(img='images/'),
                **kwargs)


def nested():
    """ConcatDataset[RepeatDataset[CocoDataset a], CocoDataset b, ClassBalanced[Concat[c, d]]]."""
    return Config(dict(train_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=3, dataset=coco('a')),
        coco('b'),
        dict(type='ClassBalancedDataset', oversample_thr=1e-3, dataset=dict(
            type='ConcatDataset', datasets=[coco('c'), coco('d')])),
    ]))))


def test_every_dataset_once_wrappers_before_what_they_wrap():
    cfg = nested()
    walked = list(iter_datasets(cfg.train_dataloader.dataset, 'train_dataloader.dataset'))
    assert [(key, ds['type']) for key, ds in walked] == [
        ('train_dataloader.dataset', 'ConcatDataset'),
        ('train_dataloader.dataset.datasets.0', 'RepeatDataset'),
        ('train_dataloader.dataset.datasets.0.dataset', 'CocoDataset'),
        ('train_dataloader.dataset.datasets.1', 'CocoDataset'),
        ('train_dataloader.dataset.datasets.2', 'ClassBalancedDataset'),
        ('train_dataloader.dataset.datasets.2.dataset', 'ConcatDataset'),
        ('train_dataloader.dataset.datasets.2.dataset.datasets.0', 'CocoDataset'),
        ('train_dataloader.dataset.datasets.2.dataset.datasets.1', 'CocoDataset'),
    ]
    # the config's own dicts: a change through the walk is a change of the config
    walked[2][1]['data_root'] = 'elsewhere/'
    assert cfg.train_dataloader.dataset.datasets[0].dataset.data_root == 'elsewhere/'


def test_leaves_only_are_the_datasets_that_read_data():
    leaves = list(iter_datasets(nested().train_dataloader.dataset, 'd', leaves_only=True))
    assert [(key, ds['ann_file']) for key, ds in leaves] == [
        ('d.datasets.0.dataset', 'annotations/a.json'),
        ('d.datasets.1', 'annotations/b.json'),
        ('d.datasets.2.dataset.datasets.0', 'annotations/c.json'),
        ('d.datasets.2.dataset.datasets.1', 'annotations/d.json'),
    ]
    # a plain dataset is its own leaf; an empty ConcatDataset is a leaf too; nothing: nothing
    assert list(iter_datasets(coco('a'), 'x', leaves_only=True)) == [('x', coco('a'))]
    empty = dict(type='ConcatDataset', datasets=[])
    assert list(iter_datasets(empty, 'x', leaves_only=True)) == [('x', empty)]
    assert list(iter_datasets(None, 'x')) == [] and list(iter_datasets('a', 'x')) == []


def test_is_remote():
    assert is_remote('s3://bucket/coco/') and is_remote('http://host/a.json')
    assert not is_remote('data/coco/') and not is_remote('/abs/path')


def test_data_path_problems_of_one_dataset(tmp_path):
    root = str(tmp_path) + '/'
    os.makedirs(tmp_path / 'images')
    (tmp_path / 'ann.json').write_text('{}')
    key = 'val_dataloader.dataset'
    ok = dict(type='CocoDataset', data_root=root, ann_file='ann.json',
              data_prefix=dict(img='images/'))
    assert data_path_problems(ok, key) == []

    # a missing root: only the root (its relative paths cannot exist either)
    missing_root = dict(ok, data_root=str(tmp_path / 'nope'))
    assert data_path_problems(missing_root, key) == [DataPathProblem(
        key, 'data_root', str(tmp_path / 'nope'), str(tmp_path / 'nope'),
        'directory does not exist')]
    assert data_path_problems(missing_root, key)[0].field == f'{key}.data_root'

    # annotation file and every prefix folder, joined to the root, in this order
    bad = dict(ok, ann_file='missing.json', data_prefix=dict(img='images/', seg='seg/'))
    assert [(p.field, p.value, p.path, p.what) for p in data_path_problems(bad, key)] == [
        (f'{key}.ann_file', 'missing.json', f'{root}missing.json', 'file does not exist'),
        (f'{key}.data_prefix.seg', 'seg/', f'{root}seg/', 'directory does not exist')]
    # a plain-folder prefix (mmcls) and absolute paths
    plain = dict(ok, ann_file=str(tmp_path / 'abs.json'), data_prefix='train')
    assert [(p.name, p.path) for p in data_path_problems(plain, key)] == [
        ('ann_file', str(tmp_path / 'abs.json')), ('data_prefix', f'{root}train')]

    # remote: not judged, and a remote root's relative paths are remote too
    assert data_path_problems(dict(ok, data_root='s3://bucket/coco/'), key) == []
    assert data_path_problems(dict(ok, ann_file='s3://bucket/a.json'), key) == []
    # ... but an absolute local path under a remote root is read locally, so it is checked
    local = dict(ok, data_root='s3://bucket/coco/', ann_file=str(tmp_path / 'gone.json'),
                 data_prefix=dict(img=str(tmp_path / 'images'), seg=str(tmp_path / 'nope')))
    assert [(p.name, p.path) for p in data_path_problems(local, key)] == [
        ('ann_file', str(tmp_path / 'gone.json')), ('data_prefix.seg', str(tmp_path / 'nope'))]
    # a pathlib data_root is a local path like its string
    assert [p.name for p in data_path_problems(dict(ok, data_root=tmp_path / 'nope'), key)] == [
        'data_root']
    # empty values are not paths (ann_file='' reads every image under the folder)
    assert data_path_problems(dict(ok, ann_file='', data_prefix=dict(img='')), key) == []
