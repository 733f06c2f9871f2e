"""Recognise a fine-tune run's setting from its dumped config.

The setting of a run is its benchmark (task + schedule, :mod:`.tasks`) and the pre-trained
weights it started from. Both are read from the config MMEngine dumped for the launch, never
from file or directory names:

- task: ``model.type`` (``MaskRCNN`` / ``FasterRCNN`` / ``RetinaNet``), the head layout (a C4
  detector has ``model.roi_head.shared_head``, an FPN one ``model.neck`` of type ``FPN``) and
  the data set type of the evaluation data (``val_dataloader``, else ``test_dataloader``, else
  ``train_dataloader``; wrappers such as ``ConcatDataset`` / ``RepeatDataset`` are unwrapped);
- schedule: ``train_cfg`` -- ``max_iters`` of an ``IterBasedTrainLoop`` (or ``by_epoch=False``),
  or ``max_epochs`` of an ``EpochBasedTrainLoop``: MMDetection's COCO 12 / 24 epochs are the
  paper's 1x / 2x (90k / 180k iterations at batch 16); other epoch counts are converted to
  iterations when the run's log tells the iterations per epoch. The table's rows also keep
  apart runs of one benchmark whose training schedule differs in detail
  (:attr:`Setting.train_loop`: loop type and length, e.g. 12 epochs vs 90k iterations;
  :attr:`Setting.lr_schedule`: ``param_scheduler``, e.g. other lr steps);
- weights: the ``checkpoint`` of the ``Pretrained`` entry of ``model.backbone.init_cfg`` (or
  the legacy ``model.backbone.pretrained``), plus ``load_from`` when the launch loaded a whole
  detector before training (``load_from`` of a resumed launch or of a test launch is the
  run's own checkpoint and not part of the setting). No checkpoint: ``random init``.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from ..engine.config_walk import iter_datasets
from .tasks import TASKS, Benchmark, Schedule, Task

RANDOM_INIT = 'random init'


@dataclass
class Setting:
    """What a launch's config says about the run."""
    benchmark: Optional[Benchmark] = None
    unrecognised: str = ''  # why the benchmark is unknown
    weights: str = RANDOM_INIT
    max_iters: Optional[int] = None
    max_epochs: Optional[int] = None
    backbone: str = ''  # e.g. 'ResNet-50'
    batch_per_process: Optional[int] = None
    load_from: Optional[str] = None
    train_data: str = ''  # the training annotation file(s) and subset, e.g. a label budget
    train_loop: str = ''  # loop type and length, e.g. 'IterBasedTrainLoop, 90000 iters'
    lr_schedule: Tuple[str, ...] = ()  # one text per param_scheduler entry, in order


