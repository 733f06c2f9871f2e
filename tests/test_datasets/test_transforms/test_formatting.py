"""Tests of :class:`detco_mm.datasets.transforms.PackDetCoInputs` and of the full DetCo view
pipeline (DetCo sec. 3.2) on real image files, through to ``DetCoDataPreprocessor``."""
import random
import re

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmselfsup.registry import DATASETS, MODELS, TRANSFORMS
from mmselfsup.structures import SelfSupDataSample
from torch.utils.data import DataLoader

import detco_mm  # noqa: F401  (registers the components)

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def photometric():
    """MoCo v2's photometric augmentation (MMSelfSup's ``imagenet_mocov2.py``)."""
    return [
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                              saturation=0.4, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='RandomGaussianBlur', sigma_min=0.1, sigma_max=2.0, prob=0.5),
        dict(type='RandomFlip', prob=0.5),
    ]


def detco_pipeline():
    global_view = [dict(type='RandomResizedCrop', size=224, scale=(0.2, 1.), backend='pillow')
                   ] + photometric()
    local_view = [dict(type='RandomResizedCrop', size=255, scale=(0.6, 1.), backend='pillow')
                  ] + photometric() + [
                      dict(type='JigsawPatches', grid_size=3, patch_size=64, shuffle=True)]
    return [
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=[2, 2], transforms=[global_view, local_view]),
        dict(type='PackDetCoInputs', meta_keys=['img_path']),
    ]


# ----------------------------------------------------------------------------- unit tests
def test_pack_shapes_values_and_contiguity():
    rng = np.random.RandomState(0)
    g = [rng.randint(0, 256, (32, 40, 3)).astype(np.uint8) for _ in range(2)]
    p = [rng.randint(0, 256, (9, 8, 6, 3)).astype(np.uint8) for _ in range(2)]
    pack = TRANSFORMS.build(dict(type='PackDetCoInputs', meta_keys=['img_path']))
    out = pack(dict(img=g + p, img_path='a.jpg'))
    inputs = out['inputs']
    assert [tuple(x.shape) for x in inputs] == [(3, 32, 40)] * 2 + [(9, 3, 8, 6)] * 2
    for x in inputs:
        assert x.dtype == torch.uint8 and x.is_contiguous()
    for i in range(2):
        np.testing.assert_array_equal(inputs[i].numpy(), g[i].transpose(2, 0, 1))
        np.testing.assert_array_equal(inputs[2 + i].numpy(), p[i].transpose(0, 3, 1, 2))
    assert isinstance(out['data_samples'], SelfSupDataSample)
    assert out['data_samples'].img_path == 'a.jpg'
    assert 'PackDetCoInputs' in repr(pack) and "meta_keys=['img_path']" in repr(pack)


def test_pack_single_array_and_parent_keys():
    pack = TRANSFORMS.build(dict(type='PackDetCoInputs', algorithm_keys=['sample_idx']))
    patches = np.zeros((9, 4, 4, 3), np.uint8)
    out = pack(dict(img=patches, sample_idx=7))
    assert len(out['inputs']) == 1 and out['inputs'][0].shape == (9, 3, 4, 4)
    assert int(out['data_samples'].sample_idx.value) == 7


@pytest.mark.parametrize('bad', [np.zeros((2, 9, 4, 4, 3), np.uint8), np.zeros(5, np.uint8)])
def test_pack_rejects_unexpected_ndim(bad):
    pack = TRANSFORMS.build(dict(type='PackDetCoInputs'))
    views = [np.zeros((8, 8, 3), np.uint8), bad]
    with pytest.raises(ValueError, match=re.escape(f'view 1 has shape {bad.shape}')):
        pack(dict(img=views))


# ------------------------------------------------------------------------ full pipeline
def test_detco_pipeline_on_real_files(image_folder):
    root = image_folder(num_images=4, size=(96, 128))
    np.random.seed(0)
    random.seed(0)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        dataset = DATASETS.build(
            dict(type='mmcls.ImageNet', data_root=root, ann_file='meta/train.txt',
                 data_prefix=dict(img_path='train/'), pipeline=detco_pipeline()))
    assert len(dataset) == 4
    loader = DataLoader(dataset, batch_size=4, shuffle=False, num_workers=0,
                        collate_fn=default_collate)
    batch = next(iter(loader))
    raw = batch['inputs']
    assert [tuple(x.shape) for x in raw] == [(4, 3, 224, 224)] * 2 + [(4, 9, 3, 64, 64)] * 2
    assert all(x.dtype == torch.uint8 for x in raw)
    assert [s.img_path.rsplit('/', 1)[-1] for s in batch['data_samples']] == [
        f'img_{i:03d}.jpg' for i in range(4)]
    raw_copy = [x.clone() for x in raw]

    preprocessor = MODELS.build(
        dict(type='DetCoDataPreprocessor', mean=MEAN, std=STD, bgr_to_rgb=True))
    inputs, data_samples = preprocessor(batch)
    assert len(data_samples) == 4
    assert [tuple(x.shape) for x in inputs] == [(4, 3, 224, 224)] * 2 + [(4, 9, 3, 64, 64)] * 2
    assert all(x.dtype == torch.float32 for x in inputs)
    for x, y in zip(raw, raw_copy):  # the collated batch is left untouched
        assert torch.equal(x, y)

    # One patch by hand: RGB flip on the channel axis, then (x - mean) / std per channel.
    b, k = 1, 4
    patch = raw_copy[2][b, k].double()  # (3, 64, 64), BGR
    for c in range(3):
        expected = (patch[2 - c] - MEAN[c]) / STD[c]
        torch.testing.assert_close(inputs[2][b, k, c].double(), expected, rtol=0, atol=1e-5)
    # and a global view
    view = raw_copy[0][b].double()
    for c in range(3):
        torch.testing.assert_close(inputs[0][b, c].double(), (view[2 - c] - MEAN[c]) / STD[c],
                                   rtol=0, atol=1e-5)

    # Independent draws: the two global views differ, the two patch sets differ.
    for i in range(4):
        assert not torch.equal(raw[0][i], raw[1][i])
        assert not torch.equal(raw[2][i], raw[3][i])
    # The patches of a set are different crops (not nine copies of one).
    assert not torch.equal(raw[2][0, 0], raw[2][0, 1])
