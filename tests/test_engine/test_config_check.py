"""Pre-flight config checks: each mistake is named with its key and fix."""
import pytest
from mmengine.config import Config

import detco_mm  # noqa: F401
from detco_mm.engine.config_check import (ConfigError, accepted_arguments, check_train_config,
                                          explain_unknown_key)


def _cfg(root, **overrides):
    dataset = dict(type='mmcls.ImageNet', data_root=root, ann_file='meta/train.txt',
                   data_prefix=dict(img_path='train/'))
    dataset.update(overrides)
    return Config(dict(model=dict(type='DetCo', queue_len=64),
                       train_dataloader=dict(batch_size=4, drop_last=True, dataset=dataset)))


def test_valid_config_passes(image_folder):
    check_train_config(_cfg(image_folder(num_images=1)), world_size=2)


def test_missing_image_folder_is_named(image_folder):
    root = image_folder(num_images=1)
    with pytest.raises(ConfigError, match=r"train_dataloader\.dataset\.data_prefix\.img_path="
                       r"'images/': image folder .*/images does not exist"):
        check_train_config(_cfg(root, data_prefix=dict(img_path='images/')))


def test_wrapped_dataset_paths_are_checked(image_folder, tmp_path):
    cfg = _cfg(image_folder(num_images=1))
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2,
                                        dataset=dict(cfg.train_dataloader.dataset,
                                                     data_root=str(tmp_path / 'nope')))
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset\.dataset\.data_root='):
        check_train_config(cfg)


def test_remote_and_empty_paths_are_not_checked():
    check_train_config(_cfg('s3://bucket/imagenet/'))
    cfg = _cfg('')
    cfg.train_dataloader.dataset.update(ann_file='', data_prefix=dict(img_path=''))
    check_train_config(cfg)


def test_queue_needs_drop_last(image_folder):
    cfg = _cfg(image_folder(num_images=1))
    cfg.train_dataloader.drop_last = False
    with pytest.raises(ConfigError, match='train_dataloader.drop_last must be True'):
        check_train_config(cfg)


def test_accepted_arguments_follow_kwargs_up_the_mro():
    from mmcls.datasets import ImageNet
    from detco_mm.models.algorithms.detco import DetCo
    assert {'queue_len', 'feat_dim', 'momentum', 'backbone'} <= accepted_arguments(DetCo)
    assert {'data_root', 'ann_file', 'pipeline', 'max_refetch'} <= accepted_arguments(ImageNet)


def test_unrelated_type_errors_are_left_alone():
    cfg = Config(dict(model=dict(type='DetCo', queue_len=64)))
    assert explain_unknown_key(cfg, TypeError('unsupported operand')) is None
    assert explain_unknown_key(cfg, TypeError(
        "DetCo.__init__() got an unexpected keyword argument 'not_in_cfg'")) is None
