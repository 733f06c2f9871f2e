"""Clear errors for config mistakes, before any training starts.

MMEngine reports most config mistakes late or deep: a queue length that does not divide the
global batch fails at the first (or, with ``drop_last=False``, the last) iteration of an epoch,
a wrong data root as a ``FileNotFoundError`` from inside the dataset, a misspelt key as
``TypeError: DetCo.__init__() got an unexpected keyword argument 'queue_lenght'`` from the
registry. ``tools/train.py`` calls

- :func:`check_train_config` on the merged config (data paths, queue vs. global batch), and
- :func:`explain_config_errors` around building the runner, the model and the data loader,
  which turns an unknown keyword into a message naming the config key and the closest valid
  one.

Every message names the config key and the fix; :class:`ConfigError` is a ``ValueError``.
(Loss weights vs. backbone stages are checked by ``DetCo.__init__`` itself, when the model is
built, also before training.)
"""
import contextlib
import difflib
import inspect
import os
import os.path as osp
import re
from typing import Any, Iterable, Iterator, List, Optional, Set, Tuple

from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS

from .config_walk import data_path_problems, iter_datasets


class ConfigError(ValueError):
    """A config mistake found before training; the message names the key and the fix."""


def launcher_world_size(launcher: str) -> int:
    """The number of processes a launcher starts, from its environment (1 without one)."""
    env = {'pytorch': 'WORLD_SIZE', 'slurm': 'SLURM_NTASKS', 'mpi': 'OMPI_COMM_WORLD_SIZE'}
    return int(os.environ.get(env.get(launcher, ''), 1) or 1)


def check_data_paths(cfg: Any) -> None:
    """The training data root, annotation file and image folder exist (local paths only).

    Every dataset of ``train_dataloader.dataset`` is checked, wrappers' inner ones included
    (:func:`~detco_mm.engine.config_walk.iter_datasets`); of ``data_prefix`` only the image
    folder (``img_path``, or a plain folder).

    Args:
        cfg (mmengine.Config): The merged config.

    Raises:
        ConfigError: naming the key (e.g. ``train_dataloader.dataset.data_root``) and the path.
    """
    loader = cfg.get('train_dataloader') or {}
    for key, dataset in iter_datasets(loader.get('dataset'), 'train_dataloader.dataset'):
        root = dataset.get('data_root') or ''
        fix = (f'set it with --cfg-options {key}.data_root=/path/to/your/images (see README '
               f'"Pre-training")')
        for problem in data_path_problems(dataset, key):
            if problem.name == 'data_root':
                raise ConfigError(
                    f'{key}.data_root={root!r} does not exist (resolved: {osp.abspath(root)}); '
                    f'{fix}.')
            if problem.name == 'ann_file':
                raise ConfigError(
                    f'{key}.ann_file={problem.value!r} not found: {osp.abspath(problem.path)} '
                    f'does not exist ({key}.data_root={root!r}). Point {key}.data_root at the '
                    f'dataset, or set {key}.ann_file to its list of images (one '
                    f'"relative/path" line per image, a label after it is optional), or to \'\' '
                    f'to use every image under the image folder.')
            if problem.name in ('data_prefix.img_path', 'data_prefix'):
                raise ConfigError(
                    f'{problem.field}={problem.value!r}: image folder '
                    f'{osp.abspath(problem.path)} does not exist ({key}.data_root={root!r}); '
                    f'{fix}, or set {problem.field}.')


def set_strict_data(cfg: Any) -> int:
    """``strict=True`` on every ``RobustLoadImageFromFile`` step of the training dataset(s).

    ``tools/train.py --strict-data``: stop at the first image that cannot be loaded instead of
    skipping it. Every dataset of ``train_dataloader.dataset`` is changed, wrappers' inner ones
    included.

    Args:
        cfg (mmengine.Config): The merged config; changed in place.

    Returns:
        int: The number of loading steps set to strict (at least 1).

    Raises:
        ConfigError: When the training pipeline(s) have no ``RobustLoadImageFromFile`` step.
    """
    found = 0
    loader = cfg.get('train_dataloader') or {}
    for _, dataset in iter_datasets(loader.get('dataset'), 'train_dataloader.dataset'):
        for transform in dataset.get('pipeline') or []:
            if isinstance(transform, dict) and \
                    str(transform.get('type', '')).endswith('RobustLoadImageFromFile'):
                transform['strict'] = True
                found += 1
    if not found:
        raise ConfigError('--strict-data needs RobustLoadImageFromFile as the loading step of '
                          'train_dataloader.dataset.pipeline (see '
                          'configs/detco/_base_/datasets/imagenet_detco.py)')
    return found


