"""Tests of DetCoNeck, the multi-level global + local neck (DetCo sec. 3.2, fig. 2(b))."""
import pytest
import torch
import torch.nn.functional as F
from mmselfsup.registry import MODELS

import detco_mm  # noqa: F401  (registers DetCo's components)

R18_CHANNELS = (64, 128, 256, 512)
P = 9  # patches per image


def build_neck(**kwargs):
    cfg = dict(type='DetCoNeck', in_channels=R18_CHANNELS, out_channels=16)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def rand_feats(batch, channels=R18_CHANNELS, size=8, seed=0):
    """Per-stage maps shaped like a ResNet's, halving the spatial size per stage."""
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, c, max(size >> i, 1), max(size >> i, 1), generator=g)
        for i, c in enumerate(channels))


def test_output_shapes_and_unit_norm():
    torch.manual_seed(0)
    neck = build_neck()
    B = 3
    g_feats, l_feats = rand_feats(B, size=8), rand_feats(B * P, size=2, seed=1)
    global_embs = neck.forward_global(g_feats)
    local_embs = neck.forward_local(l_feats)
    assert len(global_embs) == len(local_embs) == 4
    for emb in global_embs + local_embs:
        assert emb.shape == (B, 16)
        torch.testing.assert_close(emb.norm(dim=1), torch.ones(B))

    both_g, both_l = neck(g_feats, l_feats)
    only_g, no_l = neck(g_feats)
    assert no_l is None
    for a, b, c in zip(both_g, only_g, global_embs):
        torch.testing.assert_close(a, c)
        torch.testing.assert_close(b, c)
    for a, b in zip(both_l, local_embs):
        torch.testing.assert_close(a, b)


def test_default_hidden_width_is_stage_width():
    neck = build_neck()
    for i, c in enumerate(R18_CHANNELS):
        g, loc = neck.global_mlps[i], neck.local_mlps[i]
        assert (g[0].in_features, g[0].out_features) == (c, c)
        assert (g[2].in_features, g[2].out_features) == (c, 16)
        assert (loc[0].in_features, loc[0].out_features) == (P * c, c)
        assert (loc[2].in_features, loc[2].out_features) == (c, 16)
        assert isinstance(g[1], torch.nn.ReLU) and isinstance(loc[1], torch.nn.ReLU)


def test_paper_configuration_shapes():
    """ResNet-50 res2..res5 with the spec's 128-d output, built on the meta device."""
    with torch.device('meta'):
        neck = MODELS.build(dict(type='DetCoNeck'))
    assert neck.in_channels == (256, 512, 1024, 2048)
    shapes = [(m[0].in_features, m[0].out_features, m[2].out_features)
              for m in list(neck.global_mlps) + list(neck.local_mlps)]
    assert shapes == [(256, 256, 128), (512, 512, 128), (1024, 1024, 128), (2048, 2048, 128),
                      (2304, 256, 128), (4608, 512, 128), (9216, 1024, 128),
                      (18432, 2048, 128)]


@pytest.mark.parametrize('hid, expected', [(32, (32, 32, 32, 32)),
                                           ((8, 16, 24, 40), (8, 16, 24, 40))])
def test_hid_channels_int_and_sequence(hid, expected):
    neck = build_neck(hid_channels=hid)
    assert neck.hid_channels == expected
    for i, h in enumerate(expected):
        assert neck.global_mlps[i][0].out_features == h
        assert neck.global_mlps[i][2].in_features == h
        assert neck.local_mlps[i][0].out_features == h
        assert neck.local_mlps[i][2].in_features == h
    B = 2
    g, loc = neck(rand_feats(B), rand_feats(B * P, size=2))
    assert [e.shape for e in g + loc] == [(B, 16)] * 8


def test_local_head_concatenates_patches_of_each_image_in_order():
    """Image b's embedding = MLP(cat(pool(row b*9), ..., pool(row b*9+8)))."""
    torch.manual_seed(0)
    neck = build_neck()
    B = 3
    feats = rand_feats(B * P, size=4, seed=2)
    out = neck.forward_local(feats)
    for s, x in enumerate(feats):
        pooled = x.mean(dim=(2, 3))  # (9B, C)
        for b in range(B):
            cat = torch.cat([pooled[b * P + j] for j in range(P)])[None]
            ref = F.normalize(neck.local_mlps[s](cat), dim=1)[0]
            torch.testing.assert_close(out[s][b], ref, rtol=1e-5, atol=1e-6)


