"""detco_mm.analysis.benchmark_speed: both models get the same optimizer settings by default,
the configs get the asked depth, batch and queue, the synthetic batch has the dataloader's
shapes, a real DetCo train step runs, and the data mode times both pipelines (no timing limits
are asserted: the machine's load decides the numbers)."""
import pytest
import torch

from detco_mm.analysis import benchmark_speed
from detco_mm.analysis.benchmark_speed import BenchmarkSettings

from conftest import write_image_folder


def tiny(**overrides) -> BenchmarkSettings:
    return BenchmarkSettings(**dict(dict(depth=18, queue_len=64, batch=2), **overrides))


@pytest.mark.parametrize('mode,fused', [('same', True), ('plain', False)])
def test_like_for_like_optimizers(mode, fused):
    detco = benchmark_speed.load_cfg('detco', tiny(optimizer=mode)).optim_wrapper.optimizer
    mocov2 = benchmark_speed.load_cfg('mocov2', tiny(optimizer=mode)).optim_wrapper.optimizer
    assert dict(detco) == dict(mocov2)
    assert detco.type == 'SGD' and detco.fused is fused and detco.lr == 0.03


def test_config_mode_keeps_each_configs_optimizer():
    detco = benchmark_speed.load_cfg('detco', tiny(optimizer='config')).optim_wrapper.optimizer
    mocov2 = benchmark_speed.load_cfg('mocov2', tiny(optimizer='config')).optim_wrapper.optimizer
    assert detco.get('fused') is True and not mocov2.get('fused', False)


def test_configs_get_depth_batch_queue_and_amp():
    detco = benchmark_speed.load_cfg('detco', tiny())
    mocov2 = benchmark_speed.load_cfg('mocov2', tiny(amp='bf16'))
    assert detco.model.backbone.depth == mocov2.model.backbone.depth == 18
    assert detco.model.queue_len == mocov2.model.queue_len == 64
    assert detco.train_dataloader.batch_size == 2
    assert tuple(detco.model.neck.in_channels) == (64, 128, 256, 512)
    assert mocov2.model.neck.in_channels == mocov2.model.neck.hid_channels == 512
    assert mocov2.optim_wrapper.type == 'AmpOptimWrapper'
    assert mocov2.optim_wrapper.dtype == 'bfloat16'
    assert detco.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'


def test_synthetic_batch_has_the_dataloaders_shapes():
    detco = benchmark_speed.synthetic_batch('detco', tiny())
    mocov2 = benchmark_speed.synthetic_batch('mocov2', tiny())
    assert [tuple(v.shape) for v in detco['inputs']] == [(2, 3, 224, 224)] * 2 + [
        (2, 9, 3, 64, 64)] * 2
    assert [tuple(v.shape) for v in mocov2['inputs']] == [(2, 3, 224, 224)] * 2
    assert all(v.dtype == torch.uint8 for v in detco['inputs'])
    assert len(detco['data_samples']) == 2


def test_a_detco_train_step_updates_the_model():
    step = benchmark_speed.TrainStep('detco', tiny(batch=1))
    weight = step.model.backbone.conv1.weight.detach().clone()
    step()
    assert not torch.equal(weight, step.model.backbone.conv1.weight)
    assert step.optimizer_cfg['type'] == 'SGD'


def test_data_mode_times_both_pipelines_and_prints_the_table(tmp_path, capsys):
    root = write_image_folder(str(tmp_path), num_images=2, size=(120, 160))
    results = benchmark_speed.run(tiny(mode='data', images=2, data_root=root))
    assert set(results) == {'detco', 'mocov2'}
    assert all(r['median_s'] > 0 and r['images_per_s'] > 0 for r in results.values())
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'data pipeline: 2 images, one worker, decode + views + packing'
    assert out[1].split() == ['median', 'ms', 'images/s']
    assert out[-1].startswith('DetCo / MoCo v2: time x')


def test_print_table_with_memory(capsys):
    results = dict(detco=dict(median_s=0.2, images_per_s=40.0, peak_bytes=3 * 2**20),
                   mocov2=dict(median_s=0.1, images_per_s=80.0, peak_bytes=2**20))
    benchmark_speed.print_table(results, 'RSS', unit='images/s', rate_key='images_per_s')
    assert capsys.readouterr().out.splitlines() == [
        '          median ms   images/s   peak MiB',
        'detco         200.0      40.00          3',
        'mocov2        100.0      80.00          1',
        'DetCo / MoCo v2: time x2.00, memory x3.00 (RSS)']


def test_peak_rss_reads_proc():
    assert benchmark_speed.proc_status_bytes('VmHWM') >= benchmark_speed.proc_status_bytes(
        'VmRSS') > 0


def test_errors_are_named(tmp_path):
    with pytest.raises(ValueError, match="--optimizer 'adam'"):
        benchmark_speed.optimizer_settings('adam')
    with pytest.raises(ValueError, match="--mode 'speed'"):
        benchmark_speed.run(tiny(mode='speed'))
    with pytest.raises(benchmark_speed.NoImagesError, match=f'no images under {tmp_path}'):
        benchmark_speed.run_data(tiny(mode='data', data_root=str(tmp_path)))
    with pytest.raises(RuntimeError, match='no VmNone in /proc/self/status'):
        benchmark_speed.proc_status_bytes('VmNone')
