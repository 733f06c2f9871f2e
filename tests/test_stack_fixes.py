"""The pinned stack runs with detco_mm's fixes: imports, compiled ops, hue, and the
installation of safe loading into MMEngine (what it refuses: test_safe_loading.py)."""
import os.path as osp
import subprocess
import sys

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.utils import get_installed_path
from PIL import Image

import detco_mm  # noqa: F401
from detco_mm import safe_loading, stack_fixes

from conftest import REPO_ROOT, TEST_CONFIGS


def test_stack_imports_and_compiled_ops_run():
    result = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'check_env.py')],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for dist in ('torch', 'mmengine', 'mmcv', 'mmcls', 'mmselfsup', 'mmdet', 'openmim'):
        assert dist in result.stdout
    assert 'RoIAlign and nms run' in result.stdout


def test_mmcv_ops_on_tiny_tensors():
    from mmcv.ops import RoIAlign, nms
    feat = torch.arange(16.).reshape(1, 1, 4, 4)
    out = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=1, aligned=False)(
        feat, torch.tensor([[0., 1., 1., 1., 1.]]))
    assert out.item() == pytest.approx(feat[0, 0, 1, 1].item() + 2.5)  # centre of pixel (1, 1)
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    dets, keep = nms(boxes, torch.tensor([0.5, 0.9, 0.3]), iou_threshold=0.5)
    assert keep.tolist() == [1, 2]


# ----------------------------------------------------------------------------- adjust_hue
def _numpy1_hue_reference(img: np.ndarray, hue_factor: float, backend: str) -> np.ndarray:
    """What mmcv 2.0.1's adjust_hue returned under numpy 1: hue + int(f * 255), modulo 256."""
    shift = int(hue_factor * 255)
    if backend == 'cv2':
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL).astype(np.int64)
        hsv[..., 0] = (hsv[..., 0] + shift) % 256
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR_FULL)
    h, s, v = Image.fromarray(np.ascontiguousarray(img[..., ::-1])).convert('HSV').split()
    h = Image.fromarray(((np.asarray(h, np.int64) + shift) % 256).astype(np.uint8), 'L')
    return np.array(Image.merge('HSV', (h, s, v)).convert('RGB'))[..., ::-1]


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('hue_factor', [-0.5, -0.3, -0.036, -0.001, 0.0, 0.04, 0.1, 0.5])
def test_adjust_hue_matches_numpy1_wraparound(backend, hue_factor):
    img = np.random.RandomState(1).randint(0, 256, (24, 32, 3), dtype=np.uint8)
    out = mmcv.adjust_hue(img, hue_factor, backend=backend)
    np.testing.assert_array_equal(out, _numpy1_hue_reference(img, hue_factor, backend))
    if hue_factor < 0 and hue_factor * 255 <= -1:
        with pytest.raises(OverflowError):  # what the unfixed function does under numpy 2
            stack_fixes._original_adjust_hue(img, hue_factor, backend=backend)


def test_adjust_hue_rejects_what_mmcv_rejects():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match='hue_factor'):
        mmcv.adjust_hue(img, -0.6)
    with pytest.raises(TypeError):
        mmcv.adjust_hue(np.zeros((2, 2, 2, 3), np.uint8), -0.1)


def test_every_binding_of_adjust_hue_is_fixed():
    import mmselfsup.datasets.transforms.processing as selfsup_processing
    for module in (mmcv, mmcv.image, mmcv.image.photometric, selfsup_processing):
        assert module.adjust_hue is stack_fixes.adjust_hue, module.__name__


def _stock_mocov2_view_pipeline() -> list:
    cfg = Config.fromfile(osp.join(get_installed_path('mmselfsup'), '.mim', 'configs', 'selfsup',
                                   '_base_', 'datasets', 'imagenet_mocov2.py'))
    return cfg.view_pipeline


def test_stock_mocov2_pipeline_runs_on_real_files(image_folder):
    root = image_folder(num_images=8, size=(64, 80))
    init_default_scope('mmselfsup')
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[_stock_mocov2_view_pipeline()]),
        dict(type='PackSelfSupInputs', meta_keys=['img_path']),
    ])
    np.random.seed(0)
    for i in range(40):  # ColorJitter fires on 80% of views: both hue signs are drawn
        packed = pipeline(dict(img_path=osp.join(root, 'train', f'img_{i % 8:03d}.jpg')))
        assert [tuple(x.shape) for x in packed['inputs']] == [(3, 224, 224)] * 2


@pytest.mark.parametrize('hue', [(-0.1, -0.02), (0.02, 0.1)])
def test_stock_color_jitter_with_each_hue_sign(image_folder, hue):
    root = image_folder(num_images=1, size=(64, 80))
    img = mmcv.imread(osp.join(root, 'train', 'img_000.jpg'))
    init_default_scope('mmselfsup')
    jitter = Compose([dict(type='ColorJitter', hue=hue)])
    out = jitter(dict(img=img.copy()))['img']
    assert out.shape == img.shape and not np.array_equal(out, img)


# ------------------------------------------------------------------- safe loading installed
STOCK_CHECKPOINT_SCRIPT = r'''
import sys, torch
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
buf = HistoryBuffer()
buf.update(1.5)
torch.save(dict(state_dict=dict(w=torch.ones(2)), message_hub=dict(log_scalars=dict(loss=buf))),
           sys.argv[1])
'''


