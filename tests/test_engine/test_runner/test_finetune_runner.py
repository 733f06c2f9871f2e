"""What a user sees when a fine-tuning (or linear-probe) run cannot start: DetCoFinetuneRunner's
message, not MMEngine's 600 lines of start-up log, and no traceback of ours.

``mim train mmdet`` runs MMDetection's ``tools/train.py`` with ``subprocess.check_call`` and does
not catch the ``CalledProcessError`` of a non-zero exit: mim 0.3.9 always prints a traceback of its
own after the training script failed. That one (and only that) follows our message.
"""
import logging
import os.path as osp
import subprocess
import sys

import pytest

import detco_mm  # noqa: F401
from detco_mm.benchmark import NEVER_TRAINED, read_run
from detco_mm.engine.runner.finetune_runner import FinetuneInputError

from conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'data', 'benchmark'))
import benchmark_runs as br  # noqa: E402

HEADER = 'FinetuneInputError: cannot start the run'
START_UP = ('System environment', 'Config:', 'Hooks will be executed')


def test_mim_train_with_missing_inputs_ends_with_our_message(subprocess_env, tmp_path):
    work_dir = tmp_path / 'work'
    result = subprocess.run(
        [osp.join(osp.dirname(sys.executable), 'mim'), 'train', 'mmdet',
         'configs/finetune/mask_rcnn_detco.py', '--work-dir', str(work_dir), '--cfg-options',
         f'data_root={tmp_path}/no_coco/'],
        env=subprocess_env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=600)
    lines = result.stdout.splitlines()
    assert result.returncode != 0
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER))
    end = lines.index('Traceback (most recent call last):', start)  # mim's own
    message, after = lines[start:end], lines[end:]
    # ours: the header and one item per problem, no traceback, nothing of the start-up log
    assert message[0] == f'{HEADER} (configs/finetune/mask_rcnn_detco.py):'
    assert all(line.startswith(('- ', '  ')) for line in message[1:])
    assert any(line.startswith('- pretrained backbone ') and 'does not exist' in line
               for line in message)
    assert f'- train data: {tmp_path}/no_coco/: directory does not exist' in '\n'.join(message)
    assert not any(marker in line for line in lines for marker in START_UP)
    assert not any(' - mmengine - INFO - ' in line for line in lines)
    assert 'Training command is ' in '\n'.join(lines[:start])
    # after it only mim's traceback of the failed subprocess: frames, then the exception
    assert all(line.startswith('  ') for line in after[1:-1])
    assert after[-1].startswith('subprocess.CalledProcessError: Command ')
    assert after[-1].endswith(' returned non-zero exit status 1.')
    assert len(after) < 40

    # the log file has the whole start-up; the benchmark table skips this launch
    stamp = br.only_timestamp_dir(str(work_dir))
    with open(osp.join(stamp, osp.basename(stamp) + '.log')) as f:
        log = f.read()
    assert all(marker in log for marker in START_UP)
    assert read_run(str(work_dir), 'work').status == NEVER_TRAINED


@pytest.fixture
def tiny(tmp_path):
    """A fine-tune config on tiny COCO-format data and a fake R18 'exported backbone'."""
    coco = br.write_coco(str(tmp_path / 'coco'))
    backbone = br.write_backbone(str(tmp_path / 'backbone.pth'))
    config = br.materialise_config('retinanet_r18_coco_tiny', str(tmp_path / 'configs'), coco,
                                   backbone, append="\nrunner_type = 'DetCoFinetuneRunner'\n")
    return dict(config=config, backbone=backbone)


def build(config, work_dir, **options):
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    br._new_launch()  # a fresh logger and visualizer, as in a new process
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(options, work_dir=str(work_dir)))
    return RUNNERS.build(cfg)


def close(runner):
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)