def check_queue_and_batch(cfg: Any, world_size: int) -> None:
    """``model.queue_len`` is a multiple of the global batch, and ``drop_last`` is set.

    The queues of MoCo-style models take the keys of the whole global batch each step, so
    the global batch must divide the queue length and be constant.

    Raises:
        ConfigError: naming ``model.queue_len`` / ``train_dataloader.*`` and the fix.
    """
    model, loader = cfg.get('model') or {}, cfg.get('train_dataloader') or {}
    queue_len, batch = model.get('queue_len'), loader.get('batch_size')
    if not isinstance(queue_len, int) or not isinstance(batch, int):
        return
    global_batch = batch * world_size
    if queue_len % global_batch:
        lower = queue_len - queue_len % global_batch
        raise ConfigError(
            f'model.queue_len={queue_len} is not divisible by the global batch {global_batch} '
            f'(train_dataloader.batch_size={batch} x {world_size} processes): the queues take '
            f'the keys of the whole global batch at each step. Set model.queue_len to a '
            f'multiple of {global_batch} (e.g. {lower or global_batch} or '
            f'{lower + global_batch}), or change train_dataloader.batch_size.')
    if loader.get('drop_last') is not True:
        raise ConfigError(
            'train_dataloader.drop_last must be True for a model with queues (model.queue_len='
            f'{queue_len}): a smaller last batch would break the queue update at the end of '
            'the first epoch. Set train_dataloader.drop_last=True.')


def check_train_iterations(runner: Any) -> None:
    """An epoch of the built training loop has at least one iteration.

    With ``drop_last=True`` and fewer images (per process) than the batch, an epoch-based run
    would "train" zero iterations, save the initial weights as checkpoints and exit 0.

    Args:
        runner (mmengine.runner.Runner): A runner whose ``train_loop`` has been built.

    Raises:
        ConfigError: naming the number of images, the batch and the keys to change.
    """
    from mmengine.runner import EpochBasedTrainLoop
    loop = runner.train_loop
    if not isinstance(loop, EpochBasedTrainLoop):
        return  # iteration-based loops cycle an infinite sampler
    loader = loop.dataloader
    try:
        iterations = len(loader)
    except TypeError:  # a sampler without a length
        return
    if iterations:
        return
    world = getattr(runner, 'world_size', 1) or 1
    batch = loader.batch_size
    raise ConfigError(
        f'train_dataloader: an epoch would have 0 iterations: the dataset has '
        f'{len(loader.dataset)} image(s), fewer than the global batch {batch * world} '
        f'(train_dataloader.batch_size={batch} x {world} processes), and '
        f'train_dataloader.drop_last=True drops the incomplete batch. Nothing would be '
        f'trained. Add images (check train_dataloader.dataset.data_root / ann_file), or lower '
        f'train_dataloader.batch_size (keeping model.queue_len a multiple of the global batch).')


def check_train_config(cfg: Any, world_size: int = 1) -> None:
    """All pre-flight checks of a training config; see the module docstring.

    Args:
        cfg (mmengine.Config): The merged config.
        world_size (int): Number of training processes. Defaults to 1.

    Raises:
        ConfigError: For the first mistake found.
    """
    check_config_keys(cfg)
    check_model_shapes(cfg)
    check_queue_and_batch(cfg, world_size)
    check_data_paths(cfg)


