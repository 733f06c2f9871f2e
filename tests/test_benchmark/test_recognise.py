"""The project's fine-tune configs, dumped as the Runner dumps them, are recognised as the
paper's benchmarks (:func:`parse_config` reads the dump without running it,
:func:`recognise` names benchmark, backbone and weights)."""
import os.path as osp

from detco_mm.benchmark import parse_config, recognise

from conftest import REPO_ROOT

FINETUNE_CONFIGS = {
    'faster_rcnn_c4_detco_voc.py': 'voc_faster_rcnn_c4_24k',
    'mask_rcnn_c4_detco_12k.py': 'coco_mask_rcnn_c4_12k',
    'mask_rcnn_c4_detco.py': 'coco_mask_rcnn_c4_1x',
    'mask_rcnn_c4_detco_2x.py': 'coco_mask_rcnn_c4_2x',
    'mask_rcnn_detco_12k.py': 'coco_mask_rcnn_fpn_12k',
    'mask_rcnn_detco.py': 'coco_mask_rcnn_fpn_1x',
    'mask_rcnn_detco_2x.py': 'coco_mask_rcnn_fpn_2x',
    'retinanet_detco_12k.py': 'coco_retinanet_12k',
    'retinanet_detco.py': 'coco_retinanet_1x',
    'retinanet_detco_2x.py': 'coco_retinanet_2x',
    'mask_rcnn_detco_cityscapes.py': 'cityscapes_mask_rcnn_fpn_24k',
}


def test_finetune_configs_are_recognised_from_their_dump(tmp_path):
    from mmengine.config import Config
    for name, key in FINETUNE_CONFIGS.items():
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'finetune', name))
        dumped = tmp_path / name
        cfg.dump(str(dumped))  # what the Runner writes to <work_dir>/<name>
        data, skipped = parse_config(dumped.read_text())
        assert skipped == [], name
        setting = recognise(data)
        assert setting.benchmark is not None, (name, setting.unrecognised)
        assert setting.benchmark.key == key, name
        assert setting.backbone == 'ResNet-50', name
        assert setting.weights == data['model']['backbone']['init_cfg']['checkpoint'], name
