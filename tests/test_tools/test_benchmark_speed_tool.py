"""tools/analysis/benchmark_speed.py, the command line over detco_mm.analysis.benchmark_speed:
its options become the library's settings, bad combinations are argparse errors, and a run
prints the library's table (the library itself:
tests/test_analysis/test_benchmark_speed.py). Its options and main() are the CLI
surface, so the tool is loaded from its file; the library's measurements are checked there."""
import dataclasses

import pytest
import torch

from detco_mm.analysis.benchmark_speed import BenchmarkSettings

from conftest import load_tool, write_image_folder


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/benchmark_speed.py')


def test_defaults_and_options_are_the_settings(tool):
    assert BenchmarkSettings(**vars(tool.parse_args([]))) == BenchmarkSettings()
    args = tool.parse_args(['--mode', 'data', '--depth', '18', '--queue-len', '64',
                            '--channels-last', '--optimizer', 'plain', '--data-root', 'imgs'])
    settings = BenchmarkSettings(**vars(args))
    assert (settings.mode, settings.depth, settings.queue_len, settings.channels_last,
            settings.optimizer, settings.data_root) == ('data', 18, 64, True, 'plain', 'imgs')
    assert set(vars(args)) == {f.name for f in dataclasses.fields(BenchmarkSettings)}


def test_bad_options_are_argparse_errors(tool, capsys):
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(['--amp', 'bf16'])
    assert exc.value.code == 2
    assert '--amp needs --device cuda' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['--depth', '20'])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            tool.parse_args(['--device', 'cuda'])
        assert 'torch sees no CUDA device' in capsys.readouterr().err


def test_data_mode_prints_the_table(tool, tmp_path, capsys):
    root = write_image_folder(str(tmp_path), num_images=1, size=(120, 160))
    tool.main(['--mode', 'data', '--depth', '18', '--images', '1', '--data-root', root])
    out = capsys.readouterr().out
    assert out.startswith('data pipeline: 1 images, one worker')
    assert 'detco' in out and 'mocov2' in out and 'DetCo / MoCo v2: time x' in out


def test_an_empty_data_root_exits_with_its_name(tool, tmp_path):
    with pytest.raises(SystemExit, match=f'benchmark_speed: no images under {tmp_path}'):
        tool.main(['--mode', 'data', '--depth', '18', '--data-root', str(tmp_path)])
