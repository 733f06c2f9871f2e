"""Per-sample seeding: a sample's views depend on (seed, epoch, index) only."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.registry import DefaultScope
from mmselfsup.registry import DATASETS

import detco_mm  # noqa: F401
from detco_mm.datasets.sample_seeding import ResumableSampler, SeedAugmentation

from conftest import TEST_CONFIGS


def _dataset(root, seeded=True):
    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = root
    head = [dict(type='SeedAugmentation')] if seeded else []
    views = [t for t in dataset.pipeline if 'Load' not in t.type and 'Seed' not in t.type]
    dataset.pipeline = head + [dict(type='RobustLoadImageFromFile')] + views
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return DATASETS.build(dataset)


def _views(dataset, sampler, num_workers, epoch, persistent=False):
    """{image path: its four views} of one epoch."""
    sampler.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=sampler,
                                         num_workers=num_workers, collate_fn=default_collate,
                                         persistent_workers=persistent and num_workers > 0)
    views = {}
    for batch in loader:
        for i, sample in enumerate(batch['data_samples']):
            views[sample.img_path] = [x[i] for x in batch['inputs']]
    return views


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key]):
            assert torch.equal(x, y), key


def test_views_do_not_depend_on_workers_order_or_history(image_folder):
    root = image_folder(num_images=6, size=(48, 64))
    dataset = _dataset(root)
    np.random.seed(123)  # the global state a run happens to be in does not matter
    reference = _views(dataset, ResumableSampler(dataset, shuffle=True, seed=7), 0, epoch=1)
    np.random.seed(999)
    two_workers = _views(dataset, ResumableSampler(dataset, shuffle=True, seed=7), 2, epoch=1)
    _assert_same(reference, two_workers)
    # A fresh sampler and loader that start directly at epoch 1 (a resumed run) and a loader
    # that went through epoch 0 first (the uninterrupted run) agree on epoch 1.
    sampler = ResumableSampler(dataset, shuffle=True, seed=7)
    _views(dataset, sampler, 1, epoch=0)
    _assert_same(reference, _views(dataset, sampler, 1, epoch=1))


def test_each_epoch_and_seed_gives_new_views(image_folder):
    root = image_folder(num_images=4, size=(48, 64))
    dataset = _dataset(root)
    epoch0 = _views(dataset, ResumableSampler(dataset, seed=7), 0, epoch=0)
    epoch1 = _views(dataset, ResumableSampler(dataset, seed=7), 0, epoch=1)
    other_seed = _views(dataset, ResumableSampler(dataset, seed=8), 0, epoch=0)
    for path in epoch0:
        assert not torch.equal(epoch0[path][0], epoch1[path][0])
        assert not torch.equal(epoch0[path][0], other_seed[path][0])


def test_persistent_workers_see_the_new_epoch(image_folder):
    root = image_folder(num_images=4, size=(48, 64))
    dataset = _dataset(root)
    sampler = ResumableSampler(dataset, seed=7)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=1,
                                         collate_fn=default_collate, persistent_workers=True)
    per_epoch = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        per_epoch.append({s.img_path: b['inputs'][0][i] for b in loader
                          for i, s in enumerate(b['data_samples'])})
    fresh = _dataset(root)
    expected = _views(fresh, ResumableSampler(fresh, seed=7), 0, epoch=1)
    for path, view in per_epoch[1].items():
        assert torch.equal(view, expected[path][0])
        assert not torch.equal(view, per_epoch[0][path])


def test_without_seeding_a_resumed_epoch_differs(image_folder):
    """What the seeding fixes: the stock sampler and global RNG give other views after a
    resume (a fresh worker) than in the uninterrupted run (a worker that did epoch 0)."""
    root = image_folder(num_images=4, size=(48, 64))
    dataset = _dataset(root, seeded=False)
    torch.manual_seed(0)
    sampler = DefaultSampler(dataset, seed=7)
    loader_kwargs = dict(batch_size=2, sampler=sampler, collate_fn=default_collate)
    np.random.seed(0)
    list(torch.utils.data.DataLoader(dataset, **loader_kwargs))  # epoch 0
    sampler.set_epoch(1)
    straight = [b['inputs'][0] for b in torch.utils.data.DataLoader(dataset, **loader_kwargs)]
    np.random.seed(0)  # what MMEngine does at start-up of the resumed run
    resumed = [b['inputs'][0] for b in torch.utils.data.DataLoader(dataset, **loader_kwargs)]
    assert not all(torch.equal(a, b) for a, b in zip(straight, resumed))


def test_seed_transform_alone_is_a_no_op_and_finds_its_sampler(image_folder, tmp_path):
    transform = SeedAugmentation()
    state = np.random.get_state()
    assert transform(dict(img_path='x')) == dict(img_path='x')  # outside a dataset
    assert transform(dict(sample_idx=3)) == dict(sample_idx=3)  # no sampler: warns, no-op
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])

    dataset = _dataset(image_folder(num_images=4, size=(48, 64)))
    sampler = ResumableSampler(dataset, seed=5)
    seeder = dataset.pipeline.transforms[0]
    assert isinstance(seeder, SeedAugmentation) and seeder.state.tolist() == [5, 0]
    sampler.set_epoch(3)
    assert seeder.state.tolist() == [5, 3] and seeder.state.is_shared()


@pytest.mark.parametrize('index', [0, 1, 2])
def test_sample_seed_is_a_pure_function(index):
    from detco_mm.datasets.sample_seeding import sample_seed
    assert sample_seed(1, 2, index) == sample_seed(1, 2, index)
    assert len({sample_seed(1, 2, index), sample_seed(1, 3, index), sample_seed(2, 2, index),
                sample_seed(1, 2, index + 10)}) == 4
