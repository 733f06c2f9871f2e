"""tools/gpu_check.py and detco_mm/gpu_check: configs, figures and the CPU dry run's cheap steps.

The training steps of the dry run take minutes on a 2-core CPU; they are run by hand
(``python tools/gpu_check.py --dry-run``). Here: the configs the steps hand to
``tools/train.py`` (loaded and merged as MMEngine does), the figures read from MMEngine's
``scalars.json`` records, and the ``env`` / ``data`` / skip paths end to end.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config, DictAction

from detco_mm.gpu_check import check

from conftest import REPO_ROOT

GPU_CHECK = osp.join(REPO_ROOT, 'tools', 'gpu_check.py')


def merged(config, options):
    """``config`` with ``--cfg-options`` parsed exactly as tools/train.py parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options'] + options).cfg_options)
    return cfg


def resizes(dataset):
    for _, t in check._pipeline_transforms(dataset, 'd'):
        if t['type'] in ('Resize', 'RandomChoiceResize'):
            yield t.get('scale') or t.get('scales')


@pytest.mark.parametrize('family', sorted(check.FINETUNE_FAMILIES))
def test_finetune_options_shrink_every_pipeline_and_stop_early(family, tmp_path):
    config = osp.join(REPO_ROOT, check.FINETUNE_FAMILIES[family][0])
    opts = check.finetune_options(config, check.DRY_RUN_SIZES, '/data/x/', '/b.pth',
                                  str(tmp_path))
    cfg = merged(config, opts)
    assert cfg.pretrained == '/b.pth' and cfg.data_root == '/data/x/'
    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        found = list(resizes(cfg[part].dataset))
        assert found and all(s in ((256, 128), [(256, 128)]) for s in found), (part, found)
    if cfg.train_cfg.type == 'IterBasedTrainLoop':
        assert cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 2
    else:
        assert cfg.train_cfg.max_epochs == 1
    assert cfg.default_hooks.checkpoint is None and cfg.norm_cfg.type == 'BN'
    # the GPU sizes keep the configs' own scales and SyncBN
    gpu = check.finetune_options(config, check.GPU_SIZES, '/d/', '/b.pth', str(tmp_path))
    assert not any('scale' in o or 'norm_cfg' in o for o in gpu)


def test_pretrain_configs_share_detcos_optimizer(tmp_path):
    sizes = check.GPU_SIZES
    detco_opt = check.pretrain_config('detco', sizes, '/crops/', 'cuda', str(tmp_path / 'd.py'))
    moco_opt = check.pretrain_config('mocov2', sizes, '/crops/', 'cuda', str(tmp_path / 'm.py'),
                                     detco_opt)
    assert moco_opt == detco_opt and detco_opt['fused'] is True
    for name in ('d.py', 'm.py'):
        cfg = Config.fromfile(str(tmp_path / name))
        assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=50)
        assert cfg.train_dataloader.batch_size == 32
        assert cfg.train_dataloader.dataset.data_root == '/crops/'
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'
        assert {'type': 'ChannelsLastHook'} in cfg.custom_hooks
        assert 'detco_mm.gpu_check.hooks' in cfg.custom_imports.imports
    # AMP only where CUDA is
    check.pretrain_config('detco', sizes, '/crops/', 'cpu', str(tmp_path / 'c.py'))
    assert Config.fromfile(str(tmp_path / 'c.py')).optim_wrapper.type == 'OptimWrapper'


def test_train_figures_skip_warmup_and_read_memory():
    records = [dict(iter=i, time=5.0 if i <= 3 else 0.2, data_time=0.02, memory=1024 * i)
               for i in range(1, 13)]
    records.append({'coco/bbox_mAP': 0.1, 'step': 12})
    figs = check.train_figures(records, images_per_step=32)
    assert figs == dict(step_s=0.2, data_share=0.1, img_per_s=160.0, iters=12,
                        peak_mem_gib=12.0)
    assert check.val_figures(records, ['coco/bbox_mAP']) == {'bbox_mAP': 0.1}
    with pytest.raises(ValueError, match='no training iteration'):
        check.train_figures([{'coco/bbox_mAP': 0.1}], 1)
    with pytest.raises(ValueError, match="'pascal_voc/mAP'"):
        check.val_figures(records, ['pascal_voc/mAP'])