def test_console_start_up_log_follows_the_check(tiny, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(sys, 'excepthook', sys.excepthook)  # restored after the test
    # missing backbone: the message only, the start-up log stays in the log file
    runner = build(tiny['config'], tmp_path / 'missing', pretrained=str(tmp_path / 'none.pth'))
    with pytest.raises(FinetuneInputError) as error:
        runner.train()
    close(runner)
    out, _ = capfd.readouterr()
    assert not any(marker in out for marker in START_UP)
    assert 'does not exist' in str(error.value)
    # uncaught, it prints as its message, without a traceback
    sys.excepthook(error.type, error.value, error.tb)
    _, err = capfd.readouterr()
    assert err == f'FinetuneInputError: {error.value}\n'

    # inputs in place: the held-back start-up log is shown once the check passed, then training
    runner = build(tiny['config'], tmp_path / 'ok')
    out, _ = capfd.readouterr()
    assert not any(marker in out for marker in START_UP)
    runner.train()
    close(runner)
    out, _ = capfd.readouterr()
    assert [m for m in START_UP if m in out] == list(START_UP)
    assert out.index('Config:') < out.index('Iter(train) [2/2]')


def test_a_plain_folder_data_prefix_is_checked(tmp_path):
    """mmcls datasets take data_prefix as a plain folder (the linear-probe config's form)."""
    from mmengine.config import Config

    from detco_mm.engine.runner.finetune_runner import check_finetune_inputs
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='ImageNet', data_root=str(tmp_path), ann_file='', data_prefix='train'))))
    with pytest.raises(FinetuneInputError) as e:
        check_finetune_inputs(cfg, stages=('train', ))
    assert (f'- train data: {tmp_path}/train: directory does not exist '
            '(train_dataloader.dataset.data_prefix)') in str(e.value)
    (tmp_path / 'train').mkdir()
    check_finetune_inputs(cfg, stages=('train', ))


def test_every_wrapped_dataset_is_checked_and_the_layout_named_by_scope(tmp_path):
    """ConcatDataset[RepeatDataset[mmdet COCO], mmcls ImageNet]: both inner datasets' paths,
    each with the layout its scope reads; a remote root's relative paths are not judged."""
    from mmengine.config import Config

    from detco_mm.engine.runner.finetune_runner import check_finetune_inputs
    coco = dict(type='CocoDataset', data_root=str(tmp_path / 'coco'),
                ann_file='annotations/train.json', data_prefix=dict(img='train2017/'))
    imagenet = dict(type='ImageNet', _scope_='mmcls', data_root=str(tmp_path),
                    ann_file='meta/train.txt', data_prefix=dict(img_path='train'))
    cfg = Config(dict(default_scope='mmdet', train_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[dict(type='RepeatDataset', times=2, dataset=coco),
                                        imagenet]))))
    with pytest.raises(FinetuneInputError) as e:
        check_finetune_inputs(cfg, stages=('train', ))
    key = 'train_dataloader.dataset.datasets'
    assert str(e.value).splitlines() == [
        'cannot start the run:',
        f'- train data: {tmp_path}/coco: directory does not exist ({key}.0.dataset.data_root); '
        f"put the dataset there (MMDetection's layout) or set --cfg-options "
        f'{key}.0.dataset.data_root=...',
        f'- train data: {tmp_path}/meta/train.txt: file does not exist ({key}.1.ann_file); '
        f"put the dataset there (MMSelfSup's ImageNet layout) or set --cfg-options "
        f'{key}.1.ann_file=...',
        f'- train data: {tmp_path}/train: directory does not exist '
        f"({key}.1.data_prefix.img_path); put the dataset there (MMSelfSup's ImageNet layout) "
        f'or set --cfg-options {key}.1.data_prefix.img_path=...']
    # on remote storage: nothing to judge locally (the ann file was taken as local before)
    cfg.train_dataloader.dataset.datasets[0].dataset.data_root = 's3://bucket/coco/'
    cfg.train_dataloader.dataset.datasets[1].data_root = 's3://bucket/imagenet/'
    check_finetune_inputs(cfg, stages=('train', ))


@pytest.mark.parametrize('make_dataset', [
    lambda root: dict(type='mmdet.CocoDataset', data_root=root),  # the scope in the type
    lambda root: dict(type='ConcatDataset', _scope_='mmdet',  # a wrapper's scope reaches in
                      datasets=[dict(type='CocoDataset', data_root=root)]),
    lambda root: dict(type='RepeatDataset', times=2, _scope_='mmdet',
                      dataset=dict(type='ImageNet', data_root=root))],
    ids=['scoped-type', 'wrapper-scope', 'wrapper-scope-imagenet'])
def test_layout_follows_the_scope_the_dataset_is_built_in(tmp_path, make_dataset):
    """Under default_scope='mmselfsup', a dataset that MMEngine builds in mmdet's scope reads
    MMDetection's layout (an ImageNet there included: the scope decides)."""
    from mmengine.config import Config

    from detco_mm.engine.runner.finetune_runner import check_finetune_inputs
    cfg = Config(dict(default_scope='mmselfsup',
                      val_dataloader=dict(dataset=make_dataset(str(tmp_path / 'nope')))))
    with pytest.raises(FinetuneInputError) as e:
        check_finetune_inputs(cfg, stages=('val', ))
    assert "directory does not exist" in str(e.value)
    assert "(MMDetection's layout)" in str(e.value)
