"""Real MMEngine work dirs for the benchmark-table tests: tiny CPU fine-tune runs of mmdet.

The configs under ``configs/`` are shaped like the project's fine-tune configs (model type,
neck or C4 shared head, dataset type, iteration-based schedule, pre-trained backbone in
``pretrained`` and ``model.backbone.init_cfg``) but shrunk to ResNet-18, 64 px images and two
iterations. Placeholders in them (``TINY_DATA_ROOT``, ``TINY_PRETRAINED``) are filled in by
:func:`materialise_config`, which writes the config under its own name, so the Runner dumps
it as ``<work_dir>/<config name>.py`` just as for a real fine-tune run.

Besides the runs, this module writes the tiny data sets (COCO json, VOC xml) and fake
"pre-trained" backbones, and offers :func:`clone_run` for the hand-made variants the tests
derive from real runs (truncated logs, crashed runs, other schedules).
"""
import json
import os
import os.path as osp
import re
import shutil
import time
from typing import Dict, Iterable, Optional

import cv2
import numpy as np
import torch

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')
COCO_CLASSES = ('a', 'b')
VOC_CLASSES = ('person', 'car')


def _boxes(rng: np.random.RandomState, size: int, num: int):
    for k in range(num):
        x, y = int(rng.randint(0, size // 2)), int(rng.randint(0, size // 2))
        w, h = int(rng.randint(14, size // 2)), int(rng.randint(14, size // 2))
        yield k % 2, x, y, w, h


def _draw(img: np.ndarray, k: int, x: int, y: int, w: int, h: int) -> None:
    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (200, 60 + 120 * k, 40), -1)


def write_coco(root: str, num_images: int = 4, size: int = 64, seed: int = 0) -> str:
    """``root/images/*.jpg`` with 2 rectangles each, ``root/annotations/{train,val}.json``."""
    rng = np.random.RandomState(seed)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    images, anns = [], []
    for i in range(num_images):
        img = np.full((size, size, 3), 30, np.uint8)
        for k, x, y, w, h in _boxes(rng, size, 2):
            _draw(img, k, x, y, w, h)
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=k + 1,
                             bbox=[x, y, w, h], area=w * h, iscrowd=0,
                             segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
        name = f'img_{i:02d}.jpg'
        assert cv2.imwrite(osp.join(root, 'images', name), img)
        images.append(dict(id=i + 1, file_name=name, width=size, height=size))
    coco = dict(images=images, annotations=anns,
                categories=[dict(id=i + 1, name=c) for i, c in enumerate(COCO_CLASSES)])
    for split in ('train', 'val'):
        with open(osp.join(root, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(coco, f)
    return root


def write_voc(root: str, num_images: int = 4, size: int = 64, seed: int = 0) -> str:
    """VOCdevkit layout with VOC2007 (trainval + test) and VOC2012 (trainval)."""
    rng = np.random.RandomState(seed)
    for year, splits in (('VOC2007', ('trainval', 'test')), ('VOC2012', ('trainval', ))):
        base = osp.join(root, year)
        for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
            os.makedirs(osp.join(base, sub), exist_ok=True)
        ids = []
        for i in range(num_images):
            img_id = f'{year[-4:]}_{i:04d}'
            img = np.full((size, size, 3), 30, np.uint8)
            objects = []
            for k, x, y, w, h in _boxes(rng, size, 2):
                _draw(img, k, x, y, w, h)
                objects.append(
                    f'<object><name>{VOC_CLASSES[k]}</name><difficult>0</difficult>'
                    f'<bndbox><xmin>{x + 1}</xmin><ymin>{y + 1}</ymin>'
                    f'<xmax>{x + w}</xmax><ymax>{y + h}</ymax></bndbox></object>')
            assert cv2.imwrite(osp.join(base, 'JPEGImages', f'{img_id}.jpg'), img)
            with open(osp.join(base, 'Annotations', f'{img_id}.xml'), 'w') as f:
                f.write(f'<annotation><filename>{img_id}.jpg</filename><size>'
                        f'<width>{size}</width><height>{size}</height><depth>3</depth>'
                        f'</size>{"".join(objects)}</annotation>')
            ids.append(img_id)
        for split in splits:
            with open(osp.join(base, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
                f.write('\n'.join(ids) + '\n')
    return root


def write_backbone(path: str, depth: int = 18, seed: int = 0) -> str:
    """A stand-in for a pre-trained checkpoint: ``{'state_dict': {'backbone.<name>': ...}}``."""
    from mmdet.models.backbones import ResNet
    torch.manual_seed(seed)
    backbone = ResNet(depth=depth)
    backbone.init_weights()
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save({'state_dict': state, 'meta': {}}, path)
    return path


def materialise_config(name: str, dst_dir: str, data_root: str, pretrained: Optional[str],
                       max_iters: Optional[int] = None, replace: Optional[Dict[str, str]] = None,
                       append: str = '') -> str:
    """Write ``dst_dir/<name>.py`` with the placeholders filled in; return its path.

    ``pretrained=None`` gives a randomly initialised backbone (``init_cfg=None``);
    ``max_iters`` replaces the 2 iterations; ``replace`` maps other text to replace (each must
    occur); ``append`` is added at the end (later assignments win).
    """
    with open(osp.join(CONFIG_DIR, f'{name}.py')) as f:
        text = f.read()
    text = text.replace('TINY_DATA_ROOT', data_root.rstrip('/'))
    if pretrained is None:
        text = text.replace("pretrained = 'TINY_PRETRAINED'", 'pretrained = None')
        text = re.sub(r"init_cfg=dict\(type='Pretrained', checkpoint=pretrained,\s*"
                      r"prefix='backbone.'\)", 'init_cfg=None', text)
    else:
        text = text.replace('TINY_PRETRAINED', pretrained)
    if max_iters is not None:
        text = text.replace('max_iters = 2\n', f'max_iters = {max_iters}\n')
    for old, new in (replace or {}).items():
        assert old in text, f'{old!r} not in {name}'
        text = text.replace(old, new)
    text += append
    os.makedirs(dst_dir, exist_ok=True)
    path = osp.join(dst_dir, f'{name}.py')
    with open(path, 'w') as f:
        f.write(text)
    return path


_last_start = [0.0]


def _new_launch() -> None:
    """Make this process look like a fresh ``tools/train.py`` process to the next Runner.

    MMEngine names a launch by the second it started, so two launches are kept a second apart;
    and the visualizer (which writes ``vis_data/``) is a process-wide instance looked up by
    name, so the previous run's instance is forgotten (else it would keep writing into the
    previous run's ``vis_data``).
    """
    from mmengine.visualization import Visualizer
    classes = [Visualizer]
    while classes:
        cls = classes.pop()
        cls._instance_dict.clear()
        classes.extend(cls.__subclasses__())
    while int(time.time()) == int(_last_start[0]):
        time.sleep(0.05)
    _last_start[0] = time.time()


def _crash_hook_type() -> str:
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    @HOOKS.register_module(name='BenchmarkTestCrashAfterIter', force=True)
    class CrashAfterIter(Hook):
        """Raise after the given iteration, as a run that dies mid-training would."""
        priority = 'LOWEST'  # after the LoggerHook wrote the iteration

        def __init__(self, iters: int):
            self.iters = iters

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 >= self.iters:
                raise RuntimeError(f'simulated crash after iteration {runner.iter + 1}')

    return 'BenchmarkTestCrashAfterIter'


def train(config_path: str, work_dir: str, seed: int = 0, crash_after: Optional[int] = None,
          options: Optional[dict] = None) -> str:
    """Train (and validate at the end) with MMEngine's Runner in this process.

    ``options``: ``--cfg-options`` style overrides; ``crash_after``: raise after that iteration.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config_path)
    if options:
        cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    if crash_after is not None:
        cfg.custom_hooks = [dict(type=_crash_hook_type(), iters=crash_after)]
    _new_launch()
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    finally:
        _close_log_file(runner)
    return work_dir


def test(config_path: str, work_dir: str, checkpoint: str) -> str:
    """What ``tools/test.py`` / ``mim test`` do: a test launch in the run's work dir."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config_path)
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    _new_launch()
    runner = Runner.from_cfg(cfg)
    try:
        runner.test()
    finally:
        _close_log_file(runner)
    return work_dir


def _close_log_file(runner) -> None:
    """Flush and close the log file of a finished runner (as its process exit would)."""
    import logging
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)


def clone_run(src: str, dst: str) -> str:
    """Copy a work dir without its checkpoints (the tests edit the copy by hand)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns('*.pth'))
    return dst


def timestamp_dirs(work_dir: str) -> Iterable[str]:
    return sorted(d for d in os.listdir(work_dir) if re.fullmatch(r'\d{8}_\d{6}', d))


def only_timestamp_dir(work_dir: str) -> str:
    stamps = list(timestamp_dirs(work_dir))
    assert len(stamps) == 1, stamps
    return osp.join(work_dir, stamps[0])


def read_lines(path: str):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_lines(path: str, records) -> None:
    with open(path, 'w') as f:
        for record in records:
            f.write(json.dumps(record) + '\n')


def set_eval_metrics(ts_dir: str, metrics: Dict[str, float]) -> None:
    """Replace the metric values of the last evaluation in ``vis_data/scalars.json``."""
    for name in ('scalars.json', f'{osp.basename(ts_dir)}.json'):
        path = osp.join(ts_dir, 'vis_data', name)
        records = read_lines(path)
        last = records[-1]
        assert 'iter' not in last, 'the last record is not an evaluation'
        records[-1] = dict(metrics, **{k: v for k, v in last.items() if '/' not in k})
        write_lines(path, records)


def rewrite_config(ts_dir: str, old: str, new: str, regex: bool = False) -> None:
    """Edit the launch's dumped config (``vis_data/config.py``) textually (``regex``: ``old``
    is a regular expression, ``new`` its replacement)."""
    path = osp.join(ts_dir, 'vis_data', 'config.py')
    with open(path) as f:
        text = f.read()
    if regex:
        text, count = re.subn(old, new, text)
        assert count, f'{old!r} does not match in {path}'
    else:
        assert old in text, f'{old!r} not in {path}'
        text = text.replace(old, new)
    with open(path, 'w') as f:
        f.write(text)


def _edit_text(path: str, edit) -> None:
    with open(path) as f:
        text = f.read()
    new = edit(text)
    with open(path, 'w') as f:
        f.write(new)


def fake_schedule(work_dir: str, iters: Optional[int] = None,
                  epochs: Optional[int] = None) -> None:
    """Make a finished tiny run look like a finished run of a longer schedule.

    Iteration-based (``iters``): ``max_iters=2`` of the dumped config (``vis_data/config.py``
    and the copy in the log), the last training record (``iter``/``step`` 2) and the log's
    ``Iter(train) [n/2]`` / ``Saving checkpoint at 2 iterations`` lines. Epoch-based
    (``epochs``): ``max_epochs=1``, ``Epoch(train) [1][..]`` and ``Saving checkpoint at 1
    epochs``. A hand-made fixture: the numbers stay those of the tiny run unless
    :func:`set_eval_metrics` replaces them.
    """
    ts_dir = only_timestamp_dir(work_dir)
    name = osp.basename(ts_dir)
    if iters is not None:
        def edit(text: str) -> str:
            text = text.replace('max_iters=2,', f'max_iters={iters},')
            text = re.sub(r'Iter\(train\) \[(\d)/2\]', rf'Iter(train) [\1/{iters}]', text)
            text = text.replace(f'Iter(train) [2/{iters}]', f'Iter(train) [{iters}/{iters}]')
            return text.replace('Saving checkpoint at 2 iterations',
                                f'Saving checkpoint at {iters} iterations')
        for json_name in ('scalars.json', f'{name}.json'):
            path = osp.join(ts_dir, 'vis_data', json_name)
            records = read_lines(path)
            for record in records:
                if record.get('iter') == 2:
                    record['iter'] = record['step'] = iters
            write_lines(path, records)
    else:
        def edit(text: str) -> str:
            text = text.replace('max_epochs=1,', f'max_epochs={epochs},')
            text = text.replace('Epoch(train) [1][', f'Epoch(train) [{epochs}][')
            return text.replace('Saving checkpoint at 1 epochs',
                                f'Saving checkpoint at {epochs} epochs')
    _edit_text(osp.join(ts_dir, 'vis_data', 'config.py'), edit)
    _edit_text(osp.join(ts_dir, f'{name}.log'), edit)


def copy_launch(work_dir: str, src: str, dst: str, keep_iters: Optional[int] = None,
                traceback: Optional[str] = None, from_dir: Optional[str] = None) -> str:
    """Copy launch ``src`` of a work dir to launch ``dst`` (another timestamp).

    ``keep_iters``: cut the copy after that training iteration (records, log lines and any
    evaluation after it), as a launch that stopped there. ``traceback``: append a Python
    traceback ending in that message to the copy's log, as when stderr goes to the log.
    ``from_dir``: take launch ``src`` from that work dir instead.
    """
    src_dir, dst_dir = osp.join(from_dir or work_dir, src), osp.join(work_dir, dst)
    shutil.copytree(src_dir, dst_dir)
    for root, _, files in os.walk(dst_dir):
        for file in files:
            if src in file:
                os.rename(osp.join(root, file), osp.join(root, file.replace(src, dst)))
    if keep_iters is not None:
        for json_name in ('scalars.json', f'{dst}.json'):
            path = osp.join(dst_dir, 'vis_data', json_name)
            records = read_lines(path)
            end = max(i for i, r in enumerate(records) if r.get('iter') == keep_iters)
            write_lines(path, records[:end + 1])
        log = osp.join(dst_dir, f'{dst}.log')
        with open(log) as f:
            lines = f.read().splitlines(keepends=True)
        end = max(i for i, line in enumerate(lines) if re.search(
            rf'Iter\(train\) \[\s*{keep_iters}/', line))
        with open(log, 'w') as f:
            f.writelines(lines[:end + 1])
    if traceback is not None:
        with open(osp.join(dst_dir, f'{dst}.log'), 'a') as f:
            f.write('Traceback (most recent call last):\n'
                    '  File "tools/train.py", line 104, in <module>\n    main()\n'
                    '  File "mmengine/runner/runner.py", line 1777, in train\n'
                    '    model = self.train_loop.run()  # type: ignore\n'
                    f'{traceback}\n')
    return dst_dir
