"""The runner of the DetCo fine-tuning configs: one setting per input, checked before training.

The benchmarks of the paper (sec. 4; README "Downstream") fine-tune MMDetection detectors
from the exported DetCo backbone; the ImageNet linear probe
(``configs/benchmarks/linear_probe``) trains an mmcls classifier on it with the same runner,
so the messages say "run" and name the data layout by the dataset's scope
(:func:`dataset_layout`). Two things of the plain MMEngine ``Runner`` get in the way:

1. MMEngine substitutes config variables when it parses the file, so
   ``--cfg-options pretrained=X`` changes the top-level key ``pretrained`` only, not the
   ``init_cfg`` that was built from it (the same holds for ``data_root`` and ``norm_cfg``).
2. Nothing checks the inputs up front: a missing dataset stops the run in the middle of building
   the data loaders, a missing or mismatched checkpoint while initialising weights -- and a full
   DetCo checkpoint passed instead of the exported backbone loads *nothing*, with a warning only.

:class:`DetCoFinetuneRunner` (``runner_type = 'DetCoFinetuneRunner'`` in the configs) fixes both:

- :func:`apply_setting_overrides`: a top-level setting (:data:`SETTINGS`: ``pretrained``,
  ``data_root``, ``norm_cfg``) whose value differs from the one in the config file (an override
  from the command line) is copied to every field that still holds the file's value (for
  ``data_root``: every path under it). A field overridden on its own keeps its value.
- :func:`check_finetune_inputs`: before ``train()`` / ``val()`` / ``test()`` build anything,
  every local ``Pretrained`` checkpoint must exist and fit the module it initialises, and every
  dataset / evaluator file must exist. All problems are reported in one
  :class:`FinetuneInputError` that names each path, the config field, and how to set it.

Where this runs: MMDetection's ``tools/train.py`` and ``tools/test.py`` (the scripts
``mim train mmdet`` / ``mim test mmdet`` run) build the runner from ``runner_type`` after merging
``--cfg-options``. An import-time check (``custom_imports``) would run before the overrides are
merged; a hook's ``before_run`` runs after the data loaders and evaluators were built, i.e.
after a missing dataset has already failed.

What the user sees when an input is missing: the message and nothing of MMEngine's start-up.
The check needs the built model (to see whether a checkpoint fits) and the stage
(``train()`` needs the pre-trained backbone, ``test()`` does not), so it runs after the
Runner's ``__init__``, which logs the environment, the whole config and the hooks (some 600
lines). The runner therefore holds its console's INFO lines back until the check has passed
(the log file gets them at once), and an uncaught :class:`FinetuneInputError` is printed as its
message only, without a traceback (exit status 1). ``mim train`` then still adds a traceback of
its own: mim 0.3.9 runs the training script with ``subprocess.check_call`` and does not catch
the ``CalledProcessError`` that a non-zero exit raises.
"""
import copy
import logging
import os.path as osp
import sys
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.model import BaseModule, is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ...model_converters.backbone_export import (RESNET_KEY, BackboneExportError, read_checkpoint,
                                                 resnet_depth, resnet_prefixes, state_dict_of)
from ...safe_loading import UnsafeCheckpointError
from ..config_walk import data_path_problems, is_remote, iter_datasets

#: Top-level settings of the fine-tuning configs that command-line overrides propagate from.
SETTINGS = ('pretrained', 'data_root', 'norm_cfg')

EXPORT_COMMAND = 'python tools/model_converters/export_backbone.py DETCO_CKPT {out}'


class FinetuneInputError(RuntimeError):
    """A checkpoint or data path of a fine-tuning run is missing or does not fit."""


def _print_input_errors_briefly() -> None:
    """Make an uncaught :class:`FinetuneInputError` print as ``FinetuneInputError: <message>``
    (the message says what to fix; the traceback only buries it). Other exceptions go to the
    previous ``sys.excepthook``."""
    previous = sys.excepthook
    if getattr(previous, 'detco_brief', False):
        return

    def hook(kind, value, traceback):
        if issubclass(kind, FinetuneInputError):
            sys.stdout.flush()  # what was printed before comes before the message
            print(f'{kind.__name__}: {value}', file=sys.stderr, flush=True)
        else:
            previous(kind, value, traceback)

    hook.detco_brief = True  # type: ignore[attr-defined]
    sys.excepthook = hook


class _HoldBack(logging.Filter):
    """On a console handler: keeps records below WARNING instead of letting them through."""

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        self.records.append(record)
        return False


# --------------------------------------------------------------------------- settings
def _without_scope(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_scope(v) for k, v in value.items() if k != '_scope_'}
    return value


def _is_under(path: str, root: str) -> bool:
    root = root.rstrip('/')
    return path == root or path.rstrip('/') == root or path.startswith(root + '/')


