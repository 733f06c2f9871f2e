"""Tests of HierarchicalContrastiveHead, the DetCo objective (DetCo sec. 3.2, fig. 2(b))."""
import pytest
import torch
import torch.nn.functional as F
from mmselfsup.models.heads import ContrastiveHead
from mmselfsup.registry import MODELS

import detco_mm  # noqa: F401  (registers DetCo's components)

STAGES = ('res2', 'res3', 'res4', 'res5')
WEIGHTS = (0.1, 0.4, 0.7, 1.0)
ARG_NAMES = ('global_q', 'local_q', 'global_k', 'local_k', 'global_queues', 'local_queues')


def build_head(**kwargs):
    return MODELS.build(dict(type='HierarchicalContrastiveHead', **kwargs))


def make_inputs(num_stages=4, B=4, D=8, K=16, K_local=12, dtype=torch.float32, seed=0):
    """Random L2-normalised embeddings and queues, as a dict of the head's arguments."""
    g = torch.Generator().manual_seed(seed)

    def emb():
        return [F.normalize(torch.randn(B, D, generator=g), dim=1).to(dtype)
                for _ in range(num_stages)]

    def queue(k):
        return [F.normalize(torch.randn(D, k, generator=g), dim=0).to(dtype)
                for _ in range(num_stages)]

    return dict(global_q=emb(), local_q=emb(), global_k=emb(), local_k=emb(),
                global_queues=queue(K), local_queues=queue(K_local))


def infonce(q, k, queue, tau):
    """-log(exp(q.k/tau) / (exp(q.k/tau) + sum_j exp(q.Q_j/tau))), batch mean, in float64."""
    q, k, queue = q.double(), k.double(), queue.double()
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue], dim=1) / tau
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def expected_losses(inp, tau=0.2, weights=WEIGHTS, stages=STAGES, with_g2l=False):
    out = {}
    for i, (stage, w) in enumerate(zip(stages, weights)):
        gq, lq, gk, lk = (inp[n][i] for n in ARG_NAMES[:4])
        gQ, lQ = inp['global_queues'][i], inp['local_queues'][i]
        out[f'loss_g2g_{stage}'] = w * infonce(gq, gk, gQ, tau)
        out[f'loss_l2l_{stage}'] = w * infonce(lq, lk, lQ, tau)
        out[f'loss_l2g_{stage}'] = w * infonce(lq, gk, gQ, tau)
        if with_g2l:
            out[f'loss_g2l_{stage}'] = w * infonce(gq, lk, lQ, tau)
    return out


def assert_losses_close(losses, expected, **tol):
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert losses[key].dim() == 0, key
        torch.testing.assert_close(losses[key].double(), value, msg=key, **tol)


def test_reuses_mmselfsup_contrastive_head():
    head = build_head()
    assert isinstance(head.contrastive, ContrastiveHead)
    assert head.contrastive.temperature == 0.2
    assert head.stage_names == STAGES and head.loss_weights == WEIGHTS


def test_values_match_infonce_per_term_and_stage():
    head = build_head()
    inp = make_inputs()
    losses = head(**inp)
    assert set(losses) == {f'loss_{t}_{s}' for t in ('g2g', 'l2l', 'l2g') for s in STAGES}
    assert_losses_close(losses, expected_losses(inp), rtol=1e-5, atol=1e-6)


def test_with_g2l_adds_global_to_local_terms():
    head = build_head(with_g2l=True)
    inp = make_inputs(seed=1)
    losses = head(**inp)
    assert set(losses) == {f'loss_{t}_{s}' for t in ('g2g', 'l2l', 'l2g', 'g2l')
                           for s in STAGES}
    assert_losses_close(losses, expected_losses(inp, with_g2l=True), rtol=1e-5, atol=1e-6)


def test_sum_of_losses_is_the_weighted_objective():
    head = build_head()
    inp = make_inputs(seed=2)
    total = sum(head(**inp).values())
    objective = 0
    for i, w in enumerate(WEIGHTS):
        gq, lq, gk, lk = (inp[n][i] for n in ARG_NAMES[:4])
        gQ, lQ = inp['global_queues'][i], inp['local_queues'][i]
        objective = objective + w * (infonce(gq, gk, gQ, 0.2) + infonce(lq, lk, lQ, 0.2) +
                                     infonce(lq, gk, gQ, 0.2))
    torch.testing.assert_close(total.double(), objective, rtol=1e-5, atol=1e-6)


