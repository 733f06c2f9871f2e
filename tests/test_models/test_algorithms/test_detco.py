"""The DetCo algorithm: losses, queues, key encoder, gradients, config errors, Runner."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmselfsup.registry import MODELS

import detco_mm  # noqa: F401

from conftest import TEST_CONFIGS

STAGES = ('res2', 'res3', 'res4', 'res5')
TINY = dict(
    type='DetCo',
    queue_len=32,
    feat_dim=16,
    momentum=0.9,
    backbone=dict(type='ResNet', depth=18, out_indices=[1, 2, 3, 4], norm_cfg=dict(type='BN')),
    neck=dict(type='DetCoNeck', in_channels=(64, 128, 256, 512), hid_channels=32,
              out_channels=16),
    head=dict(type='HierarchicalContrastiveHead', temperature=0.2))


def build(**overrides):
    cfg = copy.deepcopy(TINY)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return MODELS.build(cfg)


def views(batch=4, size=32, patch=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, size, size, generator=g),
            torch.randn(batch, 3, size, size, generator=g),
            torch.randn(batch, 9, 3, patch, patch, generator=g),
            torch.randn(batch, 9, 3, patch, patch, generator=g)]


def key_embeddings(model, x2, p4):
    backbone_k, neck_k = model.encoder_k.module
    with torch.no_grad():
        return (neck_k.forward_global(backbone_k(x2)),
                neck_k.forward_local(backbone_k(p4.flatten(0, 1))))


def test_losses_per_term_and_stage_are_finite():
    torch.manual_seed(0)
    model = build()
    losses = model.loss(views(), data_samples=[])
    assert set(losses) == {f'loss_{t}_{s}' for t in ('g2g', 'l2l', 'l2g') for s in STAGES}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    # weights (0.1, 0.4, 0.7, 1.0): an unweighted InfoNCE term is about log(K + 1) at init
    assert losses['loss_g2g_res2'] < losses['loss_g2g_res5']


def test_g2l_term_behind_its_switch():
    model = build(head=dict(with_g2l=True))
    assert {f'loss_g2l_{s}' for s in STAGES} <= set(model.loss(views(), data_samples=[]))


def test_stage_names_follow_out_indices():
    model = build(backbone=dict(out_indices=[3, 4]),
                  neck=dict(in_channels=(256, 512)), head=dict(loss_weights=(0.7, 1.0)))
    assert model.head.stage_names == ('res4', 'res5')
    assert model.global_queue.shape == (2, 16, 32)
    assert {k.rsplit('_', 1)[1] for k in model.loss(views(), data_samples=[])} == {'res4', 'res5'}


def test_queues_take_the_key_encoders_embeddings_of_x2_and_p4():
    torch.manual_seed(0)
    model = build()
    x1, x2, p3, p4 = views(seed=1)
    before_g, before_l = model.global_queue.clone(), model.local_queue.clone()
    model.loss([x1, x2, p3, p4], data_samples=[])
    assert model.queue_ptr.item() == 4
    expected_g, expected_l = key_embeddings(model, x2, p4)
    for i in range(4):
        torch.testing.assert_close(model.global_queue[i, :, :4], expected_g[i].T)
        torch.testing.assert_close(model.local_queue[i, :, :4], expected_l[i].T)
    torch.testing.assert_close(model.global_queue[:, :, 4:], before_g[:, :, 4:])
    torch.testing.assert_close(model.local_queue[:, :, 4:], before_l[:, :, 4:])
    for _ in range(8):  # 8 more batches of 4 wrap around the 32 columns
        model.loss(views(seed=2), data_samples=[])
    assert model.queue_ptr.item() == (9 * 4) % 32


def test_head_sees_the_queues_before_the_update():
    torch.manual_seed(0)
    model = build()
    inputs = views(seed=3)
    queues = model.global_queue.clone(), model.local_queue.clone()
    losses = model.loss(inputs, data_samples=[])
    # Recompute the loss from scratch with the embeddings and the old queues.
    global_q = model.neck.forward_global(model.backbone(inputs[0]))
    local_q = model.neck.forward_local(model.backbone(inputs[2].flatten(0, 1)))
    global_k, local_k = key_embeddings(model, inputs[1], inputs[3])
    expected = model.head(global_q, local_q, global_k, local_k,
                          list(queues[0].unbind(0)), list(queues[1].unbind(0)))
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-4, atol=1e-5)


def test_key_encoder_is_an_ema_of_the_query_encoder():
    torch.manual_seed(0)
    model = build(momentum=0.9)
    model.loss(views(), data_samples=[])  # the first update copies the query encoder
    key_conv = model.encoder_k.module[0].conv1.weight
    torch.testing.assert_close(key_conv, model.backbone.conv1.weight)
    old_key = key_conv.detach().clone()
    with torch.no_grad():
        model.backbone.conv1.weight.add_(1.0)  # an "SGD step" of the query encoder
    model.loss(views(seed=1), data_samples=[])
    torch.testing.assert_close(key_conv, 0.9 * old_key + 0.1 * model.backbone.conv1.weight)
    assert not any(p.requires_grad for p in model.encoder_k.parameters())


def test_gradients_reach_backbone_and_both_heads_of_every_stage():
    torch.manual_seed(0)
    model = build()
    sum(model.loss(views(), data_samples=[]).values()).backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.backbone.layer4[-1].conv2.weight.grad.abs().sum() > 0
    for i in range(4):
        for mlps in (model.neck.global_mlps, model.neck.local_mlps):
            assert mlps[i][0].weight.grad.abs().sum() > 0, (i, mlps)
            assert mlps[i][2].weight.grad.abs().sum() > 0, (i, mlps)
    assert all(p.grad is None for p in model.encoder_k.parameters())


def test_extract_feat_gives_every_stage():
    feats = build().extract_feat(views())
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512]


def test_loss_weights_must_match_the_stages():
    with pytest.raises(ValueError, match=r'model.head.loss_weights has 3 entries.*'
                                         r'model.backbone.out_indices selects 4 stages'):
        build(head=dict(loss_weights=(0.4, 0.7, 1.0)))


@pytest.mark.parametrize('overrides, message', [
    (dict(neck=dict(in_channels=(128, 256, 512))),
     r'DetCo: model.neck.in_channels=\(128, 256, 512\) lists 3 stages but '
     r'model.backbone.out_indices selects 4 stages'),
    (dict(feat_dim=8), r'DetCo: model.feat_dim=8 but model.neck.out_channels=16'),
])
def test_neck_must_fit_the_stages_and_queues_at_build_time(overrides, message):
    """Caught when the model is built, not in the first training step."""
    with pytest.raises(ValueError, match=message):
        build(**overrides)


def test_queue_length_must_divide_by_the_global_batch():
    model = build(queue_len=30)
    with pytest.raises(ValueError, match=r'model.queue_len=30 is not divisible by the global '
                                         r'batch 4'):
        model.loss(views(), data_samples=[])


def test_inputs_packed_for_moco_are_refused_with_the_fix():
    with pytest.raises(ValueError, match='PackDetCoInputs'):
        build().loss(views()[:2], data_samples=[])


# ----------------------------------------------------------------------------- with a Runner
def _tiny_cfg(root, work_dir, max_epochs):
    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    cfg.train_dataloader.dataset.data_root = root
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = max_epochs
    cfg.log_level = 'WARNING'
    return cfg


def test_runner_trains_saves_and_resumes_queues_and_ema(image_folder, tmp_path):
    root = image_folder(num_images=8, size=(64, 80))
    runner = Runner.from_cfg(_tiny_cfg(root, tmp_path, max_epochs=1))
    runner.train()
    trained = {k: v.clone() for k, v in runner.model.state_dict().items()}
    assert trained['queue_ptr'].item() == 8
    ckpt = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    for key in ('global_queue', 'local_queue', 'queue_ptr', 'encoder_k.steps',
                'encoder_k.module.0.conv1.weight', 'encoder_k.module.1.local_mlps.3.2.weight'):
        torch.testing.assert_close(ckpt['state_dict'][key], trained[key])

    # A fresh Runner resuming from the checkpoint restores the same state, then trains on.
    cfg = _tiny_cfg(root, tmp_path, max_epochs=2)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 4
    ckpt2 = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)['state_dict']
    assert ckpt2['queue_ptr'].item() == 16
    assert ckpt2['encoder_k.steps'].item() == 4
    # The first epoch's keys of the checkpoint were kept, the new ones written after them.
    torch.testing.assert_close(ckpt2['global_queue'][:, :, :8], trained['global_queue'][:, :, :8])
    assert not torch.allclose(ckpt2['global_queue'][:, :, 8:16],
                              trained['global_queue'][:, :, 8:16])