def _get(cfg: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(cfg, dict):
            return None
        cfg = cfg.get(key)
    return cfg


def _dataset_type(dataset: Any) -> Optional[str]:
    """The type of the innermost data set(s) (through ConcatDataset, RepeatDataset, ...), or
    None when the wrapped data sets differ in type or there is none."""
    types = {value if isinstance(value, str) else None
             for value in (leaf.get('type') for _, leaf in iter_datasets(
                 dataset, 'dataset', leaves_only=True))}
    return types.pop() if len(types) == 1 else None


def _leaf_data(dataset: Mapping) -> str:
    ann = dataset.get('ann_file')
    text = osp.normpath(ann) if isinstance(ann, str) and ann else ''
    indices = dataset.get('indices')
    if isinstance(indices, int):
        text += f' [first {indices}]'
    elif isinstance(indices, (list, tuple)):
        text += f' [{len(indices)} indices]'
    return text


def _train_data(dataset: Any) -> str:
    """The annotation file(s) a training data set reads (through wrappers, ' + '-joined), each
    with its ``indices`` subset if any: runs on other labels are not trials of the same
    setting."""
    return ' + '.join(_leaf_data(leaf)
                      for _, leaf in iter_datasets(dataset, 'dataset', leaves_only=True))


def _number(value: Any) -> str:
    return f'{value:g}' if isinstance(value, float) else str(value)


def _scheduler_text(scheduler: Any) -> str:
    """One ``param_scheduler`` entry as text: ``MultiStepLR`` as its lr steps (the milestones,
    in the unit its ``by_epoch`` gives, MMEngine's default being epochs), any other scheduler
    as its type and arguments."""
    if not isinstance(scheduler, dict):
        return repr(scheduler)
    kind = str(scheduler.get('type', '?'))
    if kind == 'MultiStepLR' and isinstance(scheduler.get('milestones'), (list, tuple)):
        unit = 'epochs' if scheduler.get('by_epoch', True) else 'iters'
        steps = ', '.join(_number(m) for m in scheduler['milestones'])
        gamma = scheduler.get('gamma', 0.1)
        return f'lr steps (x{_number(gamma)}) at {steps or "none"} {unit}'
    args = ', '.join(f'{k}={_number(v)}' for k, v in sorted(scheduler.items(), key=str)
                     if k != 'type')
    return f'{kind}({args})'


def lr_schedule_of(cfg: dict) -> Tuple[str, ...]:
    """``param_scheduler`` as texts: a list, one scheduler, or (several optimizers) a dict of
    name -> list."""
    schedulers = cfg.get('param_scheduler')
    if isinstance(schedulers, dict) and 'type' not in schedulers:
        return tuple(f'{name}: {_scheduler_text(s)}' for name in sorted(schedulers, key=str)
                     for s in (schedulers[name] if isinstance(schedulers[name], (list, tuple))
                               else [schedulers[name]]))
    if schedulers is None:
        return ()
    if not isinstance(schedulers, (list, tuple)):
        schedulers = [schedulers]
    return tuple(_scheduler_text(s) for s in schedulers)


def _head_layout(model: dict) -> str:
    if isinstance(_get(model, 'roi_head', 'shared_head'), dict):
        return 'c4'
    necks = model.get('neck')
    necks = necks if isinstance(necks, (list, tuple)) else [necks]
    if any(isinstance(n, dict) and 'FPN' in str(n.get('type', '')) for n in necks):
        return 'fpn'
    return 'no FPN neck, no C4 shared head'


def _backbone_weights(backbone: Any) -> Optional[str]:
    init_cfgs = _get(backbone, 'init_cfg')
    init_cfgs = init_cfgs if isinstance(init_cfgs, (list, tuple)) else [init_cfgs]
    for init_cfg in init_cfgs:
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            checkpoint = init_cfg.get('checkpoint')
            if isinstance(checkpoint, str) and checkpoint:
                return checkpoint
    legacy = _get(backbone, 'pretrained')
    return legacy if isinstance(legacy, str) and legacy else None


def _normalise_path(path: str) -> str:
    return path if '://' in path else osp.normpath(path)


def schedule_of(setting: Setting, task: Task,
                iters_per_epoch: Optional[int]) -> Optional[Schedule]:
    """Iterations of an iteration-based run; for an epoch-based one, the paper schedule its
    epochs stand for (``Task.epoch_schedules``), else epochs x the iterations per epoch its log
    shows, else the epochs."""
    if setting.max_iters is not None:
        return Schedule(iters=setting.max_iters)
    if setting.max_epochs is not None:
        if setting.max_epochs in task.epoch_schedules:
            return Schedule(iters=task.epoch_schedules[setting.max_epochs])
        if iters_per_epoch:
            return Schedule(iters=setting.max_epochs * iters_per_epoch)
        return Schedule(epochs=setting.max_epochs)
    return None


def recognise(cfg: dict, is_test: bool = False, iters_per_epoch: Optional[int] = None) -> Setting:
    """The :class:`Setting` of a launch from its dumped config (see the module docstring)."""
    setting = Setting()
    model = cfg.get('model')
    if not isinstance(model, dict):
        setting.unrecognised = 'its config has no model'
        return setting

    backbone = model.get('backbone')
    weights = _backbone_weights(backbone)
    setting.weights = _normalise_path(weights) if weights else RANDOM_INIT
    load_from = cfg.get('load_from')
    if isinstance(load_from, str) and load_from and not cfg.get('resume') and not is_test:
        setting.load_from = _normalise_path(load_from)
        setting.weights += f' + load_from {setting.load_from}'
    if isinstance(backbone, dict):
        depth = backbone.get('depth')
        setting.backbone = f'{backbone.get("type", "?")}-{depth}' if depth else str(
            backbone.get('type', '?'))
    setting.batch_per_process = _get(cfg, 'train_dataloader', 'batch_size')
    setting.train_data = _train_data(_get(cfg, 'train_dataloader', 'dataset'))

    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict):
        loop = str(train_cfg.get('type', ''))
        if 'IterBased' in loop or train_cfg.get('by_epoch') is False:
            setting.max_iters = train_cfg.get('max_iters')
        elif 'EpochBased' in loop or train_cfg.get('by_epoch') is True:
            setting.max_epochs = train_cfg.get('max_epochs')
        elif isinstance(train_cfg.get('max_iters'), int):
            setting.max_iters = train_cfg['max_iters']
        elif isinstance(train_cfg.get('max_epochs'), int):
            setting.max_epochs = train_cfg['max_epochs']
    for name in ('max_iters', 'max_epochs'):
        if not isinstance(getattr(setting, name), int):
            setattr(setting, name, None)
    loop = str(train_cfg.get('type') or 'train_cfg') if isinstance(train_cfg, dict) else ''
    if setting.max_iters is not None:
        setting.train_loop = f'{loop}, {setting.max_iters} iters'
    elif setting.max_epochs is not None:
        setting.train_loop = f'{loop}, {setting.max_epochs} epochs'
    setting.lr_schedule = lr_schedule_of(cfg)

    model_type = model.get('type')
    layout = _head_layout(model)
    dataset_type = None
    for loader in ('val_dataloader', 'test_dataloader', 'train_dataloader'):
        dataset_type = _dataset_type(_get(cfg, loader, 'dataset'))
        if dataset_type:
            break
    task = next((t for t in TASKS if (t.model_type, t.head, t.dataset_type) == (
        model_type, layout, dataset_type)), None)
    detectors = sorted({t.model_type for t in TASKS})
    if task is None and model_type not in detectors:
        setting.unrecognised = (f'model {model_type} is none of the detectors of the paper\'s '
                                f'benchmarks ({", ".join(detectors)}): not a fine-tune run')
        return setting
    if task is None:
        head = {'c4': 'C4', 'fpn': 'FPN'}.get(layout, layout)
        setting.unrecognised = (f'{model_type} ({head}) on {dataset_type or "an unknown data set"}'
                                ' is not one of the paper\'s benchmarks')
        return setting
    schedule = schedule_of(setting, task, iters_per_epoch)
    if schedule is None:
        setting.unrecognised = 'its config has no train_cfg with max_iters or max_epochs'
        return setting
    setting.benchmark = Benchmark(task, schedule)
    return setting