def _pickled_globals(path: str) -> set:
    """Globals a checkpoint needs, as torch sees them in a process without detco_mm."""
    code = ('import sys, torch; print(*torch.serialization.get_unsafe_globals_in_checkpoint('
            'sys.argv[1]), sep="\\n")')
    out = subprocess.run([sys.executable, '-c', code, path], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def test_stock_mmengine_checkpoint_loads_safely(tmp_path):
    """A checkpoint written by plain MMEngine (no detco_mm) pickles getattr(HistoryBuffer, ...)."""
    path = str(tmp_path / 'stock.pth')
    subprocess.run([sys.executable, '-c', STOCK_CHECKPOINT_SCRIPT, path], check=True)
    assert 'builtins.getattr' in _pickled_globals(path)
    ckpt = _load_checkpoint(path, map_location='cpu')
    buf = ckpt['message_hub']['log_scalars']['loss']
    assert isinstance(buf, HistoryBuffer) and buf.statistics('current') == 1.5
    torch.testing.assert_close(ckpt['state_dict']['w'], torch.ones(2))


def test_checkpoints_written_with_detco_mm_hold_no_function_references(tmp_path):
    buf = HistoryBuffer()
    buf.update(2.0)
    path = str(tmp_path / 'ours.pth')
    torch.save(dict(buf=buf), path)
    needed = _pickled_globals(path)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed
    assert needed <= {'mmengine.logging.history_buffer.HistoryBuffer', 'numpy.ndarray',
                      'numpy.dtype', 'numpy._core.multiarray._reconstruct',
                      'numpy._core.multiarray.scalar'}, needed
    loaded = torch.load(path, weights_only=True)['buf']
    assert loaded.statistics('mean') == 2.0 and loaded.min() == 2.0


def test_safe_loading_is_not_disabled_globally():
    import os
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    allowed = torch.serialization.get_safe_globals()
    assert getattr not in allowed and (getattr, 'builtins.getattr') not in allowed
    assert (safe_loading._history_buffer_statistic, 'builtins.getattr') in allowed


def test_mmengine_loads_local_paths_and_urls_through_safe_loading(tmp_path):
    """Without the installed loader, MMEngine would raise torch's own refusal, which advises
    weights_only=False; ours names the file and the opt-in."""
    from mmengine.runner import checkpoint as mmengine_checkpoint
    assert mmengine_checkpoint.CheckpointLoader._schemes[''] is safe_loading.load_local_checkpoint
    assert mmengine_checkpoint.load_url is safe_loading.safe_load_url
    import argparse
    path = str(tmp_path / 'ns.pth')
    torch.save(dict(meta=argparse.Namespace(a=1)), path)
    with pytest.raises(safe_loading.UnsafeCheckpointError,
                       match=f'refusing to load {path}: .*DETCO_SAFE_GLOBALS=argparse.Namespace'):
        _load_checkpoint(path, map_location='cpu')


# ----------------------------------------------------------------------------- fused SGD + fp16
@pytest.mark.parametrize('dtype,unfused', [(None, True), (torch.float16, True),
                                           (torch.bfloat16, False)])
def test_fp16_amp_runs_sgd_unfused(dtype, unfused):
    params = [torch.nn.Parameter(torch.randn(4))]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, fused=True)
    assert stack_fixes.unfuse_for_fp16_amp(optimizer, dtype) is unfused
    assert optimizer.param_groups[0]['fused'] is not unfused
    assert getattr(optimizer, '_step_supports_amp_scaling', False) is not unfused
    params[0].grad = torch.ones(4)
    optimizer.step()  # still a working optimizer either way
    assert not stack_fixes.unfuse_for_fp16_amp(optimizer, dtype)  # nothing left to change


def test_amp_optim_wrapper_carries_the_fix():
    from mmengine.optim import AmpOptimWrapper
    assert getattr(AmpOptimWrapper.__init__, '_detco_fixed', False)


# ------------------------------------------------------------------- distributed without CUDA
FROM_CFG_SCRIPT = r'''
import sys
import torch, torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner
import detco_mm
cfg = Config.fromfile(sys.argv[1])
cfg.work_dir = sys.argv[2]
cfg.launcher = 'pytorch'
cfg.env_cfg = dict(dist_cfg=dict(backend='gloo', timeout=123))
assert 'model_wrapper_cfg' not in cfg
runner = Runner.from_cfg(cfg)
assert 'model_wrapper_cfg' not in cfg, 'the caller\'s config was changed'
print('initialized', dist.is_initialized(), dist.get_backend(), dist.get_world_size())
print('wrapper', type(runner.model).__name__, runner.model.device_ids)
print('runner cfg', runner.cfg.model_wrapper_cfg.device_ids)
backend = dist.distributed_c10d._get_default_group()._get_backend(torch.device('cpu'))
print('timeout', backend.options._timeout.total_seconds())
dist.destroy_process_group()
'''


@pytest.mark.skipif(torch.cuda.is_available(), reason='the fix changes nothing with CUDA')
def test_runner_from_cfg_starts_gloo_without_cuda(tmp_path, subprocess_env):
    """Fix 5 applies to any runner built from a config (here without tools/train.py)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(subprocess_env, RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    config = osp.join(TEST_CONFIGS, 'detco_r18_tiny.py')
    result = subprocess.run([sys.executable, '-c', FROM_CFG_SCRIPT, config, str(tmp_path / 'wd')],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert 'initialized True gloo 1' in result.stdout
    assert 'wrapper MMDistributedDataParallel None' in result.stdout
    assert 'runner cfg None' in result.stdout
    assert 'timeout 123.0' in result.stdout  # env_cfg.dist_cfg.timeout


def test_distributed_fix_is_installed_once():
    from mmengine.runner import Runner
    installed = Runner.__dict__['from_cfg'].__func__
    assert getattr(installed, '_detco_fixed', False)
    stack_fixes.apply_all()  # idempotent: no second wrapper around the first
    assert Runner.__dict__['from_cfg'].__func__ is installed
