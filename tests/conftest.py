"""Shared fixtures: small real image files on disk, laid out as MMSelfSup expects."""
import contextlib
import os
import os.path as osp
import sys
from typing import Callable, Iterator, Tuple

import cv2
import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_CONFIGS = osp.join(REPO_ROOT, 'tests', 'data', 'configs')
# tests/data/benchmark/benchmark_runs.py: the real work dirs of the benchmark-table tests
# (tests/test_benchmark/ for the library, tests/test_tools/test_benchmark_table.py for the CLI)
sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'data', 'benchmark'))


def write_image_folder(root: str, num_images: int = 16, size: Tuple[int, int] = (96, 128),
                       seed: int = 0) -> str:
    """Write ``num_images`` colourful JPEGs under ``root/train/`` and ``root/meta/train.txt``.

    The images are random discs and bars on a random background, so colour and hue
    augmentations have something to act on. The layout is MMSelfSup's ImageNet one
    (``meta/train.txt`` lists ``<file> <label>`` lines).

    Returns:
        str: ``root``.
    """
    rng = np.random.RandomState(seed)
    h, w = size
    os.makedirs(osp.join(root, 'train'), exist_ok=True)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    lines = []
    for i in range(num_images):
        img = np.empty((h, w, 3), np.uint8)
        img[:] = rng.randint(0, 256, 3)
        for _ in range(6):
            color = tuple(int(c) for c in rng.randint(0, 256, 3))
            center = (int(rng.randint(0, w)), int(rng.randint(0, h)))
            cv2.circle(img, center, int(rng.randint(4, min(h, w) // 3)), color, -1)
            x0, y0 = int(rng.randint(0, w)), int(rng.randint(0, h))
            cv2.rectangle(img, (x0, y0), (x0 + 12, y0 + 40), color[::-1], -1)
        name = f'img_{i:03d}.jpg'
        assert cv2.imwrite(osp.join(root, 'train', name), img)
        lines.append(f'{name} 0')
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return root


@pytest.fixture
def image_folder(tmp_path) -> Callable[..., str]:
    """Factory: ``image_folder(num_images=16, size=(96, 128))`` -> data root with real JPEGs."""
    def make(num_images: int = 16, size: Tuple[int, int] = (96, 128), seed: int = 0) -> str:
        return write_image_folder(str(tmp_path / f'data_{num_images}_{size[0]}x{size[1]}_{seed}'),
                                  num_images, size, seed)
    return make


@pytest.fixture(scope='session')
def real_runs(tmp_path_factory) -> dict:
    """Tiny real fine-tune work dirs (``benchmark_runs.make_real_runs``), trained once per
    session for the library tests (tests/test_benchmark/) and the CLI tests alike:
    ``{'runs': {name: work dir}, 'detco': weights, 'moco': weights}``. Tests copy what they
    edit (``benchmark_runs.make_root`` / ``clone_run``)."""
    import benchmark_runs as br
    with restored_default_scopes():  # session scoped: the per-test guard does not see it
        return br.make_real_runs(str(tmp_path_factory.mktemp('benchmark_runs')),
                                 write_image_folder, osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))


def load_tool(relative_path: str):
    """Import a command-line script of ``tools/`` (e.g. ``'benchmark_table.py'``) as a module,
    for the tests of its command line (``main(argv)``, ``parse_args``) in this process. The
    logic behind each tool is library code in detco_mm, tested there; tools are no package."""
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', relative_path)
    name = 'tool_' + osp.splitext(relative_path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def subprocess_env() -> dict:
    """Environment for running the repo's tools in a subprocess with this interpreter."""
    env = dict(os.environ)
    env['PYTHON'] = sys.executable
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


@contextlib.contextmanager
def restored_default_scopes() -> Iterator[None]:
    """Put MMEngine's registry default scopes back as they were on entry.

    The latest ``DefaultScope`` decides where ``Registry.build`` looks types up: building an
    MMDetection Runner makes ``mmdet`` current (a linear-probe one ``mmcls``), and later tests
    that build MMSelfSup components by name (``MODELS.build(dict(type='DetCo', ...))``) would
    look there and fail. This is the suite's one guard: every test runs inside it (the autouse
    :func:`restore_default_scope`), and so do fixtures wider than a test that run a Runner
    (:func:`real_runs`), which the per-test guard does not cover. MMEngine's own
    ``DefaultScope.overwrite_default_scope`` restores the same way.
    """
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    try:
        yield
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(saved)


@pytest.fixture(autouse=True)
def restore_default_scope():
    """Every test: the default scopes it leaves behind are undone (see
    :func:`restored_default_scopes`)."""
    with restored_default_scopes():
        yield


def train_tiny_detco(root: str, num_images: int = 8, **options):
    """Train ``tests/data/configs/detco_r18_tiny.py`` for one epoch on ``num_images`` 48x48
    images under ``root`` (one thread), with config ``options`` merged; return the Runner."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    cfg.train_dataloader.dataset.data_root = write_image_folder(osp.join(root, 'data'),
                                                                num_images, (48, 48))
    cfg.work_dir = osp.join(root, 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.merge_from_dict(options)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: 2 threads mostly wait on each other
    try:
        runner = Runner.from_cfg(cfg)  # its 'mmselfsup' scope: undone after the test
        runner.train()
    finally:
        torch.set_num_threads(threads)
    return runner
