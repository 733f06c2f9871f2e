"""detco_mm.analysis.pipeline_speed: the views it times are the configs' (MMSelfSup's stock
MoCo v2 view, DetCo's global view and patch set) and it times each of them (no timing limits
are asserted: the machine's load decides the numbers)."""
import os.path as osp

import numpy as np
import pytest

from detco_mm.analysis import pipeline_speed

from conftest import REPO_ROOT, write_image_folder


def test_the_pipelines_are_the_configs():
    cfgs = pipeline_speed.view_pipelines()
    assert list(cfgs) == ['mocov2', 'detco_global', 'detco_global_cv2', 'detco_local']
    crops = {name: (t[0]['type'], t[0].get('backend'), t[0]['size']) for name, t in cfgs.items()}
    assert crops == {'mocov2': ('RandomResizedCrop', 'pillow', 224),
                     'detco_global': ('AntialiasedRandomResizedCrop', None, 224),
                     'detco_global_cv2': ('RandomResizedCrop', 'cv2', 224),
                     'detco_local': ('AntialiasedRandomResizedCrop', None, 255)}
    assert [t['type'] for t in cfgs['mocov2'][1:]] == [
        'RandomApply', 'RandomGrayscale', 'RandomGaussianBlur', 'RandomFlip']
    assert cfgs['detco_global_cv2'][1:] == cfgs['detco_global'][1:]
    assert cfgs['detco_local'][-1]['type'] == 'JigsawPatches'
    assert osp.isfile(pipeline_speed.stock_mocov2_config_path())


def test_times_every_view_and_prints_the_table(tmp_path):
    root = write_image_folder(str(tmp_path), num_images=2, size=(300, 400))
    images = pipeline_speed.load_images(root, count=2)
    assert [img.shape for img in images] == [(300, 400, 3)] * 2
    results = pipeline_speed.run(images, repeats=2)
    for r in results.values():
        assert len(r['cpu_ms']) == len(r['wall_ms']) == 4  # 2 images x 2 repeats
        assert r['wall_median_ms'] > 0 and all(np.isfinite(r['cpu_ms']))
    table = pipeline_speed.format_table(results)
    assert all(name in table for name in results) and 'per image' in table
    assert 'DetCo 2 global views + 2 patch sets' in table


def test_errors_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='no readable image'):
        pipeline_speed.load_images(str(tmp_path))
    with pytest.raises(ValueError, match="unknown pipelines \\['simclr'\\]"):
        pipeline_speed.run([], names=['simclr'])
    config = osp.join(REPO_ROOT, 'tests', 'data', 'configs', 'mocov2_r18_tiny.py')
    with pytest.raises(ValueError, match='needs one MultiView with two view pipelines'):
        pipeline_speed.view_pipelines(config)
