"""Deterministic COCO subsets for the semi-supervised protocol (paper Tables 10-12).

The paper fine-tunes on 1 %, 2 %, 5 % and 10 % of the COCO train2017 labels without saying which
images. We take an *image-level* random subset: all image ids of the annotation file, sorted,
permuted by ``numpy.random.RandomState(seed)`` (a generator whose stream NumPy keeps fixed), and
the first ``round(N x percent / 100)`` of them (half rounded up, at least one image). Each chosen
image keeps all of its annotations; every other top-level entry (``categories``, ``licenses``,
...) is kept as it is. With the same seed, a smaller subset is part of every larger one (1 % of
the images are in the 2 % subset, and so on).

The written file records how it was made in ``info['subset']`` (source file name and SHA-256,
percent, seed, image and annotation counts, the method), so two files can be told apart without
the source. An existing output file is only accepted when it is byte-identical to what would be
written; any other file there is refused.

Command line: ``tools/dataset_converters/coco_subset.py``.
"""
import hashlib
import json
import math
import os
import os.path as osp
from fractions import Fraction
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..fileio import atomic_write

__all__ = ['CocoSubsetError', 'SubsetFile', 'coco_subset', 'num_subset_images', 'read_coco',
           'select_image_ids', 'subset_path', 'write_coco_subset']

#: How the images are chosen, as recorded in ``info['subset']['method']``.
METHOD = ('image-level: the sorted image ids permuted by numpy.random.RandomState(seed), the '
          'first round(N * percent / 100) of them (half up, at least 1), with all their '
          'annotations')


class CocoSubsetError(ValueError):
    """An annotation file or a percent that a subset cannot be made from."""


class SubsetFile(NamedTuple):
    """What :func:`write_coco_subset` made."""

    path: str  #: the subset file
    written: bool  #: False when an identical file was there already
    record: Dict[str, Any]  #: its ``info['subset']``


def _percent(percent: float) -> Fraction:
    try:
        value = Fraction(str(percent))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        raise CocoSubsetError(f'percent must be a number in (0, 100], got {percent!r}') from None
    if not 0 < value <= 100:
        raise CocoSubsetError(f'percent must be in (0, 100], got {percent!r}')
    return value


def num_subset_images(num_images: int, percent: float) -> int:
    """How many of ``num_images`` images a ``percent`` subset holds.

    ``round(num_images x percent / 100)`` with halves rounded up, computed exactly (no float
    error: 10 % of 15 images is 2), and at least 1.
    """
    exact = num_images * _percent(percent) / 100
    return max(1, math.floor(exact + Fraction(1, 2)))


def select_image_ids(image_ids: Sequence[int], percent: float, seed: int = 0) -> List[int]:
    """The ids of a ``percent`` subset of ``image_ids``, in the order they were drawn.

    Args:
        image_ids: All image ids (N); their order does not matter.
        percent: The share of images to keep, in (0, 100].
        seed: Seed of the permutation.

    Returns:
        ``num_subset_images(N, percent)`` distinct ids.
    """
    ids = sorted(image_ids)
    if not ids:
        raise CocoSubsetError('no images to choose from')
    order = np.random.RandomState(seed).permutation(len(ids))
    return [ids[i] for i in order[:num_subset_images(len(ids), percent)]]


def read_coco(ann_file: str) -> Tuple[Dict[str, Any], str]:
    """Load a COCO instances json and check what a subset needs.

    Returns:
        The parsed file and the SHA-256 of its bytes.

    Raises:
        CocoSubsetError: The file is missing, not json, or lacks ``images`` / ``annotations``
            lists, or has an image id twice.
    """
    if not osp.isfile(ann_file):
        raise CocoSubsetError(f'{ann_file}: no such annotation file (COCO instances json, e.g. '
                              f'data/coco/annotations/instances_train2017.json)')
    with open(ann_file, 'rb') as f:
        raw = f.read()
    try:
        coco = json.loads(raw)
    except ValueError as e:
        raise CocoSubsetError(f'{ann_file}: not a json file ({e})') from None
    if not isinstance(coco, dict):
        raise CocoSubsetError(f'{ann_file}: a COCO annotation file is a json object, this one '
                              f'is a {type(coco).__name__}')
    for key in ('images', 'annotations'):
        if not isinstance(coco.get(key), list):
            raise CocoSubsetError(f'{ann_file}: no {key!r} list; is it a COCO instances file?')
    ids = [image.get('id') for image in coco['images']]
    if len(set(ids)) != len(ids):
        raise CocoSubsetError(f'{ann_file}: image ids are not unique')
    if 'info' in coco and not isinstance(coco['info'], dict):
        raise CocoSubsetError(f"{ann_file}: 'info' is a {type(coco['info']).__name__}, not an "
                              f'object; the subset records its percent and seed there')
    return coco, hashlib.sha256(raw).hexdigest()


