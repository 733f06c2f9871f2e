"""One walk over the dataset configs of an MMEngine config, and their local data paths.

A data loader's ``dataset`` may wrap others: ``dataset=`` of ``RepeatDataset`` /
``ClassBalancedDataset`` and the like, ``datasets=[...]`` of ``ConcatDataset``, nested to any
depth. :func:`iter_datasets` yields each of them once, with its config key path, and
:func:`data_path_problems` says which local paths of one dataset config are missing. Users:

- :mod:`detco_mm.engine.config_check` (pre-training: the training data paths, ``--strict-data``),
- :mod:`detco_mm.engine.runner.finetune_runner` (fine-tuning / linear probe: train, val and test
  data),
- :mod:`detco_mm.benchmark.recognise` (the data set type and the training data of a run).
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Iterator, List, Mapping, Tuple


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URI (``s3://...``, ``http://...``) rather than a local path.

    Args:
        path (str): A path from a config.

    Returns:
        bool: True for a URI, which no local check can judge.
    """
    return '://' in path


def _children(dataset: Mapping) -> List[Tuple[str, Mapping]]:
    """``(key suffix, dataset cfg)`` of the datasets that ``dataset`` wraps directly."""
    children = []
    if isinstance(dataset.get('dataset'), Mapping):
        children.append(('dataset', dataset['dataset']))
    inner = dataset.get('datasets')
    for i, sub in enumerate(inner if isinstance(inner, (list, tuple)) else []):
        if isinstance(sub, Mapping):
            children.append((f'datasets.{i}', sub))
    return children


def iter_datasets(node: Any, key: str, leaves_only: bool = False) -> Iterator[Tuple[str, Mapping]]:
    """Every dataset config of a data loader's ``dataset``, wrappers included, depth first.

    A wrapper comes before the datasets it wraps: ``dataset=`` first, then ``datasets=[...]`` in
    order. A node that is not a mapping (``None``, a missing section) yields nothing.

    Args:
        node (Any): The dataset config, e.g. ``cfg.train_dataloader.dataset``.
        key (str): Its config key path, e.g. ``'train_dataloader.dataset'``; the wrapped
            datasets get ``'<key>.dataset'`` and ``'<key>.datasets.<i>'``.
        leaves_only (bool): Yield only the datasets that wrap none (the ones that read data).
            Defaults to False.

    Yields:
        Tuple[str, Mapping]: ``(key path, dataset cfg)``; the cfg is the config's own dict, so
        changes to it change the config.
    """
    if not isinstance(node, Mapping):
        return
    children = _children(node)
    if not (leaves_only and children):
        yield key, node
    for suffix, child in children:
        yield from iter_datasets(child, f'{key}.{suffix}', leaves_only)


@dataclass(frozen=True)
class DataPathProblem:
    """A local data path of one dataset config that does not exist.

    Attributes:
        key (str): Config key path of the dataset, e.g. ``'train_dataloader.dataset'``.
        name (str): The dataset's field: ``'data_root'``, ``'ann_file'``, ``'data_prefix'`` (a
            plain folder) or ``'data_prefix.<name>'`` (e.g. ``'data_prefix.img_path'``).
        value (str): The field's value as configured.
        path (str): The path looked for: ``value`` joined to ``data_root`` when relative (as
            MMEngine's ``BaseDataset`` joins it); not made absolute.
        what (str): ``'directory does not exist'`` or ``'file does not exist'``.
    """
    key: str
    name: str
    value: str
    path: str
    what: str

    @property
    def field(self) -> str:
        """str: The full config key, e.g. ``'train_dataloader.dataset.data_root'``."""
        return f'{self.key}.{self.name}'


def data_path_problems(dataset: Mapping, key: str) -> List[DataPathProblem]:
    """The missing local paths of one dataset config: data root, annotation file, prefixes.

    Checked in this order: ``data_root`` (a directory; when it is missing nothing else of the
    dataset is checked), ``ann_file`` (a file) and every folder of ``data_prefix`` (a dict of
    prefixes such as ``img_path``, or a plain folder as some mmcls datasets take it). Relative
    paths are taken under ``data_root``. Empty values and URIs are not checked; under a
    ``data_root`` that is a URI only absolute local paths are (the relative ones are remote
    too, while MMEngine reads an absolute path as it is).

    Args:
        dataset (Mapping): One dataset config (not the datasets it wraps: see
            :func:`iter_datasets`).
        key (str): Its config key path, for :attr:`DataPathProblem.field`.

    Returns:
        List[DataPathProblem]: The problems found, in the order above; empty when all exist.
    """
    root = dataset.get('data_root') or ''
    root = os.fspath(root) if isinstance(root, os.PathLike) else root
    if not isinstance(root, str):
        return []
    remote_root = is_remote(root)
    if root and not remote_root and not osp.isdir(root):
        return [DataPathProblem(key, 'data_root', root, root, 'directory does not exist')]

    def checked(path: Any) -> bool:  # a local path this machine can look at
        return (isinstance(path, str) and bool(path) and not is_remote(path)
                and (osp.isabs(path) or not remote_root))

    def under_root(path: str) -> str:
        return path if osp.isabs(path) else osp.join(root, path)

    problems = []
    ann_file = dataset.get('ann_file') or ''
    if checked(ann_file) and not osp.isfile(under_root(ann_file)):
        problems.append(DataPathProblem(key, 'ann_file', ann_file, under_root(ann_file),
                                        'file does not exist'))
    prefixes = dataset.get('data_prefix') or {}
    if isinstance(prefixes, str):  # a plain folder
        prefixes = {'': prefixes}
    for name, prefix in (prefixes.items() if isinstance(prefixes, Mapping) else ()):
        if checked(prefix) and not osp.isdir(under_root(prefix)):
            problems.append(DataPathProblem(key, f'data_prefix.{name}' if name else 'data_prefix',
                                            prefix, under_root(prefix),
                                            'directory does not exist'))
    return problems
