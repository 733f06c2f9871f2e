"""LinearScalingRuleHook in a real training run: the lr beside the rule's, a warning far above it,
and MMEngine's auto_scale_lr applying the rule (the first demo's trap: lr 0.06 at batch 32, 16x
the rule, gave a backbone that fine-tuned worse than random init)."""
import os.path as osp

import pytest

import detco_mm  # noqa: F401
from detco_mm.engine.hooks import LinearScalingRuleHook
from detco_mm.engine.hooks.lr_scaling_rule_hook import rule_lr

from conftest import REPO_ROOT, TEST_CONFIGS, train_tiny_detco, write_image_folder


def train_tiny(tmp_path, **options):
    runner = train_tiny_detco(str(tmp_path), 4, **options)
    hook = next(h for h in runner.hooks if isinstance(h, LinearScalingRuleHook))
    return runner, hook


def test_the_rule():
    assert rule_lr(0.03, 256, 256) == 0.03
    assert rule_lr(0.03, 256, 32) == pytest.approx(0.00375)
    with pytest.raises(ValueError, match='tolerance'):
        LinearScalingRuleHook(tolerance=0.5)


def test_far_above_the_rule_is_flagged_with_the_fix(tmp_path):
    # the flagship's lr 0.03 (for 256 images) at a total batch of 4: 64x the rule
    runner, hook = train_tiny(tmp_path)
    message = hook.last_message
    assert message.startswith('LinearScalingRuleHook: lr 0.03 for a total batch of 4 (4 per '
                              'process x 1); the linear scaling rule gives 0.00046875')
    assert 'x64.00 the rule. WARNING: more than 2x the rule' in message
    assert 'Set optim_wrapper.optimizer.lr=0.00046875' in message
    assert 'auto_scale_lr = dict(enable=True, base_batch_size=256)' in message
    log = open(runner.logger.log_file, encoding='utf-8').read()
    assert 'WARNING - LinearScalingRuleHook: lr 0.03' in log


def test_auto_scale_lr_applies_the_rule(tmp_path):
    runner, hook = train_tiny(tmp_path, auto_scale_lr=dict(enable=True, base_batch_size=256))
    assert hook.last_message.endswith('x1.00 the rule')
    assert 'WARNING' not in hook.last_message
    group = runner.optim_wrapper.param_groups[0]
    assert group['initial_lr'] == pytest.approx(0.03 * 4 / 256)


def test_train_py_auto_scale_lr_flag(tmp_path, subprocess_env):
    """``tools/train.py --auto-scale-lr`` turns the rule on for any config with a base batch."""
    import subprocess
    import sys
    data = write_image_folder(str(tmp_path / 'data'), 4, (48, 48))
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'),
           osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'), '--work-dir', str(tmp_path / 'w'),
           '--auto-scale-lr', '--cfg-options', f'train_dataloader.dataset.data_root={data}',
           'train_cfg.max_epochs=1', 'param_scheduler.0.T_max=1', 'param_scheduler.0.end=1']
    result = subprocess.run(cmd, env=subprocess_env, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'LR is set based on batch size of 256 and the current batch size is 4' in log
    assert 'LinearScalingRuleHook: lr 0.00046875 for a total batch of 4' in log
    assert 'x1.00 the rule' in log and 'WARNING: more than' not in log
    result = subprocess.run(cmd + ['auto_scale_lr=None'], env=subprocess_env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert 'train.py: --auto-scale-lr needs auto_scale_lr.base_batch_size' in result.stderr