def _reroot(path: str, old: str, new: str) -> str:
    rest = path.rstrip('/')[len(old.rstrip('/')):].lstrip('/')
    if not rest:
        return new
    return osp.join(new, rest) + ('/' if path.endswith('/') else '')


def _replace(node: Any, path: str, match: Callable[[Any], bool], make: Callable[[Any], Any],
             changed: List[str]) -> None:
    """Replace, in place, every value under ``node`` for which ``match`` holds."""
    if isinstance(node, dict):
        items: Iterator[Tuple[Any, Any]] = iter(list(node.items()))
    elif isinstance(node, list):
        items = iter(list(enumerate(node)))
    else:
        return
    for key, value in items:
        where = f'{path}.{key}'
        if match(value):
            node[key] = make(value)
            changed.append(where)
        else:
            _replace(value, where, match, make, changed)


def apply_setting_overrides(cfg: Config, file_cfg: Optional[Config] = None) -> List[str]:
    """Propagate overridden :data:`SETTINGS` to the fields that follow them.

    Args:
        cfg: The run's config, after ``--cfg-options``. Modified in place.
        file_cfg: The same config as parsed from its file, without overrides. Defaults to
            parsing ``cfg.filename`` again; without a file nothing is propagated.

    Returns:
        One line per setting applied, naming the fields it reached.
    """
    if file_cfg is None:
        if not cfg.filename or not osp.isfile(cfg.filename):
            return []
        file_cfg = Config.fromfile(cfg.filename)
    report = []
    for name in SETTINGS:
        old, new = file_cfg.get(name), cfg.get(name)
        if old is None or new is None or _without_scope(old) == _without_scope(new):
            continue
        changed: List[str] = []
        if name == 'data_root':
            for part in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                         'val_evaluator', 'test_evaluator'):
                _replace(cfg.get(part), part,
                         lambda v: isinstance(v, str) and _is_under(v, old),
                         lambda v: _reroot(v, old, new), changed)
        elif name == 'pretrained':
            _replace(cfg.get('model'), 'model', lambda v: isinstance(v, str) and v == old,
                     lambda v: new, changed)
        else:  # norm_cfg
            _replace(cfg.get('model'), 'model',
                     lambda v: isinstance(v, Mapping) and _without_scope(v) == _without_scope(
                         old), lambda v: type(v)(_without_scope(new)), changed)
        report.append(f'{name}={_without_scope(new)!r} applied to '
                      f'{", ".join(changed) or "no field"}')
    return report


# --------------------------------------------------------------------------- input checks
def _pretrained_inits(model: Any) -> Iterator[Tuple[str, BaseModule, Mapping]]:
    """(module name, module, init_cfg) of every ``Pretrained`` init in ``model``."""
    if is_model_wrapper(model):
        model = model.module
    for name, module in model.named_modules():
        init_cfg = getattr(module, 'init_cfg', None) if isinstance(module, BaseModule) else None
        for init in (init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]):
            if isinstance(init, Mapping) and init.get('type') == 'Pretrained':
                yield name, module, init


def _fit_problem(path: str, where: str, module: BaseModule, init: Mapping,
                 cache: Dict[str, Any]) -> Optional[str]:
    """Why the checkpoint at ``path`` does not fit ``module``, or None when it does."""
    if path not in cache:
        try:
            cache[path] = state_dict_of(read_checkpoint(path))[0]
        except (BackboneExportError, UnsafeCheckpointError) as e:
            cache[path] = str(e)
    state = cache[path]
    if isinstance(state, str):
        return state
    prefix = init.get('prefix') or ''
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = module.state_dict()
    expected = [k for k in own if RESNET_KEY.match(k) and not k.endswith('num_batches_tracked')]
    missing = [k for k in expected if k not in state]
    mismatched = [f'{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}'
                  for k in own if k in state and state[k].shape != own[k].shape]
    if not missing and not mismatched:
        return None
    try:
        found = f'it holds a ResNet-{resnet_depth(state)}'
    except BackboneExportError:
        prefixes = resnet_prefixes(list(state))
        found = (f'it holds a ResNet under {prefixes} -- a full DetCo checkpoint? Export its '
                 f'backbone: {EXPORT_COMMAND.format(out="OUT.pth")}' if prefixes else
                 f'it holds no ResNet backbone ({len(state)} tensors)')
    detail = []
    if missing:
        detail.append(f'{len(missing)} of {len(expected)} ResNet tensors missing '
                      f'(e.g. {missing[0]})')
    if mismatched:
        detail.append(f'{len(mismatched)} with other shapes (e.g. {mismatched[0]})')
    return (f'{path} does not fit {where} ({type(module).__name__}'
            f'{"-" + str(module.depth) if hasattr(module, "depth") else ""}): '
            f'{"; ".join(detail)}; {found}')


