"""The exported backbone is the query encoder's, tensor for tensor, BN buffers included.

The demo's DetCo backbones once fine-tuned worse than random init; one suspect was the transfer
path. This pins it: after real training, every tensor of the exported file (weights, BN
running_mean / running_var / num_batches_tracked) equals the live model's query backbone,
none equals the momentum encoder's where the two differ, and the neck and queues stay out.
"""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import Runner

import detco_mm  # noqa: F401
from conftest import TEST_CONFIGS, write_image_folder
from detco_mm.utils.backbone_export import export_backbone
from detection_data import keep_default_scope


def test_export_equals_the_live_query_backbone(tmp_path):
    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    cfg.train_dataloader.dataset.data_root = write_image_folder(str(tmp_path / 'data'), 8,
                                                                (48, 48))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.model.momentum = 0.5  # the key encoder moves far from the query encoder in 2 steps
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with keep_default_scope():
            runner = Runner.from_cfg(cfg)
            runner.train()
    finally:
        torch.set_num_threads(threads)
    live = {k: v.detach().clone() for k, v in runner.model.backbone.state_dict().items()}
    key_encoder = runner.model.encoder_k.module[0].state_dict()
    assert live['bn1.num_batches_tracked'] == 2 * 2  # 2 iterations x (global views + patches)

    out = str(tmp_path / 'backbone.pth')
    export_backbone(str(tmp_path / 'work' / 'epoch_1.pth'), out)
    exported = torch.load(out, weights_only=True)['state_dict']
    assert exported.keys() == live.keys()
    buffers = [k for k in live if k.endswith(('running_mean', 'running_var',
                                              'num_batches_tracked'))]
    assert len(buffers) == 3 * sum(1 for k in live if k.endswith('running_var')) > 0
    for key, value in live.items():
        assert exported[key].dtype == value.dtype and torch.equal(exported[key], value), key
    moved = [k for k in live if not torch.equal(live[k], key_encoder[k])
             and live[k].is_floating_point()]
    assert 'layer4.1.conv2.weight' in moved and 'bn1.running_var' in moved