def coco_subset(coco: Dict[str, Any], percent: float, seed: int = 0,
                source: Optional[Tuple[str, str]] = None) -> Dict[str, Any]:
    """The ``percent`` image subset of a parsed COCO file (see the module docstring).

    Args:
        coco: A COCO instances dict (``images``, ``annotations``, ...); not modified.
        percent: The share of images to keep, in (0, 100].
        seed: Seed of the permutation.
        source: (file name, SHA-256) of the source, recorded in ``info['subset']``.

    Returns:
        A new dict with the source's top-level keys in their order: the chosen images and their
        annotations in the source's order, ``info`` plus ``info['subset']``, the rest unchanged.
    """
    chosen = set(select_image_ids([image['id'] for image in coco['images']], percent, seed))
    images = [image for image in coco['images'] if image['id'] in chosen]
    annotations = [ann for ann in coco['annotations'] if ann.get('image_id') in chosen]
    record = dict(source=source[0] if source else None,
                  source_sha256=source[1] if source else None,
                  percent=float(percent), seed=int(seed), num_images=len(images),
                  of_images=len(coco['images']), num_annotations=len(annotations),
                  of_annotations=len(coco['annotations']), method=METHOD)
    info = dict(coco.get('info') or {}, subset=record)
    out = {}
    for key, value in coco.items():
        out[key] = {'images': images, 'annotations': annotations, 'info': info}.get(key, value)
    out.setdefault('info', info)
    return out


def _percent_name(percent: float) -> str:
    return f'{float(_percent(percent)):g}'


def subset_path(ann_file: str, percent: float, seed: int = 0) -> str:
    """Where the subset of ``ann_file`` goes by default: next to it,
    ``<name>_<percent>pct_seed<seed>.json`` (``instances_train2017_1pct_seed0.json``)."""
    stem = osp.splitext(ann_file)[0]
    return f'{stem}_{_percent_name(percent)}pct_seed{int(seed)}.json'


def _existing_record(path: str) -> str:
    try:
        with open(path) as f:
            record = json.load(f)['info']['subset']
        return (f"it records percent={record.get('percent')}, seed={record.get('seed')}, "
                f"source sha256 {record.get('source_sha256')}")
    except (ValueError, KeyError, TypeError, OSError):
        return 'it is no subset written by this tool'


def write_coco_subset(ann_file: str, percent: float, seed: int = 0,
                      out_file: Optional[str] = None,
                      loaded: Optional[Tuple[Dict[str, Any], str]] = None) -> SubsetFile:
    """Write the ``percent`` subset of ``ann_file``; refuse to replace a different file.

    Args:
        ann_file: The COCO instances json to take images from.
        percent: The share of images to keep, in (0, 100].
        seed: Seed of the permutation.
        out_file: Output path; default :func:`subset_path` (next to ``ann_file``).
        loaded: ``read_coco(ann_file)`` when the caller has it already (several percents).

    Returns:
        The output path, whether it was written (not when an identical file was there) and the
        subset's ``info['subset']`` record.

    Raises:
        CocoSubsetError: Bad input file or percent (see :func:`read_coco`).
        FileExistsError: ``out_file`` exists with other contents.
    """
    out_file = out_file or subset_path(ann_file, percent, seed)
    coco, sha256 = loaded or read_coco(ann_file)
    subset = coco_subset(coco, percent, seed, source=(osp.basename(ann_file), sha256))
    data = json.dumps(subset, separators=(',', ':')).encode()
    if osp.exists(out_file):
        with open(out_file, 'rb') as f:
            if f.read() == data:
                return SubsetFile(out_file, False, subset['info']['subset'])
        raise FileExistsError(
            f'{out_file} exists and is not the {_percent_name(percent)} % subset (seed {seed}) '
            f'of {ann_file} (sha256 {sha256}): {_existing_record(out_file)}. Delete it to make '
            f'it again, or write elsewhere (out_file / --out)')
    directory = osp.dirname(osp.abspath(out_file))
    os.makedirs(directory, exist_ok=True)
    with atomic_write(out_file, 'wb') as f:  # a killed run leaves no half-written subset
        f.write(data)
    return SubsetFile(out_file, True, subset['info']['subset'])