#: What to call the on-disk layout of a data set, by its registry scope.
_LAYOUTS = {'mmdet': "MMDetection's layout", 'mmcls': "mmcls's layout",
            'mmpretrain': "mmpretrain's layout", 'mmselfsup': "MMSelfSup's layout"}


def _own_scope(dataset: Mapping) -> Optional[str]:
    """The registry scope a dataset config names itself: a ``scope.Type`` type, or ``_scope_``."""
    kind = dataset.get('type')
    if isinstance(kind, str) and '.' in kind:
        return kind.split('.', 1)[0]
    return dataset.get('_scope_')


def dataset_layout(dataset: Mapping, scope: Optional[str]) -> str:
    """The on-disk layout a dataset config reads, for "put the dataset there (...)".

    Args:
        dataset (Mapping): A dataset config.
        scope (Optional[str]): The registry scope it is built in: its own (:func:`_own_scope`),
            else its wrapper's, else the config's ``default_scope``.

    Returns:
        str: e.g. ``"MMDetection's layout"`` (scope ``mmdet``), ``"MMSelfSup's ImageNet
        layout"`` (type ``ImageNet``, as mmcls and MMSelfSup read it), else named by the
        scope or the type.
    """
    kind = str(dataset.get('type', '')).rsplit('.', 1)[-1]
    if scope != 'mmdet' and kind == 'ImageNet':
        return "MMSelfSup's ImageNet layout"
    if scope in _LAYOUTS:
        return _LAYOUTS[scope]
    return f'the layout {kind} reads' if kind else 'the layout its dataset type reads'


def _datasets_with_scopes(dataset: Any, key: str,
                          default_scope: Optional[str]) -> List[Tuple[str, Mapping, Optional[str]]]:
    """``(key, dataset cfg, scope)`` of a loader's datasets, wrappers included: MMEngine builds
    a wrapped dataset in its wrapper's scope unless it names its own."""
    found: List[Tuple[str, Mapping, Optional[str]]] = []
    scopes: Dict[str, Optional[str]] = {}
    for where, ds in iter_datasets(dataset, key):  # a wrapper comes before what it wraps
        parent = where.rsplit('.dataset', 1)[0] if where != key else None
        scope = _own_scope(ds) or scopes.get(parent, default_scope)
        scopes[where] = scope
        found.append((where, ds, scope))
    return found


def _data_problems(cfg: Config, stage: str) -> List[Tuple[str, str, str, str]]:
    """(path, config field, what is wrong, layout) for the data of ``stage`` ('train', 'val',
    'test'): every dataset of its loader (wrappers included) and its evaluator's files."""
    problems = []
    loader = cfg.get(f'{stage}_dataloader')
    dataset = loader.get('dataset') if isinstance(loader, Mapping) else None
    key = f'{stage}_dataloader.dataset'
    datasets = _datasets_with_scopes(dataset, key, cfg.get('default_scope'))
    leaves = {where for where, _ in iter_datasets(dataset, key, leaves_only=True)}
    # the evaluator's files are named by the layout of the (first) dataset that reads data
    layout = next((dataset_layout(ds, scope) for where, ds, scope in datasets if where in leaves),
                  dataset_layout({}, None))
    for where, ds, scope in datasets:
        for problem in data_path_problems(ds, where):
            problems.append((problem.path, problem.field, problem.what,
                             dataset_layout(ds, scope)))
    evaluators = cfg.get(f'{stage}_evaluator') if stage != 'train' else None
    evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
    for i, metric in enumerate(evaluators):
        if not isinstance(metric, Mapping):
            continue
        where = f'{stage}_evaluator' + (f'.{i}' if len(evaluators) > 1 else '')
        for key, is_ok, what in (('ann_file', osp.isfile, 'file'),
                                 ('seg_prefix', osp.isdir, 'directory')):
            value = metric.get(key)
            if isinstance(value, str) and value and not is_remote(value) and not is_ok(value):
                problems.append((value, f'{where}.{key}', f'{what} does not exist', layout))
    return problems


