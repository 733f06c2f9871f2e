"""ImageFolderDataset: label-free lists and whole folder trees as pre-training sets (issue 13.3)."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import detco_mm  # noqa: F401
from detco_mm.datasets import ImageFolderDataset
from detco_mm.engine.config_check import ConfigError

from conftest import REPO_ROOT, TEST_CONFIGS


def _infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def _write(path, size=(48, 64)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, np.full((*size, 3), 127, np.uint8))


def test_list_lines_with_or_without_label(tmp_path):
    for name in ('a.jpg', 'sub/b.png', 'my photo.jpg'):
        _write(str(tmp_path / 'train' / name))
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'train.txt').write_text(
        '# my images\na.jpg 3\n\nsub/b.png\nmy photo.jpg\n')
    dataset = ImageFolderDataset(ann_file='meta/train.txt', data_root=str(tmp_path),
                                 data_prefix=dict(img_path='train/'))
    infos = _infos(dataset)
    assert [d['img_path'] for d in infos] == [
        str(tmp_path / 'train' / 'a.jpg'), str(tmp_path / 'train' / 'sub' / 'b.png'),
        str(tmp_path / 'train' / 'my photo.jpg')]
    assert infos[0]['gt_label'] == 3 and 'gt_label' not in infos[1]


def test_empty_list_is_a_clear_error(tmp_path):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'train.txt').write_text('\n# nothing yet\n')
    with pytest.raises(ConfigError, match=r'the image list .*meta/train\.txt lists no images.*'
                       r"ann_file='' to use every image"):
        ImageFolderDataset(ann_file='meta/train.txt', data_root=str(tmp_path))


def test_folder_without_list_uses_every_image_flat_or_nested(tmp_path):
    for name in ('z.JPG', 'b/c/deep.png', 'b/x.webp', '.hidden/h.jpg', 'b/._mac.jpg'):
        _write(str(tmp_path / name)) if not name.endswith('webp') else \
            (tmp_path / name).write_bytes(b'RIFF')  # listed by name; loading checks content
    (tmp_path / 'notes.txt').write_text('not an image')
    dataset = ImageFolderDataset(ann_file='', data_root=str(tmp_path))
    assert [d['img_path'] for d in _infos(dataset)] == [
        osp.join(str(tmp_path), n) for n in ('b/c/deep.png', 'b/x.webp', 'z.JPG')]
    with pytest.raises(ConfigError, match=r'no image files \(.jpg.*\) under .*/b/c/empty or its '
                       r'sub-folders'):
        os.makedirs(tmp_path / 'b' / 'c' / 'empty')
        ImageFolderDataset(data_root=str(tmp_path), data_prefix=dict(img_path='b/c/empty'))


def test_train_on_a_nested_photo_folder_via_cfg_options(tmp_path, subprocess_env):
    """How people point DetCo at COCO's train2017/ or their own photos: ann_file=''."""
    root = tmp_path / 'photos'
    rng = np.random.RandomState(0)
    for i, name in enumerate(('a.jpg', 'b.jpg', 'trip/c.jpg', 'trip/day2/d.png')):
        os.makedirs(osp.dirname(root / name), exist_ok=True)
        assert cv2.imwrite(str(root / name), rng.randint(0, 256, (48, 64, 3), np.uint8))
    wd = tmp_path / 'wd'
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'),
         osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'), '--work-dir', str(wd), '--cfg-options',
         f'train_dataloader.dataset.data_root={root}', "train_dataloader.dataset.ann_file=''",
         "train_dataloader.dataset.data_prefix.img_path=''", 'train_cfg.max_epochs=1'],
        env=subprocess_env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][1/1]' in log and (wd / 'epoch_1.pth').exists()
    assert 'skipped' not in log
    shutil.rmtree(wd)
