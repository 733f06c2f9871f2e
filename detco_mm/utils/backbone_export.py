"""Export the query encoder's ResNet of a DetCo checkpoint for downstream detectors.

DetCo is evaluated by fine-tuning detectors whose ResNet-50 starts from the pre-trained query
encoder (paper sec. 4). Only that backbone is exported: keys
``backbone.*`` of a DetCo (or any MMSelfSup) checkpoint. The momentum encoder
(``encoder_k.*``), the neck, the head and the queues never are.

Inputs (loaded with :func:`detco_mm.stack_fixes.safe_torch_load`, never ``weights_only=False``):
a full MMEngine checkpoint (``{'meta', 'state_dict', ...}``), a state dict whose keys carry the
``module.`` prefix of ``DistributedDataParallel``, or an already extracted backbone (keys
``conv1.weight``, ``layer1.0.conv1.weight``, ... at the top level, e.g. our own ``mmdet`` or
``torchvision`` export).

Outputs (:data:`FORMATS`):

- ``mmdet``: ``{'state_dict': backbone, 'meta': {...}}`` saved with :func:`torch.save`.
  MMDetection's and MMSelfSup's ``ResNet`` load it with no missing key through
  ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` (no ``prefix``).
- ``torchvision``: the bare state dict; ``torchvision.models.resnet50()`` loads it with
  ``strict=True`` once its ``fc`` layer is removed (the parameter names are the same).
- ``detectron2``: a pickle ``{'model': {name: ndarray}, '__author__': 'detco-mm',
  'matching_heuristics': True}`` in detectron2's ResNet names (``stem.conv1.norm.weight``,
  ``res2.0.conv1.weight``, ``res2.0.shortcut.norm.bias``, ...), the convention of MoCo's
  ``convert-pretrain-to-detectron2.py`` that the official DetCo detectron2 configs load.
  Arrays are pickled as ``numpy.ndarray(shape, dtype, buffer)`` so that detectron2
  environments with numpy 1.x read the file (numpy 2's default pickling names
  ``numpy._core``, which numpy < 1.26 lacks).
"""
import io
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
import torch

from ..stack_fixes import safe_torch_load
from ..version import __version__

FORMATS = ('mmdet', 'torchvision', 'detectron2')

#: Parameter and buffer names of a torchvision-style ResNet (mmdet, MMSelfSup, torchvision).
RESNET_KEY = re.compile(r'^(conv1|bn1|layer[1-4]\.\d+)\.')

#: (block, blocks per stage) -> depth, as in torchvision and mmdet.
RESNET_DEPTHS = {
    ('BasicBlock', (2, 2, 2, 2)): 18,
    ('BasicBlock', (3, 4, 6, 3)): 34,
    ('Bottleneck', (3, 4, 6, 3)): 50,
    ('Bottleneck', (3, 4, 23, 3)): 101,
    ('Bottleneck', (3, 8, 36, 3)): 152,
}

#: Where a query-encoder backbone may sit in a state dict, in order of preference:
#: an extracted backbone, then MMSelfSup algorithms (DetCo, MoCo v2, ...).
QUERY_BACKBONE_PREFIXES = ('', 'backbone.')

_BN_SUFFIXES = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


class BackboneExportError(ValueError):
    """The input holds no complete ResNet query-encoder backbone, or cannot be read."""