def test_local_head_depends_on_patch_order_and_image_grouping():
    torch.manual_seed(0)
    neck = build_neck()
    B = 3
    feats = rand_feats(B * P, size=4, seed=3)
    out = neck.forward_local(feats)

    # Permuting the patches of image 1 changes image 1's embedding only.
    perm = torch.arange(B * P)
    perm[P:2 * P] = P + torch.tensor([3, 0, 8, 1, 2, 7, 4, 6, 5])
    permuted = neck.forward_local(tuple(x[perm] for x in feats))
    for s in range(4):
        torch.testing.assert_close(permuted[s][[0, 2]], out[s][[0, 2]])
        assert (permuted[s][1] - out[s][1]).abs().max() > 1e-3

    # Swapping the row blocks of images 0 and 2 swaps their embeddings.
    blocks = torch.cat([torch.arange(2 * P, 3 * P), torch.arange(P, 2 * P),
                        torch.arange(0, P)])
    swapped = neck.forward_local(tuple(x[blocks] for x in feats))
    for s in range(4):
        torch.testing.assert_close(swapped[s], out[s][[2, 1, 0]])

    # The interleaved layout (row j*B + b) is a different grouping: other embeddings.
    interleaved = torch.arange(B * P).reshape(B, P).t().reshape(-1)
    other = neck.forward_local(tuple(x[interleaved] for x in feats))
    for s in range(4):
        assert (other[s] - out[s]).abs().max() > 1e-3


def test_gradient_reaches_every_linear_of_every_stage():
    torch.manual_seed(0)
    neck = build_neck()
    B = 2
    g_feats = tuple(x.requires_grad_() for x in rand_feats(B))
    l_feats = tuple(x.requires_grad_() for x in rand_feats(B * P, size=2, seed=1))
    g, loc = neck(g_feats, l_feats)
    target = torch.randn(B, 16, generator=torch.Generator().manual_seed(5))
    sum((e * target).sum() for e in g + loc).backward()
    linears = [m for m in neck.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 16
    for m in linears:
        assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0
        assert m.bias.grad is not None and m.bias.grad.abs().sum() > 0
    for x in g_feats + l_feats:
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_init_cfg_is_applied():
    neck = build_neck(init_cfg=dict(type='Constant', val=0.5, bias=0.0, layer='Linear'))
    neck.init_weights()
    for m in neck.modules():
        if isinstance(m, torch.nn.Linear):
            assert torch.all(m.weight == 0.5) and torch.all(m.bias == 0)


def test_bad_channels_raise_with_stage_and_channels():
    neck = build_neck()
    feats = list(rand_feats(2))
    feats[2] = torch.randn(2, 128, 2, 2)
    with pytest.raises(ValueError, match=r'forward_global: stage 2 expects 256 channels.*'
                                         r'\(2, 128, 2, 2\).*128 channels'):
        neck.forward_global(tuple(feats))
    l_feats = list(rand_feats(2 * P, size=2))
    l_feats[0] = torch.randn(2 * P, 32, 2, 2)
    with pytest.raises(ValueError, match=r'forward_local: stage 0 expects 64 channels'):
        neck.forward_local(tuple(l_feats))
    with pytest.raises(ValueError, match=r'stage 3 expects 512 channels.*\(2, 512\)'):
        neck.forward_global(rand_feats(2)[:3] + (torch.randn(2, 512), ))


def test_bad_lengths_and_batches_raise():
    neck = build_neck()
    with pytest.raises(ValueError, match=r'got 3 feature maps, expected 4.*out_indices'):
        neck.forward_global(rand_feats(2)[1:])
    with pytest.raises(ValueError, match=r'forward_local: got 5 feature maps, expected 4'):
        neck.forward_local(rand_feats(2 * P, size=2) + (torch.randn(18, 8, 1, 1), ))
    with pytest.raises(ValueError, match=r'10 rows, not a multiple of num_patches=9'):
        neck.forward_local(rand_feats(10, size=2))
    mixed = rand_feats(2 * P, size=2)
    mixed = mixed[:3] + (mixed[3][:9], )
    with pytest.raises(ValueError, match=r'stage 3 has batch size 9 but stage 0 has 18'):
        neck.forward_local(mixed)
    with pytest.raises(ValueError, match=r'hid_channels has 3 entries but in_channels has 4'):
        build_neck(hid_channels=(8, 8, 8))


def test_on_real_resnet18_features():
    """The neck on MMSelfSup's ResNet-18 res2..res5 for views and for a patch batch."""
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='ResNet', depth=18, out_indices=[1, 2, 3, 4]))
    backbone.init_weights()
    neck = build_neck()
    views = torch.randn(2, 3, 64, 64)
    patches = torch.randn(2 * P, 3, 32, 32)
    g_feats, l_feats = backbone(views), backbone(patches)
    assert [x.size(1) for x in g_feats] == list(R18_CHANNELS)
    g, loc = neck(g_feats, l_feats)
    for e in g + loc:
        assert e.shape == (2, 16)
        torch.testing.assert_close(e.norm(dim=1), torch.ones(2))


def test_embeddings_are_fp32_under_autocast():
    """fp16/bf16 sums over 9 x C inputs overflow; the heads run in fp32 whatever the AMP."""
    neck = MODELS.build(dict(type='DetCoNeck', in_channels=(8, 16), out_channels=4))
    feats = [torch.randn(2, 8, 4, 4).bfloat16(), torch.randn(2, 16, 2, 2).bfloat16()]
    patches = [torch.randn(18, 8, 2, 2).bfloat16(), torch.randn(18, 16, 1, 1).bfloat16()]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        global_emb, local_emb = neck(feats, patches)
    for emb in global_emb + local_emb:
        assert emb.dtype == torch.float32
        torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