def test_bad_sizes_and_missing_gpu_are_named(tmp_path):
    with pytest.raises(check.GpuCheckError, match='crops=2 is fewer than one batch'):
        check.Sizes(crops=2)
    with pytest.raises(check.GpuCheckError, match="amp='int8'"):
        check.Sizes(amp='int8')
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(check.GpuCheckError, match='--dry-run'):
            check.GpuCheck(str(tmp_path), 'cuda')


def test_dry_run_env_and_data_then_skips(subprocess_env, tmp_path):
    """The CLI end to end on its cheap steps; a step whose input is missing is 'skipped'."""
    work = tmp_path / 'gc'
    run = subprocess.run([sys.executable, GPU_CHECK, '--dry-run', '--work-dir', str(work),
                          '--only', 'env,data,export'], env=subprocess_env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr  # export skipped: not all ok
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith(('ok', 'failed', 'skipped'))]
    assert [ln.split()[:2] for ln in lines] == [['ok', 'env'], ['ok', 'data'],
                                                ['skipped', 'export']], run.stdout
    report = json.loads((work / 'gpu_check.json').read_text())
    assert [s['status'] for s in report['steps']] == ['ok', 'ok', 'skipped']
    assert report['steps'][0]['figures']['mmcv'].startswith(('cpu', 'cu'))
    assert (work / 'data' / 'coco' / 'annotations' / 'instances_val2017.json').exists()
    assert (work / 'data' / 'cityscapes' / 'annotations' /
            'instancesonly_filtered_gtFine_val.json').exists()
    assert len(list((work / 'data' / 'pretrain').rglob('*.jpg'))) == check.DRY_RUN_SIZES.crops
    assert '| export | skipped |' in (work / 'gpu_check.md').read_text()


def test_ratio_from_runs_on_disk(tmp_path):
    """The ratio step reads the pre-training runs' scalars.json, also of an earlier call."""
    for step, t, mem in (('pretrain-detco', 0.2, 3072), ('pretrain-mocov2', 0.1, 2048)):
        vis = tmp_path / step / '20261201_000000' / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text('\n'.join(
            json.dumps(dict(iter=i, time=t, data_time=0.01, memory=mem)) for i in range(1, 7)))
    sizes = check.DRY_RUN_SIZES
    opt = check.pretrain_config('detco', sizes, '/c/', 'cpu',
                                str(tmp_path / 'configs' / 'detco.py'))
    check.pretrain_config('mocov2', sizes, '/c/', 'cpu', str(tmp_path / 'configs' / 'mocov2.py'),
                          opt)
    lines = []
    gc = check.GpuCheck(str(tmp_path), 'cpu', sizes, only=['ratio'], echo=lines.append)
    (result,) = gc.run()
    assert result.status == 'ok', result
    assert result.figures['ratio'] == 2.0 and result.figures['mem_ratio'] == 1.5
    assert result.figures['optimizer'].startswith('same: ')
    assert 'ratio_dist' not in result.figures and lines == [result.line()]


def test_report_keeps_steps_of_an_earlier_call(tmp_path):
    sizes = check.DRY_RUN_SIZES
    first = check.GpuCheck(str(tmp_path), 'cpu', sizes, only=['export'], echo=lambda s: None)
    first.run()  # skipped: no checkpoint
    first.report()
    second = check.GpuCheck(str(tmp_path), 'cpu', sizes, only=['ratio'], echo=lambda s: None)
    second.run()
    rep = second.report()
    assert [s['name'] for s in rep['steps']] == ['ratio-detco/mocov2', 'export']
    assert '| export | skipped |' in (tmp_path / 'gpu_check.md').read_text()
    # other sizes: an earlier call's steps do not describe this check
    other = check.GpuCheck(str(tmp_path), 'cpu', check.Sizes(amp='none'), only=['ratio'],
                           echo=lambda s: None)
    other.run()
    assert [s['name'] for s in other.report()['steps']] == ['ratio-detco/mocov2']


@pytest.mark.parametrize('only,expected', [
    (['pretrain-detco'], ['pretrain-detco']),
    (['pretrain'], ['pretrain-detco', 'pretrain-detco-dist', 'pretrain-mocov2',
                    'pretrain-mocov2-dist']),
    (['ratio', 'finetune-retinanet'], ['ratio-detco/mocov2', 'finetune-retinanet']),
])
def test_only_selects_names_or_prefixes(only, expected, tmp_path):
    gc = check.GpuCheck(str(tmp_path), 'cpu', check.DRY_RUN_SIZES, only=only)
    assert [n for n in gc.step_names() if gc._wanted(n)] == expected
