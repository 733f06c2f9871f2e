"""Real MMEngine work dirs for the benchmark-table tests: tiny CPU fine-tune runs of mmdet.

The configs under ``configs/`` are shaped like the project's fine-tune configs (model type,
neck or C4 shared head, dataset type, iteration-based schedule, pre-trained backbone in
``pretrained`` and ``model.backbone.init_cfg``) but shrunk to ResNet-18, 64 px images and two
iterations. Placeholders in them (``TINY_DATA_ROOT``, ``TINY_PRETRAINED``) are filled in by
:func:`materialise_config`, which writes the config under its own name, so the Runner dumps
it as ``<work_dir>/<config name>.py`` just as for a real fine-tune run.

The tiny data sets are the library's (:mod:`detco_mm.gpu_check.detection_sets`, as
``tests/detection_data.py`` uses them): COCO and VOC layouts, 64 px, two classes. Besides the
runs, this module writes fake "pre-trained" backbones, and offers :func:`clone_run` for the
hand-made variants the tests derive from real runs (truncated logs, crashed runs, other
schedules).
"""
import json
import os
import os.path as osp
import re
import shutil
import statistics
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Dict, Iterable, Optional

import torch

from detco_mm.gpu_check.detection_sets import write_coco, write_voc

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')
# the tiny sets' classes (the configs' metainfo, num_classes=2)
CLASSES = ('person', 'car')
# 64 px images: the configs resize to 64 anyway
SIZE = (64, 64)


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


