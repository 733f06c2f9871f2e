"""tools/train.py's options applied to the config (detco_mm.engine.train_setup), in-process."""
import os.path as osp

import pytest

import detco_mm  # noqa: F401
from detco_mm.engine.train_setup import TrainOptionError, default_work_dir, train_config

from conftest import REPO_ROOT, TEST_CONFIGS

TINY = osp.join(TEST_CONFIGS, 'detco_r18_tiny.py')
SHIPPED = osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r50_8xb32.py')


def test_options_reach_the_config(tmp_path):
    cfg = train_config(TINY, cfg_options={'model.queue_len': 128}, launcher='pytorch',
                       resume=str(tmp_path / 'epoch_1.pth'))
    assert cfg.model.queue_len == 128 and cfg.launcher == 'pytorch'
    assert cfg.work_dir == default_work_dir(TINY) == './work_dirs/detco_r18_tiny'
    assert cfg.resume is True and cfg.load_from == str(tmp_path / 'epoch_1.pth')
    cfg = train_config(TINY, work_dir=str(tmp_path), resume='auto')
    assert cfg.work_dir == str(tmp_path) and cfg.resume is True and cfg.load_from is None


def test_strict_data_and_auto_scale_lr(tmp_path):
    cfg = train_config(SHIPPED, strict_data=True, auto_scale_lr=True)
    assert cfg.train_dataloader.dataset.pipeline[1] == dict(type='RobustLoadImageFromFile',
                                                            strict=True)
    assert cfg.auto_scale_lr.enable is True
    assert train_config(TINY, strict_data=True).train_dataloader.dataset.pipeline[1] == dict(
        type='RobustLoadImageFromFile', strict=True)
    plain = {'train_dataloader.dataset.pipeline': [dict(type='LoadImageFromFile')]}
    with pytest.raises(TrainOptionError, match='^--strict-data needs RobustLoadImageFromFile'):
        train_config(TINY, cfg_options=plain, strict_data=True)
    with pytest.raises(TrainOptionError, match='^--auto-scale-lr needs auto_scale_lr.base_'):
        train_config(TINY, cfg_options={'auto_scale_lr': None}, auto_scale_lr=True)
    with pytest.raises(TrainOptionError, match="^config file 'nope.py' does not exist$"):
        train_config('nope.py')
