"""The pinned stack runs with detco_mm's fixes: imports, compiled ops, hue, safe loading."""
import os.path as osp
import pickle
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
from detco_mm import stack_fixes

from conftest import REPO_ROOT


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


# ----------------------------------------------------------------------------- safe loading
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


class _GetattrWalk:
    """Pickles as getattr(HistoryBuffer, '__init__'): the first step of a gadget chain."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _RunsCode:
    """Pickles as a call of os.system: what a hostile checkpoint does."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.marker}', )


def test_getattr_beyond_history_buffer_statistics_is_refused(tmp_path):
    path = str(tmp_path / 'walk.pth')
    torch.save(dict(x=_GetattrWalk()), path)
    with pytest.raises(stack_fixes.UnsafeCheckpointError,
                       match=r"__init__'\); only HistoryBuffer statistics "
                             r"\(current, max, mean, min\)"):
        _load_checkpoint(path, map_location='cpu')


def test_foreign_global_is_refused_and_named(tmp_path):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=_RunsCode(str(marker))), path)
    with pytest.raises(stack_fixes.UnsafeCheckpointError) as info:
        _load_checkpoint(path, map_location='cpu')
    message = str(info.value)
    assert path in message and 'posix.system' in message
    # a function can never be opted in, and the message must not suggest it
    assert 'DETCO_SAFE_GLOBALS' not in message and 'can never be allowed' in message
    assert not marker.exists()
    assert isinstance(info.value, pickle.UnpicklingError)


def test_safe_globals_opt_in_names_exact_classes(tmp_path, monkeypatch):
    import argparse
    path = str(tmp_path / 'ns.pth')
    torch.save(dict(meta=argparse.Namespace(a=1)), path)
    with pytest.raises(stack_fixes.UnsafeCheckpointError, match='argparse.Namespace'):
        _load_checkpoint(path, map_location='cpu')
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', 'argparse.Namespace')
    assert _load_checkpoint(path, map_location='cpu')['meta'].a == 1
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', 'builtins.getattr')
    with pytest.raises(ValueError, match='builtins are never allowed'):
        _load_checkpoint(path, map_location='cpu')


class _OpensFile:
    """Pickles as ``io.open(marker, 'w')`` (io.open *is* builtins.open)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import io
        return io.open, (self.marker, 'w')


class _Timeit:
    """Pickles as ``timeit.timeit(code)``: runs code when unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import timeit
        return timeit.timeit, (f'open({self.marker!r}, "w")', 'pass', None, 1)


@pytest.mark.parametrize('payload,opt_in', [(_OpensFile, 'io.open'), (_Timeit, 'timeit.timeit'),
                                            (_OpensFile, 'io.FileIO'),
                                            (_Timeit, 'timeit.Timer'),
                                            (_OpensFile, 'subprocess.Popen'),
                                            (_OpensFile, 'os.path')])
def test_opt_in_admits_no_callable_or_builtin(tmp_path, monkeypatch, payload, opt_in):
    """Issue 13.1: DETCO_SAFE_GLOBALS=io.open let a checkpoint open a file for writing."""
    marker = tmp_path / 'written'
    path = str(tmp_path / 'crafted.pth')
    torch.save(dict(state_dict={}, meta=payload(str(marker))), path)
    with pytest.raises(stack_fixes.UnsafeCheckpointError) as info:
        _load_checkpoint(path, map_location='cpu')
    assert 'DETCO_SAFE_GLOBALS' not in str(info.value)  # never suggests allowing a callable
    assert 'weights_only' not in str(info.value)
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', opt_in)
    with pytest.raises(ValueError, match=f"DETCO_SAFE_GLOBALS: '{opt_in}' is never allowed"):
        _load_checkpoint(path, map_location='cpu')
    assert not marker.exists()


def test_raw_and_legacy_pickles_get_our_message(tmp_path, monkeypatch):
    """No "weights_only=False will likely succeed", no "(Unsupported operand 149)"."""
    import argparse
    raw = tmp_path / 'raw.pkl'
    raw.write_bytes(pickle.dumps(dict(w=[1.0, 2.0]), protocol=4))
    with pytest.raises(stack_fixes.UnsafeCheckpointError) as info:
        _load_checkpoint(str(raw), map_location='cpu')
    message = str(info.value)
    assert f'refusing to load {raw}: it is a raw Python pickle' in message
    assert 'weights_only' not in message and 'operand' not in message
    legacy = str(tmp_path / 'legacy.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=argparse.Namespace(a=1)), legacy,
               _use_new_zipfile_serialization=False)
    with pytest.raises(stack_fixes.UnsafeCheckpointError) as info:
        _load_checkpoint(legacy, map_location='cpu')
    message = str(info.value)
    assert 'argparse.Namespace' in message and 'DETCO_SAFE_GLOBALS=argparse.Namespace' in message
    assert 'weights_only' not in message and 'add_safe_globals' not in message
    monkeypatch.setenv('DETCO_SAFE_GLOBALS', 'argparse.Namespace')
    assert _load_checkpoint(legacy, map_location='cpu')['meta'].a == 1


def test_safe_loading_is_not_disabled_globally():
    import os
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    allowed = torch.serialization.get_safe_globals()
    assert getattr not in allowed and (getattr, 'builtins.getattr') not in allowed
    assert (stack_fixes._history_buffer_statistic, 'builtins.getattr') in allowed


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


def test_refusal_does_not_import_modules_the_file_names(tmp_path, monkeypatch):
    """Judging a global must not import its module (an import runs the module's code)."""
    import sys
    import types
    name = 'detco_test_side_effect_module'
    fake = types.ModuleType(name)  # in sys.modules while saving only: pickle imports it

    class Fly:
        pass

    Fly.__module__, Fly.__qualname__ = name, 'Fly'
    fake.Fly = Fly
    monkeypatch.setitem(sys.modules, name, fake)
    path = str(tmp_path / 'names_a_module.pth')
    torch.save(dict(meta=Fly()), path)
    monkeypatch.delitem(sys.modules, name)
    marker = tmp_path / 'imported'
    (tmp_path / f'{name}.py').write_text(f'open({str(marker)!r}, "w").close()\nclass Fly: pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(stack_fixes.UnsafeCheckpointError, match=f'{name}.Fly: not checked'):
        _load_checkpoint(path, map_location='cpu')
    assert not marker.exists() and name not in sys.modules