def check_finetune_inputs(cfg: Config, model: Any = None,
                          stages: Sequence[str] = ('train', 'val')) -> None:
    """Raise one :class:`FinetuneInputError` for every missing or unfit input.

    Args:
        cfg: The run's config (after :func:`apply_setting_overrides`).
        model: The built model; its local ``Pretrained`` checkpoints are checked to exist and to
            fit (all ResNet tensors present, same shapes). None skips them (testing a trained
            detector loads ``load_from`` instead).
        stages: Whose data loaders / evaluators to check.

    Raises:
        FinetuneInputError: Names every problem, its config field and how to set it.
    """
    lines = []
    pretrained = cfg.get('pretrained')
    if model is not None:
        cache: Dict[str, Any] = {}
        by_path: Dict[str, List[Tuple[str, BaseModule, Mapping]]] = {}
        for name, module, init in _pretrained_inits(model):
            path = init.get('checkpoint')
            if isinstance(path, str) and not is_remote(path):
                by_path.setdefault(path, []).append((f'model.{name}', module, init))
        for path, users in by_path.items():
            fields = ', '.join(f'{w}.init_cfg' for w, _, _ in users)
            how = '--cfg-options pretrained=PATH'
            if path != pretrained:
                how = f'--cfg-options {users[0][0]}.init_cfg.checkpoint=PATH'
                if isinstance(pretrained, str):  # e.g. a config file inheriting ours
                    how += (f' (the config\'s pretrained={pretrained!r} did not reach this '
                            f'field: a config file that changes `pretrained` must also set the '
                            f'fields built from it)')
            if not osp.isfile(path):
                lines += [f'- pretrained backbone {path} ({fields}) does not exist. Export it '
                          f'from a DetCo checkpoint with', f'    {EXPORT_COMMAND.format(out=path)}',
                          f'  or use another file: {how}']
                continue
            for where, module, init in users:
                problem = _fit_problem(path, where, module, init, cache)
                if problem:
                    lines += [f'- {problem}', f'  Use a backbone exported with '
                              f'tools/model_converters/export_backbone.py: {how}']
    data_root = cfg.get('data_root')
    seen = set()
    for stage in stages:
        for path, field, what, layout in _data_problems(cfg, stage):
            if path in seen:
                continue
            seen.add(path)
            how = ('--cfg-options data_root=DIR' if isinstance(data_root, str)
                   and _is_under(path, data_root) else f'--cfg-options {field}=...')
            lines.append(f'- {stage} data: {path}: {what} ({field}); put the dataset there '
                         f'({layout}) or set {how}')
    if lines:
        name = f' ({cfg.filename})' if cfg.filename else ''
        raise FinetuneInputError('\n'.join([f'cannot start the run{name}:', *lines]))


@RUNNERS.register_module()
class DetCoFinetuneRunner(Runner):
    """MMEngine's ``Runner`` with :func:`apply_setting_overrides` and input checks.

    Select it with ``runner_type = 'DetCoFinetuneRunner'``; MMDetection's and MMSelfSup's
    ``tools/train.py`` / ``tools/test.py`` build the runner from ``runner_type``
    (``RUNNERS.build``). ``train()`` checks the pre-trained checkpoints and the train / val data,
    ``val()`` the val data and ``test()`` the test data, each before building any data loader.
    Until that check has passed, the console shows only warnings and errors; the INFO lines
    logged so far (environment, config, hooks) follow once it passed, and are in the log file
    from the start. Everything else is the plain ``Runner``.
    """

    def build_logger(self, *args, **kwargs) -> logging.Logger:
        """``Runner.build_logger``, with the console's INFO lines held back (see the class)."""
        logger = super().build_logger(*args, **kwargs)
        self._held = []
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and not isinstance(handler, logging.FileHandler)):
                hold = _HoldBack()
                handler.addFilter(hold)
                self._held.append((handler, hold))
        return logger

    def _release_console(self, show: bool) -> None:
        for handler, hold in getattr(self, '_held', []):
            handler.removeFilter(hold)
            for record in hold.records if show else []:
                handler.handle(record)
        self._held = []

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'DetCoFinetuneRunner':
        """Apply overridden settings (:data:`SETTINGS`) to a copy of ``cfg``, then build."""
        cfg = copy.deepcopy(cfg)
        report = apply_setting_overrides(cfg)
        runner = super().from_cfg(cfg)
        for line in report:
            runner.logger.info(f'DetCoFinetuneRunner: {line}')
        return runner

    def _check(self, stages: Sequence[str], with_model: bool) -> None:
        try:
            check_finetune_inputs(self.cfg, self.model if with_model else None, stages)
        except FinetuneInputError:
            self._release_console(show=False)
            _print_input_errors_briefly()
            raise
        self._release_console(show=True)

    def train(self) -> Any:
        """Check the checkpoints and the train / val data, then train."""
        # MMEngine validates with val_cfg=dict() too (a ValLoop with defaults); None disables it
        stages = ('train', 'val') if self.cfg.get('val_cfg') is not None else ('train', )
        self._check(stages, with_model=True)
        return super().train()

    def val(self) -> dict:
        """Check the val data, then validate."""
        self._check(('val', ), with_model=False)
        return super().val()

    def test(self) -> dict:
        """Check the test data, then test."""
        self._check(('test', ), with_model=False)
        return super().test()