def test_custom_stages_weights_temperature_and_loss_cfg():
    head = build_head(temperature=0.5, loss_weights=(0.5, 2.0), stage_names=('c4', 'c5'),
                      loss=dict(type='mmcls.CrossEntropyLoss', loss_weight=3.0))
    inp = make_inputs(num_stages=2, seed=3)
    expected = {k: 3.0 * v for k, v in
                expected_losses(inp, 0.5, (0.5, 2.0), ('c4', 'c5')).items()}
    assert_losses_close(head(**inp), expected, rtol=1e-5, atol=1e-6)


def test_bf16_inputs_give_fp32_losses():
    head = build_head(with_g2l=True)
    inp = make_inputs(dtype=torch.bfloat16, seed=4)
    losses = head(**inp)
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert_losses_close(losses, expected_losses(inp, with_g2l=True), rtol=1e-5, atol=1e-6)


def test_logits_stay_fp32_under_autocast():
    head = build_head()
    inp = make_inputs(D=64, K=256, K_local=256, seed=5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = head(**inp)
    assert all(v.dtype == torch.float32 for v in losses.values())
    # bf16 matmuls would be off by ~1e-2 here.
    assert_losses_close(losses, expected_losses(inp), rtol=1e-5, atol=1e-6)


def test_gradients_reach_queries_not_queues():
    head = build_head(with_g2l=True)
    inp = make_inputs(seed=6)
    for name in ('global_q', 'local_q', 'global_queues', 'local_queues'):
        for t in inp[name]:
            t.requires_grad_()
    sum(head(**inp).values()).backward()
    for name in ('global_q', 'local_q'):
        for t in inp[name]:
            assert t.grad is not None and t.grad.abs().sum() > 0, name
    for name in ('global_queues', 'local_queues'):
        for t in inp[name]:
            assert t.grad is None, name


def test_queues_may_be_updated_in_place_before_backward():
    """MoCo enqueues right after the loss, before backward: the head must allow it."""
    head = build_head()
    inp = make_inputs(seed=7)
    for t in inp['global_q'] + inp['local_q']:
        t.requires_grad_()
    sum(head(**inp).values()).backward()
    ref_grads = [t.grad.clone() for t in inp['global_q'] + inp['local_q']]
    for t in inp['global_q'] + inp['local_q']:
        t.grad = None

    total = sum(head(**inp).values())
    with torch.no_grad():
        for queue in inp['global_queues'] + inp['local_queues']:
            queue[:, :4] = 0.5  # enqueue in place, as the algorithm does
    total.backward()
    for t, ref in zip(inp['global_q'] + inp['local_q'], ref_grads):
        torch.testing.assert_close(t.grad, ref)


def test_build_time_validation():
    with pytest.raises(ValueError, match=r"loss_weights has 3 entries.*stage_names has 4.*"
                                         r"each of the backbone's out_indices"):
        build_head(loss_weights=(0.4, 0.7, 1.0))
    with pytest.raises(ValueError, match=r'loss_weights has 4 entries.*stage_names has 2'):
        build_head(stage_names=('res4', 'res5'))
    for tau in (0, -0.2):
        with pytest.raises(ValueError, match=r'temperature must be > 0'):
            build_head(temperature=tau)
    with pytest.raises(ValueError, match=r'stage_names must be unique'):
        build_head(loss_weights=(1.0, 1.0), stage_names=('res5', 'res5'))


@pytest.mark.parametrize('name', ARG_NAMES)
def test_call_time_wrong_length_names_the_argument(name):
    head = build_head()
    inp = make_inputs()
    inp[name] = inp[name][:3]
    with pytest.raises(ValueError, match=rf'{name} must be a list with one tensor per stage '
                                         r'\(4: .*got 3 entries'):
        head(**inp)


def test_call_time_shape_errors():
    head = build_head()
    inp = make_inputs()
    inp['global_q'] = inp['global_q'][0]  # a tensor instead of a list
    with pytest.raises(ValueError, match=r'global_q must be a list.*got a Tensor'):
        head(**inp)
    inp = make_inputs()
    inp['local_k'][2] = inp['local_k'][2][:, :4]
    with pytest.raises(ValueError, match=r'local_k\[2\] \(res4\) has shape \(4, 4\)'):
        head(**inp)
    inp = make_inputs()
    inp['local_queues'][1] = torch.randn(4, 16)
    with pytest.raises(ValueError, match=r'local_queues\[1\] \(res3\).*D = 8'):
        head(**inp)