@dataclass
class ExtractedBackbone:
    """A ResNet backbone taken out of a checkpoint.

    Attributes:
        state_dict: Tensors under ResNet names (``conv1.weight``, ``layer1.0.bn1.bias``, ...).
        depth: ResNet depth (18, 34, 50, 101 or 152).
        source: Path of the file it was read from.
        prefix: The prefix it had in the source (``'backbone.'``, or ``''`` when the source was
            already an extracted backbone), after removing a ``module.`` prefix.
        meta: ``epoch`` / ``iter`` of the pre-training run when the source records them.
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    depth: int
    source: str
    prefix: str
    meta: Dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading
def read_checkpoint(path: str) -> Mapping:
    """Load ``path`` safely and return the mapping it holds.

    Raises:
        BackboneExportError: The file is missing, unreadable (truncated, not a PyTorch file) or
            does not hold a mapping.
        detco_mm.stack_fixes.UnsafeCheckpointError: It holds pickled objects that safe loading
            refuses (the message names them and the opt-in).
    """
    if not osp.isfile(path):
        raise BackboneExportError(f'{path} does not exist')
    try:
        obj = safe_torch_load(path, map_location='cpu')
    except (RuntimeError, EOFError, OSError) as e:
        detail = ' '.join(str(e).split())
        raise BackboneExportError(
            f'cannot read {path} ({os.path.getsize(path)} bytes): it is not a complete PyTorch '
            f'checkpoint, e.g. truncated by an interrupted copy or save ({detail})') from None
    if not isinstance(obj, Mapping):
        raise BackboneExportError(
            f'{path} holds a {type(obj).__name__}, not a checkpoint dict or a state dict')
    return obj


def state_dict_of(obj: Mapping) -> Tuple[Dict[str, torch.Tensor], str]:
    """The tensors of a checkpoint: its ``state_dict`` entry, or the mapping itself."""
    where = 'top level'
    if isinstance(obj.get('state_dict'), Mapping):
        obj, where = obj['state_dict'], "'state_dict'"
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and torch.is_tensor(v)}
    if tensors and all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    return tensors, where


def _key_groups(keys: List[str], limit: int = 12) -> str:
    """``'backbone.* (320), neck.* (36)'``: the first dotted component of keys, with counts."""
    counts: Dict[str, int] = {}
    for key in keys:
        head = key.split('.', 1)[0] + ('.*' if '.' in key else '')
        counts[head] = counts.get(head, 0) + 1
    items = [f'{k} ({n})' for k, n in list(counts.items())[:limit]]
    return ', '.join(items) + (', ...' if len(counts) > limit else '')


def resnet_prefixes(keys: List[str]) -> List[str]:
    """Every prefix P under which ``P + 'conv1.weight'`` and ``P + 'layer1.0.conv1.weight'``."""
    keyset = set(keys)
    stem = 'layer1.0.conv1.weight'
    return sorted(k[:-len(stem)] for k in keys
                  if k.endswith(stem) and k[:-len(stem)] + 'conv1.weight' in keyset)


def expected_resnet_keys(depth: int) -> List[str]:
    """The state-dict keys of a torchvision-style ResNet of ``depth`` without ``fc``."""
    (block, stages), = [k for k, d in RESNET_DEPTHS.items() if d == depth]
    convs = 3 if block == 'Bottleneck' else 2
    keys = ['conv1.weight'] + [f'bn1.{s}' for s in _BN_SUFFIXES]
    for stage, blocks in enumerate(stages, start=1):
        for b in range(blocks):
            pre = f'layer{stage}.{b}.'
            for c in range(1, convs + 1):
                keys += [f'{pre}conv{c}.weight'] + [f'{pre}bn{c}.{s}' for s in _BN_SUFFIXES]
            if b == 0 and (stage > 1 or block == 'Bottleneck'):
                keys += [f'{pre}downsample.0.weight'] + [
                    f'{pre}downsample.1.{s}' for s in _BN_SUFFIXES]
    return keys


def resnet_depth(state: Mapping[str, torch.Tensor], source: str = 'the state dict') -> int:
    """Depth of the ResNet whose keys ``state`` holds (without prefix); checks completeness.

    Raises:
        BackboneExportError: Not a standard ResNet, or keys are missing (a truncated backbone).
    """
    block = 'Bottleneck' if 'layer1.0.conv3.weight' in state else 'BasicBlock'
    stages = tuple(
        len({k.split('.')[1] for k in state if k.startswith(f'layer{i}.')}) for i in range(1, 5))
    depth = RESNET_DEPTHS.get((block, stages))
    if depth is None:
        raise BackboneExportError(
            f'{source}: a ResNet with {block} blocks {stages} per stage is none of the standard '
            f'depths {sorted(RESNET_DEPTHS.values())}')
    # num_batches_tracked is optional: torch fills it in when a state dict lacks it.
    missing = [k for k in expected_resnet_keys(depth)
               if k not in state and not k.endswith('num_batches_tracked')]
    if missing:
        raise BackboneExportError(
            f'{source}: the ResNet-{depth} backbone is incomplete, {len(missing)} keys are '
            f'missing (e.g. {", ".join(missing[:3])})')
    return depth


def extract_backbone(path: str) -> ExtractedBackbone:
    """Read ``path`` and take out the query encoder's ResNet.

    Args:
        path: A DetCo/MMSelfSup MMEngine checkpoint, a state dict (optionally with the
            ``module.`` prefix of DDP), or an extracted backbone.

    Returns:
        The backbone, its depth and where it came from.

    Raises:
        BackboneExportError: The file cannot be read, or holds no complete ResNet backbone at
            ``backbone.*`` or at the top level. The message names the path and what was found.
    """
    obj = read_checkpoint(path)
    tensors, where = state_dict_of(obj)
    keys = list(tensors)
    found = resnet_prefixes(keys)
    prefix = next((p for p in QUERY_BACKBONE_PREFIXES if p in found), None)
    if prefix is None:
        what = (f'top-level keys {sorted(map(str, obj))[:12]}'
                + (f'; tensors in {where}: {_key_groups(keys)}' if keys else '; no tensors'))
        if found:
            raise BackboneExportError(
                f'{path} holds ResNet weights only under {found}, not the query encoder\'s '
                f'backbone.* ({what}). encoder_k.* is the momentum encoder, which is never '
                f'exported.')
        raise BackboneExportError(
            f'{path} holds no ResNet backbone: expected keys such as backbone.conv1.weight '
            f'(a DetCo/MMSelfSup checkpoint) or conv1.weight (an extracted backbone); found '
            f'{what}')
    state = OrderedDict(
        (k[len(prefix):], v) for k, v in tensors.items()
        if k.startswith(prefix) and RESNET_KEY.match(k[len(prefix):]))
    depth = resnet_depth(state, source=f'{path} ({prefix or "top level"})')
    meta = obj.get('meta') if isinstance(obj.get('meta'), Mapping) else {}
    meta = {k: meta[k] for k in ('epoch', 'iter') if isinstance(meta.get(k), int)}
    return ExtractedBackbone(state, depth, path, prefix, meta)


# --------------------------------------------------------------------------- formats
_D2_RULES = (
    (re.compile(r'^layer(\d)\.'), lambda m: f'res{int(m.group(1)) + 1}.'),
    (re.compile(r'\.downsample\.0\.'), lambda m: '.shortcut.'),
    (re.compile(r'\.downsample\.1\.'), lambda m: '.shortcut.norm.'),
    (re.compile(r'(^|\.)bn(\d)\.'), lambda m: f'{m.group(1)}conv{m.group(2)}.norm.'),
)


def detectron2_name(key: str) -> str:
    """detectron2's name of a torchvision ResNet key (MoCo's conversion).

    ``conv1.weight`` -> ``stem.conv1.weight``, ``bn1.bias`` -> ``stem.conv1.norm.bias``,
    ``layer1.0.bn2.weight`` -> ``res2.0.conv2.norm.weight``, ``layer2.0.downsample.1.bias`` ->
    ``res3.0.shortcut.norm.bias``.
    """
    if not key.startswith('layer'):
        key = 'stem.' + key
    for pattern, repl in _D2_RULES:
        key = pattern.sub(repl, key)
    return key


class _PortableArrayPickler(pickle.Pickler):
    """Pickles ndarrays as ``numpy.ndarray(shape, dtype, buffer)``, readable by numpy 1 and 2."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray:
            arr = np.ascontiguousarray(obj)
            return np.ndarray, (arr.shape, arr.dtype.str, bytearray(arr.tobytes()))
        return NotImplemented