# --------------------------------------------------------------------------- the real runs
def make_real_runs(tmp: str, image_folder_writer, detco_config: str) -> dict:
    """Tiny real fine-tune runs under ``tmp``; returns their work dirs and the weights.

    RetinaNet (two seeds, one also with a ``tools/test.py``-style test launch), Mask R-CNN FPN
    iteration- and epoch-based, Faster R-CNN C4 on VOC07+12, a 12k run stopped by an exception
    at iteration 2, a run whose evaluation finds nothing, one that failed before its first
    iteration (missing annotations) and a DetCo pre-training (``detco_config``, on images from
    ``image_folder_writer(root, num_images, size)``) in the same ``work_dirs/``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on 2 shared cores are several times slower here
    try:
        coco = write_coco(osp.join(tmp, 'data', 'coco'),
                          splits={'train2017': 4, 'val2017': 2}, size=SIZE, classes=CLASSES)
        voc = write_voc(osp.join(tmp, 'data', 'voc'), splits={
            ('VOC2007', 'trainval'): 2, ('VOC2012', 'trainval'): 2, ('VOC2007', 'test'): 2},
            size=SIZE, classes=CLASSES)
        detco = write_backbone(osp.join(tmp, 'pretrain', 'detco_r18', 'epoch_2.pth'), seed=0)
        moco = write_backbone(osp.join(tmp, 'pretrain', 'mocov2_r18', 'epoch_2.pth'), seed=1)
        cfgs, wd = osp.join(tmp, 'configs'), osp.join(tmp, 'runs')
        runs = {}

        def run(name, config, fails=None, **kwargs):
            runs[name] = osp.join(wd, name)
            try:
                train(config, runs[name], **kwargs)
            except RuntimeError as e:
                assert 'simulated crash' in str(e)
            except Exception as e:  # noqa: BLE001
                assert fails and fails in str(e), e
            else:
                assert fails is None

        retinanet = materialise_config('retinanet_r18_coco_tiny', cfgs, coco, detco)
        run('retinanet_detco_s0', retinanet, seed=0)
        test(retinanet, runs['retinanet_detco_s0'],
             osp.join(runs['retinanet_detco_s0'], 'iter_2.pth'))
        run('retinanet_detco_s1', retinanet, seed=1)
        run('mask_rcnn_detco', materialise_config(
            'mask_rcnn_r18_fpn_coco_tiny', cfgs, coco, detco))
        run('mask_rcnn_random_epochs', materialise_config(
            'mask_rcnn_r18_fpn_coco_tiny', cfgs + '/epochs', coco, None,
            replace={"type='InfiniteSampler'": "type='DefaultSampler'"}, append=(
                "\ntrain_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=1, "
                "val_interval=1)\nlog_processor = dict(by_epoch=True)\ndefault_hooks = dict("
                "logger=dict(interval=1), checkpoint=dict(by_epoch=True, interval=1))\n")))
        run('faster_rcnn_c4_voc_mocov2', materialise_config(
            'faster_rcnn_r18_c4_voc_tiny', cfgs, voc, moco))
        run('retinanet_detco_12k_stopped', materialise_config(
            'retinanet_r18_coco_tiny', cfgs + '/12k', coco, detco, max_iters=12000),
            crash_after=2)
        run('retinanet_mocov2_nothing_found', materialise_config(
            'retinanet_r18_coco_tiny', cfgs + '/nothing', coco, moco,
            replace={'score_thr=0.0': 'score_thr=1.01'}))
        # a launch that failed before its first iteration: its training annotations are missing
        run('retinanet_detco_no_data', materialise_config(
            'retinanet_r18_coco_tiny', cfgs + '/no_data', coco, detco,
            replace={"ann_file='annotations/instances_train2017.json'":
                     "ann_file='annotations/none.json'"}),
            fails='annotations/none.json')
        # the pre-training (no evaluation, not a detector) lands in the same work_dirs/
        images = image_folder_writer(osp.join(tmp, 'data', 'images'), 8, (64, 80))
        run('detco_r18_pretrain', detco_config, options={
            'train_dataloader.dataset.data_root': images, 'train_cfg.max_epochs': 1})
    finally:
        torch.set_num_threads(threads)
    return dict(runs=runs, detco=detco, moco=moco)


def make_root(tmp_path, real: dict, *names: str, root: str = 'work_dirs'):
    """A fresh ``work_dirs/`` with copies (no checkpoints) of the named real runs."""
    base = tmp_path / root
    base.mkdir(exist_ok=True)
    for name in names:
        clone_run(real['runs'][name], str(base / name))
    return base


def finished_clone(real: dict, root, source: str, name: str, metrics: Dict[str, float],
                   iters: Optional[int] = None, epochs: Optional[int] = None,
                   config_edits=()) -> str:
    """A copy of real run ``source`` as ``root/name``, made to look like a finished run of
    another schedule (:func:`fake_schedule`), its dumped config edited and its final
    evaluation replaced by ``metrics``."""
    work_dir = clone_run(real['runs'][source], str(root / name))
    fake_schedule(work_dir, iters=iters, epochs=epochs)
    ts_dir = only_timestamp_dir(work_dir)
    for edit in config_edits:  # (old, new) or (pattern, replacement, True)
        rewrite_config(ts_dir, *edit)
    set_eval_metrics(ts_dir, metrics)
    return work_dir


def retinanet_metrics(ap: float, ap50: float, ap75: float) -> Dict[str, float]:
    return {'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap50, 'coco/bbox_mAP_75': ap75,
            'coco/bbox_mAP_s': -1.0}


def final_metrics(work_dir: str) -> dict:
    """The last evaluation record of the newest launch, read straight from its files."""
    stamp = sorted(timestamp_dirs(work_dir))[-1]
    test_json = osp.join(work_dir, stamp, f'{stamp}.json')
    if osp.isfile(test_json):
        with open(test_json) as f:
            return json.load(f)
    return read_lines(osp.join(work_dir, stamp, 'vis_data', 'scalars.json'))[-1]


# --------------------------------------------------------------------------- expectations
DASH = '—'


def md_tables(markdown: str) -> Dict[str, list]:
    """``{heading: [[cell, ...] per body row]}`` of the generated markdown."""
    tables, title = {}, None
    for line in markdown.splitlines():
        if line.startswith('### '):
            title = line[4:]
            tables[title] = []
        elif line.startswith('| ') and title is not None:
            cells = [c.strip() for c in line[2:-2].split(' | ')]
            if cells[0] not in ('Method', 'Run'):
                tables[title].append(cells)
    return tables


def _pct(fraction: float) -> Decimal:
    return Decimal(repr(fraction)) * 100


def _r1(value: Decimal) -> Decimal:
    return value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)


def expected_cell(fractions) -> str:
    """Independent of the library: mean (half up, 1 decimal) [± sample std] of logged
    fractions."""
    values = [_pct(f) for f in fractions]
    text = str(_r1(sum(values) / len(values)))
    if len(values) > 1:
        text += f' ± {_r1(statistics.stdev(values))}'
    return text


# --------------------------------------------------------------------------- the library
PAPER_DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
                      'tools', 'benchmark_data', 'paper_results.json')


def library_report(*roots, measured_only: bool = False):
    """The library's report over work dirs, as ``tools/benchmark_table.py`` builds it
    (:func:`detco_mm.benchmark.build_report` with the shipped paper data)."""
    from detco_mm.benchmark import build_report, load_paper_results
    return build_report([str(r) for r in roots], load_paper_results(PAPER_DATA),
                        measured_only=measured_only)


def write_trial_runs(root, real: dict) -> None:
    """Finished runs of the paper's schedules under ``root``, made from the real ones with
    known final metrics: RetinaNet 1x (three DetCo trials, one MoCo v2), RetinaNet 2x as 24
    epochs (two trials, half-up rounding), VOC 24k with the ten IoU thresholds and one with
    VOCMetric's default IoU 0.5 only, Cityscapes with the Cityscapes evaluator's keys and one
    with only COCO-style ones."""
    for seed, metrics in enumerate([(0.381, 0.570, 0.409), (0.383, 0.575, 0.407),
                                    (0.379, 0.580, 0.411)]):
        finished_clone(real, root, 'retinanet_detco_s1', f'retinanet_detco_1x_s{seed}',
                       retinanet_metrics(*metrics), iters=90000)
    finished_clone(real, root, 'retinanet_mocov2_nothing_found', 'retinanet_mocov2_1x',
                   retinanet_metrics(0.372, 0.562, 0.396), iters=90000)
    # 2x as 24 epochs (MMDetection's COCO 2x) from the epoch-based run; half-up rounding
    for seed, metrics in enumerate([(0.398, 0.595, 0.424), (0.399, 0.596, 0.424)]):
        finished_clone(real, root, 'mask_rcnn_random_epochs', f'retinanet_2x_s{seed}',
                       retinanet_metrics(*metrics), epochs=24,
                       config_edits=[("type='MaskRCNN'", "type='RetinaNet'")])
    # VOC 24k with the ten IoU thresholds, and one with VOCMetric's default IoU 0.5 only
    voc = {f'pascal_voc/AP{t}': 0.5 for t in range(50, 100, 5)}
    voc.update({'pascal_voc/mAP': 0.581, 'pascal_voc/AP50': 0.826, 'pascal_voc/AP75': 0.645})
    finished_clone(real, root, 'faster_rcnn_c4_voc_mocov2', 'voc_24k', voc, iters=24000)
    finished_clone(real, root, 'faster_rcnn_c4_voc_mocov2', 'voc_24k_iou50',
                   {'pascal_voc/mAP': 0.826, 'pascal_voc/AP50': 0.826}, iters=24000)
    # Cityscapes: the Cityscapes evaluator's keys, and a run that only has COCO-style ones
    cityscapes = [("'CocoDataset'", "'CityscapesDataset'")]
    finished_clone(real, root, 'mask_rcnn_detco', 'cityscapes',
                   {'coco/segm_mAP': 0.3, 'cityscapes/mAP': 0.351, 'cityscapes/AP@50': 0.640},
                   iters=24000, config_edits=cityscapes)
    finished_clone(real, root, 'retinanet_mocov2_nothing_found', 'cityscapes_coco_metric',
                   {'coco/segm_mAP': 0.3, 'coco/segm_mAP_50': 0.55}, iters=24000,
                   config_edits=cityscapes + [("type='RetinaNet'", "type='MaskRCNN'")])
