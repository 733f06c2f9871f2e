"""tools/analysis/benchmark_speed.py: both models get the same optimizer settings by default."""
import argparse
import importlib.util
import os.path as osp

import pytest

from conftest import REPO_ROOT


@pytest.fixture(scope='module')
def bench():
    path = osp.join(REPO_ROOT, 'tools', 'analysis', 'benchmark_speed.py')
    spec = importlib.util.spec_from_file_location('benchmark_speed', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args(optimizer):
    return argparse.Namespace(depth=18, queue_len=64, batch=2, amp='none', optimizer=optimizer)


@pytest.mark.parametrize('mode,fused', [('same', True), ('plain', False)])
def test_like_for_like_optimizers(bench, mode, fused):
    detco = bench.load_cfg('detco', args(mode)).optim_wrapper.optimizer
    mocov2 = bench.load_cfg('mocov2', args(mode)).optim_wrapper.optimizer
    assert dict(detco) == dict(mocov2)
    assert detco.type == 'SGD' and detco.fused is fused and detco.lr == 0.03


def test_config_mode_keeps_each_configs_optimizer(bench):
    detco = bench.load_cfg('detco', args('config')).optim_wrapper.optimizer
    mocov2 = bench.load_cfg('mocov2', args('config')).optim_wrapper.optimizer
    assert detco.get('fused') is True and not mocov2.get('fused', False)


def test_unknown_mode_is_named(bench):
    with pytest.raises(ValueError, match="--optimizer 'adam'"):
        bench.optimizer_settings('adam')
