"""MomentumEncoder: the same EMA as MMEngine's, updated in one batched call."""
import copy

import torch
import torch.nn as nn
from mmengine.model import ExponentialMovingAverage

from detco_mm.models.utils import MomentumEncoder


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))


def perturb(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g))
        net[1].running_mean.add_(1.0)


def test_matches_mmengines_exponential_moving_average():
    net = make_net()
    net(torch.randn(2, 3, 5, 5))  # materialise the lazy layer
    ours = MomentumEncoder(copy.deepcopy(net), momentum=0.1)
    reference = ExponentialMovingAverage(copy.deepcopy(net), momentum=0.1)
    for step in range(4):
        perturb(net, step)
        ours.update_parameters(net)
        reference.update_parameters(net)
    for (name, a), b in zip(ours.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert ours.steps.item() == 4
    # buffers follow the model, as with update_buffers=False
    torch.testing.assert_close(ours.module[1].running_mean, net[1].running_mean)


def test_interval_skips_updates_like_the_parent():
    net = nn.Linear(3, 3)
    ours, reference = (cls(copy.deepcopy(net), momentum=0.5, interval=2)
                       for cls in (MomentumEncoder, ExponentialMovingAverage))
    for step in range(5):
        perturb_linear = torch.full_like(net.weight, float(step))
        with torch.no_grad():
            net.weight.add_(perturb_linear)
        ours.update_parameters(net)
        reference.update_parameters(net)
        torch.testing.assert_close(ours.module.weight, reference.module.weight)


def test_loading_a_state_dict_restores_the_step_count():
    net = nn.Linear(3, 3)
    trained = MomentumEncoder(copy.deepcopy(net), momentum=0.5)
    for _ in range(3):
        trained.update_parameters(net)
    fresh = MomentumEncoder(copy.deepcopy(net), momentum=0.5)
    fresh.update_parameters(net)  # its host counter is now 1
    fresh.load_state_dict(trained.state_dict())
    with torch.no_grad():
        net.weight.add_(2.0)
    old = fresh.module.weight.clone()
    fresh.update_parameters(net)  # step 3: an average, not the first-step copy
    torch.testing.assert_close(fresh.module.weight, 0.5 * old + 0.5 * net.weight)
    assert fresh.steps.item() == 4