# ----------------------------------------------------------------------------- unknown keys
_UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def accepted_arguments(cls: type, named_only: bool = False) -> Optional[Set[str]]:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the MRO.

    Args:
        cls (type): The class.
        named_only (bool): When the chain ends in an open ``**kwargs``, return the arguments
            named along it instead of None (for classes whose ``**kwargs`` accept nothing
            more, :data:`_KWARGS_GO_NOWHERE`). Defaults to False.

    Returns:
        Optional[Set[str]]: The names; None when the chain ends in an open ``**kwargs`` (the
        class decides) and not ``named_only``.
    """
    names: Set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {'self'}
    return names - {'self'} if named_only else None


def _type_name(value: Any) -> str:
    if isinstance(value, type):
        return value.__name__
    return str(value).rsplit('.', 1)[-1]


def _find_key(cfg: Any, class_name: str, key: str, path: str = '') -> List[Tuple[str, Any]]:
    """``(key path, owning dict)`` of every dict of type ``class_name`` that holds ``key``."""
    found = []
    if isinstance(cfg, dict):
        if key in cfg and _type_name(cfg.get('type', '')) == class_name:
            found.append((f'{path}.{key}' if path else key, cfg))
        for k, v in cfg.items():
            found += _find_key(v, class_name, key, f'{path}.{k}' if path else str(k))
    elif isinstance(cfg, (list, tuple)):
        for i, v in enumerate(cfg):
            found += _find_key(v, class_name, key, f'{path}.{i}')
    return found


def _resolve_class(type_value: Any) -> Optional[type]:
    if isinstance(type_value, type):
        return type_value
    with DefaultScope.overwrite_default_scope('mmselfsup'), contextlib.suppress(Exception):
        from mmengine.registry import DATASETS, LOOPS
        for registry in (MODELS, DATASETS, LOOPS):
            cls = registry.get(type_value)
            if cls is not None:
                return cls
    return None


def unknown_key_message(path: str, class_name: str, valid: Any) -> str:
    """"config key PATH is not an argument of CLASS: did you mean ...?" with the valid keys."""
    key = path.rsplit('.', 1)[-1]
    valid = sorted(valid or ())
    close = difflib.get_close_matches(key, valid, n=1)
    parent = path.rsplit('.', 1)[0] if '.' in path else ''
    hint = (f'did you mean {parent + "." if parent else ""}{close[0]}? ' if close else '')
    listing = f'Valid keys of {class_name}: {", ".join(valid)}.' if valid else ''
    return (f'config key {path} is not an argument of {class_name}: {hint}Fix or remove it '
            f'(in the config or --cfg-options). {listing}').strip()


def explain_unknown_key(cfg: Any, error: TypeError) -> Optional[str]:
    """A message naming the config key behind an "unexpected keyword argument" error."""
    match = _UNEXPECTED.search(str(error))
    if not match:
        return None
    class_name, key = match.groups()
    found = _find_key(cfg._cfg_dict.to_dict() if hasattr(cfg, '_cfg_dict') else cfg,
                      class_name, key)
    if not found:
        return None
    path, owner = found[0]
    cls = _resolve_class(owner.get('type'))
    valid = sorted(accepted_arguments(cls) or ()) if cls is not None else []
    return unknown_key_message(path, class_name, valid)


@contextlib.contextmanager
def explain_config_errors(cfg: Any) -> Iterator[None]:
    """Turn "unexpected keyword argument" errors of building from ``cfg`` into ConfigError."""
    try:
        yield
    except TypeError as e:
        message = explain_unknown_key(cfg, e)
        if message is None:
            raise
        raise ConfigError(message) from e


# ----------------------------------------------------------------------------- every section
# Classes whose **kwargs go nowhere that accepts more keys: CheckpointHook hands its extra
# keywords to Runner.save_checkpoint, whose arguments it already passes all by name, so a typo
# there (``intervl=1``) surfaced only at the first save, an epoch into the run.
_KWARGS_GO_NOWHERE = ('CheckpointHook', )


def _registry_class(registry: Any, type_value: Any, scope: Optional[str]) -> Optional[type]:
    if isinstance(type_value, type):
        return type_value
    if not isinstance(type_value, str):
        return None
    with DefaultScope.overwrite_default_scope(scope or 'mmselfsup'), \
            contextlib.suppress(Exception):
        cls = registry.get(type_value)
        return cls if isinstance(cls, type) else None
    return None


def _check_keys(path: str, cfg: Any, cls: Optional[type], extra: Iterable[str] = (),
                drop: Iterable[str] = ()) -> None:
    """Every key of the dict ``cfg`` (at ``path``) is an argument of ``cls``."""
    if cls is None or not isinstance(cfg, dict):
        return
    valid = accepted_arguments(cls)
    if valid is None and cls.__name__ in _KWARGS_GO_NOWHERE:
        valid = accepted_arguments(cls, named_only=True)
    if valid is None:  # open **kwargs: the class decides
        return
    valid = (set(valid) | set(extra)) - set(drop)
    for key in cfg:
        if key in ('type', '_scope_') or key in valid:
            continue
        raise ConfigError(unknown_key_message(f'{path}.{key}', cls.__name__, valid))


def _check_typed(path: str, cfg: Any, registry: Any, scope: Optional[str] = None,
                 extra: Iterable[str] = (), drop: Iterable[str] = ()) -> Optional[type]:
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return None
    scope = cfg.get('_scope_', scope)
    cls = _registry_class(registry, cfg['type'], scope)
    _check_keys(path, cfg, cls, extra, drop)
    return cls


def _check_model(path: str, cfg: Any, scope: Optional[str]) -> None:
    from mmengine.registry import MODELS as ENGINE_MODELS  # noqa: F401  (parent of MODELS)
    cls = _check_typed(path, cfg, MODELS, scope)
    if cls is None:
        return
    for key, value in cfg.items():
        if isinstance(value, dict) and 'type' in value and not key.endswith('_cfg'):
            _check_model(f'{path}.{key}', value, value.get('_scope_', scope))


def _check_pipeline(path: str, pipeline: Any, scope: Optional[str]) -> None:
    from mmselfsup.registry import TRANSFORMS
    for i, transform in enumerate(pipeline if isinstance(pipeline, (list, tuple)) else []):
        if isinstance(transform, (list, tuple)):
            _check_pipeline(f'{path}.{i}', transform, scope)
        elif isinstance(transform, dict):
            _check_typed(f'{path}.{i}', transform, TRANSFORMS, scope)
            if 'transforms' in transform:
                _check_pipeline(f'{path}.{i}.transforms', transform['transforms'], scope)


def _check_dataset(path: str, cfg: Any, scope: Optional[str]) -> None:
    from mmselfsup.registry import DATASETS
    for key, dataset in iter_datasets(cfg, path):
        _check_typed(key, dataset, DATASETS, scope)
        _check_pipeline(f'{key}.pipeline', dataset.get('pipeline'), scope)


def check_config_keys(cfg: Any) -> None:
    """Every key of every config section that is built into a class is an argument of it.

    Covers ``model`` (and its backbone, neck, head, data preprocessor, losses, ...),
    ``train_dataloader`` (the DataLoader's own keys, dataset, its pipeline, sampler),
    ``optim_wrapper`` and its ``optimizer``, ``param_scheduler``, ``default_hooks``,
    ``custom_hooks`` and ``train_cfg``. Classes that take open ``**kwargs`` are left to
    themselves, except those whose extra keywords go nowhere (``CheckpointHook``).

    Raises:
        ConfigError: "config key PATH is not an argument of CLASS: did you mean ...?".
    """
    import torch.utils.data
    from mmengine.registry import LOOPS, OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS
    from mmselfsup.registry import DATA_SAMPLERS, HOOKS
    scope = cfg.get('default_scope') or 'mmselfsup'

    _check_model('model', cfg.get('model'), scope)

    loader = cfg.get('train_dataloader')
    if isinstance(loader, dict):
        _check_keys('train_dataloader', loader, torch.utils.data.DataLoader,
                    extra=('num_batch_per_epoch', ), drop=('generator', ))
        _check_dataset('train_dataloader.dataset', loader.get('dataset'), scope)
        _check_typed('train_dataloader.sampler', loader.get('sampler'), DATA_SAMPLERS, scope,
                     drop=('dataset', ))
        _check_typed('train_dataloader.batch_sampler', loader.get('batch_sampler'),
                     DATA_SAMPLERS, scope, drop=('sampler', 'batch_size'))

    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, dict) and 'optimizer' in wrapper:
        cls = _registry_class(OPTIM_WRAPPERS, wrapper.get('type', 'OptimWrapper'), scope)
        _check_keys('optim_wrapper', wrapper, cls, extra=('constructor', 'paramwise_cfg'))
        _check_typed('optim_wrapper.optimizer', wrapper['optimizer'], OPTIMIZERS, scope,
                     drop=('params', ))

    schedulers = cfg.get('param_scheduler')
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, scheduler in enumerate(schedulers if isinstance(schedulers, list) else []):
        key = 'param_scheduler' if isinstance(cfg.get('param_scheduler'), dict) else \
            f'param_scheduler.{i}'
        _check_typed(key, scheduler, PARAM_SCHEDULERS, scope,
                     extra=('convert_to_iter_based', ), drop=('optimizer', ))

    for name, hook in (cfg.get('default_hooks') or {}).items():
        _check_typed(f'default_hooks.{name}', hook, HOOKS, scope)
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        _check_typed(f'custom_hooks.{i}', hook, HOOKS, scope)

    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict):
        if 'type' in train_cfg:
            _check_typed('train_cfg', train_cfg, LOOPS, scope, drop=('runner', 'dataloader'))
        else:
            from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
            cls = EpochBasedTrainLoop if train_cfg.get('by_epoch', True) else \
                IterBasedTrainLoop
            _check_keys('train_cfg', train_cfg, cls, extra=('by_epoch', ),
                        drop=('runner', 'dataloader'))


# ----------------------------------------------------------------------------- shapes
def resnet_stage_channels(depth: int) -> Optional[Tuple[int, ...]]:
    """Output channels of MMSelfSup's ResNet by ``out_indices`` position (0 = stem, 1..4)."""
    expansion = {18: 1, 34: 1, 50: 4, 101: 4, 152: 4}.get(depth)
    if expansion is None:
        return None
    return (64, ) + tuple(64 * 2**i * expansion for i in range(4))


def check_model_shapes(cfg: Any) -> None:
    """Cheap shape checks of a DetCo model config, before anything is built.

    - ``model.backbone.out_indices`` are stages of the ResNet (0 = stem, 1..4 = res2..res5);
    - ``model.neck.in_channels`` are the channels of exactly those stages for
      ``model.backbone.depth``;
    - ``model.feat_dim`` (the width of the queues) equals ``model.neck.out_channels``.

    Raises:
        ConfigError: naming the keys and the values that fit.
    """
    model = cfg.get('model') or {}
    if not isinstance(model, dict):
        return
    backbone, neck = model.get('backbone') or {}, model.get('neck') or {}
    neck_type = _type_name(neck.get('type', '')) if isinstance(neck, dict) else ''
    if neck_type == 'DetCoNeck':
        out, feat = neck.get('out_channels', 128), model.get('feat_dim')
        if isinstance(out, int) and isinstance(feat, int) and out != feat:
            raise ConfigError(
                f'model.feat_dim={feat} but model.neck.out_channels={out}: the queues hold '
                f'feat_dim-wide keys of the neck\'s embeddings. Set both to the same value '
                f'(e.g. model.feat_dim={out}).')
    if not isinstance(backbone, dict) or _type_name(backbone.get('type', '')) != 'ResNet':
        return
    depth, indices = backbone.get('depth'), backbone.get('out_indices')
    channels = resnet_stage_channels(depth) if isinstance(depth, int) else None
    if channels is None or backbone.get('num_stages', 4) != 4 or \
            not isinstance(indices, (list, tuple)):
        return
    bad = [i for i in indices if not isinstance(i, int) or not 0 <= i <= 4]
    if bad:
        raise ConfigError(
            f'model.backbone.out_indices={list(indices)}: {bad} not a stage of MMSelfSup\'s '
            f'ResNet, which numbers them 0 (stem) and 1..4 (res2..res5; mmdet numbers res2..res5 '
            f'0..3). DetCo uses res2..res5: model.backbone.out_indices=[1, 2, 3, 4].')
    expected = tuple(channels[i] for i in indices)
    in_channels = neck.get('in_channels') if neck_type == 'DetCoNeck' else None
    if isinstance(in_channels, int):
        in_channels = (in_channels, )
    if isinstance(in_channels, (list, tuple)) and tuple(in_channels) != expected:
        raise ConfigError(
            f'model.neck.in_channels={tuple(in_channels)} does not match the stages '
            f'model.backbone.out_indices={list(indices)} of a ResNet-{depth} '
            f'(model.backbone.depth={depth}), whose channels are {expected}. Set '
            f'model.neck.in_channels={list(expected)}, or change model.backbone.depth / '
            f'out_indices.')