def to_detectron2(state: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """The detectron2 checkpoint dict of a backbone state dict (MoCo's convention)."""
    model = {detectron2_name(k): v.detach().cpu().numpy() for k, v in state.items()}
    return {'model': model, '__author__': 'detco-mm', 'matching_heuristics': True}


def save_backbone(backbone: ExtractedBackbone, out: str, fmt: str = 'mmdet') -> None:
    """Write ``backbone`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f'unknown format {fmt!r}; choose one of {FORMATS}')
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    state = OrderedDict((k, v.detach().cpu().contiguous()) for k, v in
                        backbone.state_dict.items())
    if fmt == 'detectron2':
        buffer = io.BytesIO()
        _PortableArrayPickler(buffer, protocol=4).dump(to_detectron2(state))
        with open(out, 'wb') as f:
            f.write(buffer.getvalue())
    elif fmt == 'torchvision':
        torch.save(state, out)
    else:
        meta = dict(backbone.meta, depth=backbone.depth, source=osp.abspath(backbone.source),
                    source_prefix=backbone.prefix, exported_by=f'detco-mm {__version__}')
        torch.save({'state_dict': state, 'meta': meta}, out)


def export_backbone(src: str, out: str, fmt: str = 'mmdet') -> ExtractedBackbone:
    """Extract the query encoder's ResNet from ``src`` and write it to ``out``.

    Args:
        src: DetCo checkpoint, DDP state dict or extracted backbone.
        out: Output file; its directory is created.
        fmt: One of :data:`FORMATS`.

    Returns:
        What was exported.

    Raises:
        BackboneExportError: See :func:`extract_backbone`; also when ``out`` is ``src``, and
            for a checkpoint saved after 0 training iterations (untrained weights).
    """
    if fmt not in FORMATS:
        raise ValueError(f'unknown format {fmt!r}; choose one of {FORMATS}')
    if osp.exists(out) and osp.exists(src) and osp.samefile(src, out):
        raise BackboneExportError(f'refusing to overwrite the input {src} with its export')
    backbone = extract_backbone(src)
    if backbone.meta.get('iter') == 0:
        raise BackboneExportError(
            f'{src} was saved after 0 training iterations: its backbone is the random '
            f'initialisation, not pre-trained weights. Check the run\'s log (an epoch with no '
            f'iterations: fewer images than the global batch?) and train it first.')
    save_backbone(backbone, out, fmt)
    return backbone


def describe(backbone: ExtractedBackbone) -> str:
    """One line: ``ResNet-50, 320 tensors from backbone.* of PATH (epoch 200, iter 1000)``."""
    where = f'{backbone.prefix}*' if backbone.prefix else 'the top level'
    run = ', '.join(f'{k} {v}' for k, v in backbone.meta.items())
    return (f'ResNet-{backbone.depth}, {len(backbone.state_dict)} tensors from {where} of '
            f'{backbone.source}' + (f' ({run})' if run else ''))


__all__ = ['FORMATS', 'BackboneExportError', 'ExtractedBackbone', 'read_checkpoint',
           'state_dict_of', 'resnet_prefixes', 'extract_backbone', 'resnet_depth',
           'expected_resnet_keys', 'detectron2_name', 'to_detectron2', 'save_backbone',
           'export_backbone', 'describe']
