"""Export the query encoder's ResNet of a DetCo checkpoint for downstream detectors.

DetCo is evaluated by fine-tuning detectors whose ResNet-50 starts from the pre-trained query
encoder (paper sec. 4). Only that backbone is exported: keys
``backbone.*`` of a DetCo (or any MMSelfSup) checkpoint. The momentum encoder
(``encoder_k.*``), the neck, the head and the queues never are.

Inputs (loaded with :func:`detco_mm.safe_loading.safe_torch_load`, never ``weights_only=False``):
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
  ``numpy._core``, which numpy < 1.26 lacks). Every array has its tensor's shape;
  ``num_batches_tracked`` is 0-d, as in MoCo's converter (``v.numpy()``): detectron2 compares
  shapes exactly and skips a ``(1,)`` one. The output path must end with ``.pkl``, the only
  suffix detectron2's ``DetectionCheckpointer`` reads as a pickle.

Checks: the input's format is recognised before anything is unpickled (a text file, random
bytes, a zip archive, a safetensors file, a Git LFS pointer or a detectron2 ``.pkl`` is named
as such); the backbone must be a complete standard ResNet (missing blocks and keys, foreign
keys and shapes are named, with the shape found and the one expected). Missing parent
directories of the output are created, as MMEngine's ``LocalBackend.put`` does; the file is
written through ``OUT.part`` and renamed, so a failed write leaves no truncated output. Every
failure raises :class:`BackboneExportError` with one message naming the path and the fix.
"""
import io
import os
import os.path as osp
import pickle
import pickletools
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..fileio import atomic_write
from ..safe_loading import UnsafeCheckpointError, safe_torch_load
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
#: ``torch.save``'s legacy (non-zip) format starts with a pickled int, this magic number.
_LEGACY_TORCH_MAGIC = 0x1950a86a20f9469cfc6c
_STRING_OPS = {'SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE', 'SHORT_BINSTRING',
               'BINSTRING', 'STRING'}
_CHECKPOINT_FIX = ('Pass the checkpoint the pre-training run saved (work_dirs/<config>/'
                   'epoch_N.pth) or a backbone this tool exported in mmdet/torchvision format.')


def _pickle_problem(path: str, size: int) -> Optional[str]:
    """Why the pickle at ``path`` is no ``torch.save`` file; None for torch's legacy format.

    Reads opcodes with :func:`pickletools.genops`, which executes nothing.
    """
    strings: List[str] = []
    globals_: List[str] = []
    last_two: Tuple[Optional[str], Optional[str]] = (None, None)  # strings pushed just before
    first = True
    try:
        with open(path, 'rb') as f:
            for op, arg, _ in pickletools.genops(f):
                if op.name in ('PROTO', 'FRAME', 'MEMOIZE', 'PUT', 'BINPUT', 'LONG_BINPUT'):
                    continue
                if first and op.name == 'LONG1' and arg == _LEGACY_TORCH_MAGIC:
                    return None
                first = False
                value = str(arg) if op.name in _STRING_OPS else None
                if value is not None:
                    strings.append(value)
                elif op.name == 'GLOBAL':
                    globals_.append(str(arg).replace(' ', '.'))
                elif op.name == 'STACK_GLOBAL' and None not in last_two:
                    globals_.append(f'{last_two[0]}.{last_two[1]}')
                last_two = (last_two[1], value)
    except Exception as e:  # noqa: BLE001  (genops' errors on malformed data vary)
        return (f'{path} ({size} bytes) starts like a Python pickle but cannot be parsed '
                f'({type(e).__name__}: {e}): it is truncated or not a pickle, and no PyTorch '
                f'checkpoint. {_CHECKPOINT_FIX}')
    if 'model' in strings and ('__author__' in strings or 'matching_heuristics' in strings) \
            or 'blobs' in strings:
        author = strings[strings.index('__author__') + 1:][:1] if '__author__' in strings \
            else []
        by = f", __author__ {author[0]!r}" if author else ''
        return (f'{path} is a detectron2 checkpoint (a pickle of numpy arrays under '
                f"'model'{by}), not a PyTorch checkpoint: it is already converted, e.g. by "
                f"this tool's --format detectron2 or MoCo's convert-pretrain-to-detectron2.py. "
                f'Load it in detectron2 directly (MODEL.WEIGHTS {path}); for another format, run '
                f'this tool on the DetCo checkpoint it was exported from (work_dirs/<config>/'
                f'epoch_N.pth).')
    names = sorted(set(globals_))
    holds = f' (it names {", ".join(names[:6])}{", ..." if len(names) > 6 else ""})' \
        if names else ''
    return (f'refusing to load {path}: it is a raw Python pickle{holds}, not a file written by '
            f'torch.save. Unpickling it could run arbitrary code, so detco-mm does not try. If '
            f'you trust the file, load it where you trust it and save its tensors with '
            f'torch.save (e.g. torch.save(dict(state_dict=state_dict), "clean.pth")).')


def _format_problem(path: str) -> Optional[str]:
    """None when ``path`` looks like a ``torch.save`` file, else what it is instead.

    ``torch.save`` writes a zip archive holding ``*/data.pkl`` (or, in its legacy format, a
    pickle that starts with a magic number). Text files, random bytes, Git LFS pointers,
    safetensors files, other zip archives and plain pickles (detectron2's ``.pkl``) are told
    apart here without unpickling anything.
    """
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(512)
    if not head:
        return f'{path} is empty (0 bytes), not a PyTorch checkpoint. {_CHECKPOINT_FIX}'
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                packed = [i.filename for i in archive.infolist()
                          if i.compress_type != zipfile.ZIP_STORED]
        except (zipfile.BadZipFile, OSError):
            return None  # torch.load reports the truncated archive
        if packed:  # torch.save stores its entries uncompressed; a deflated one could be a bomb
            return (f'{path} is a zip archive with compressed entries ({", ".join(packed[:3])}'
                    f'{", ..." if len(packed) > 3 else ""}), which torch.save never writes; '
                    f'refusing to decompress it. {_CHECKPOINT_FIX}')
        if any(n == 'data.pkl' or n.endswith('/data.pkl') for n in names):
            return None
        listing = ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')
        files = f'{len(names)} file' + ('s' if len(names) != 1 else '')
        return (f'{path} is a zip archive without data.pkl ({files}: {listing}), '
                f'not a file written by torch.save. {_CHECKPOINT_FIX}')
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return _pickle_problem(path, size)
    if len(head) > 9 and head[8:10] == b'{"' \
            and int.from_bytes(head[:8], 'little') < size:
        return (f'{path} is a safetensors file, not a file written by torch.save. Convert it '
                f'where you trust it: torch.save(dict(state_dict=safetensors.torch.load_file('
                f'{path!r})), "backbone.pth"), and export that.')
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as e:
        text = head[:e.start].decode('utf-8') if e.start >= len(head) - 3 else None
    if text is not None and all(c.isprintable() or c in '\t\n\r' for c in text):
        if text.startswith('version https://git-lfs'):
            return (f'{path} is a Git LFS pointer ({size} bytes of text), not the checkpoint '
                    f'itself: fetch it with `git lfs pull` (or download the file), then export '
                    f'it.')
        first = text.strip().splitlines()[0][:60] if text.strip() else ''
        return (f'{path} ({size} bytes) is a text file, not a PyTorch checkpoint: it starts '
                f'with {first!r}. {_CHECKPOINT_FIX}')
    return (f'{path} ({size} bytes) is not a PyTorch checkpoint: it starts with bytes '
            f'{head[:8].hex(" ")}, while torch.save writes a zip archive (50 4b 03 04) or, in '
            f'its legacy format, a pickle (80 02). {_CHECKPOINT_FIX}')


def read_checkpoint(path: str) -> Mapping:
    """Load ``path`` safely and return the mapping it holds.

    The file's format is checked first, without unpickling anything, so that a text file,
    random bytes, a safetensors file or a detectron2 ``.pkl`` is named as such.

    Raises:
        BackboneExportError: The file is missing, is no file written by ``torch.save`` (the
            message says what it is), is unreadable (truncated) or does not hold a mapping.
        detco_mm.safe_loading.UnsafeCheckpointError: It holds pickled objects that safe loading
            refuses (the message names them and the opt-in).
    """
    if not osp.isfile(path):
        if osp.isdir(path):
            raise BackboneExportError(
                f'{path} is a directory; pass a checkpoint file in it (e.g. '
                f'{osp.join(path, "epoch_N.pth")})')
        raise BackboneExportError(f'{path} does not exist')
    try:
        problem = _format_problem(path)
    except OSError as e:
        raise BackboneExportError(f'cannot read {path}: {e.strerror}') from None
    if problem is not None:
        raise BackboneExportError(problem)
    try:
        obj = safe_torch_load(path, map_location='cpu')
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, IndexError) as e:
        detail = ' '.join(str(e).split()).split(' This is an internal miniz error')[0]
        raise BackboneExportError(
            f'cannot read {path} ({os.path.getsize(path)} bytes): it is not a complete PyTorch '
            f'checkpoint, e.g. truncated by an interrupted copy or save ({detail})') from None
    except UnsafeCheckpointError:
        raise
    except Exception as e:  # an allowed function given arguments it cannot take, ...
        raise BackboneExportError(
            f'cannot read {path}: its pickle is malformed ({type(e).__name__}: {e}); it was '
            f'not written by torch.save from a checkpoint. {_CHECKPOINT_FIX}') from None
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


def expected_resnet_shapes(depth: int) -> 'OrderedDict[str, Tuple[int, ...]]':
    """Key -> shape of every tensor of a torchvision-style ResNet of ``depth`` without ``fc``.

    The shapes of ``torchvision.models.resnet{depth}()`` and of MMDetection's / MMSelfSup's
    ``ResNet(depth=depth)``: e.g. ``conv1.weight`` (64, 3, 7, 7), ``layer1.0.conv1.weight``
    (64, 64, 1, 1) for a ResNet-50, BN vectors (C,), ``num_batches_tracked`` () (0-d).
    """
    (block, stages), = [k for k, d in RESNET_DEPTHS.items() if d == depth]
    expansion = 4 if block == 'Bottleneck' else 1
    shapes: 'OrderedDict[str, Tuple[int, ...]]' = OrderedDict()

    def conv_bn(conv: str, bn: str, out_c: int, in_c: int, k: int) -> None:
        shapes[f'{conv}.weight'] = (out_c, in_c, k, k)
        for suffix in _BN_SUFFIXES:
            shapes[f'{bn}.{suffix}'] = () if suffix == 'num_batches_tracked' else (out_c, )

    conv_bn('conv1', 'bn1', 64, 3, 7)
    inplanes = 64
    for stage, blocks in enumerate(stages, start=1):
        planes = 64 * 2**(stage - 1)
        for b in range(blocks):
            pre = f'layer{stage}.{b}.'
            if block == 'Bottleneck':
                convs = [(planes, inplanes, 1), (planes, planes, 3), (planes * 4, planes, 1)]
            else:
                convs = [(planes, inplanes, 3), (planes, planes, 3)]
            for c, (out_c, in_c, k) in enumerate(convs, start=1):
                conv_bn(f'{pre}conv{c}', f'{pre}bn{c}', out_c, in_c, k)
            if b == 0 and (stage > 1 or inplanes != planes * expansion):
                conv_bn(f'{pre}downsample.0', f'{pre}downsample.1', planes * expansion,
                        inplanes, 1)
            inplanes = planes * expansion
    return shapes


def expected_resnet_keys(depth: int) -> List[str]:
    """The state-dict keys of a torchvision-style ResNet of ``depth`` without ``fc``."""
    return list(expected_resnet_shapes(depth))


def _standard_stages() -> str:
    """``'ResNet-18 BasicBlock (2, 2, 2, 2), ...'``."""
    return ', '.join(f'ResNet-{d} {block} {stages}'
                     for (block, stages), d in sorted(RESNET_DEPTHS.items(), key=lambda i: i[1]))


def _missing_blocks(block: str, present: Sequence[Sequence[int]]
                    ) -> Optional[Tuple[int, Tuple[int, ...], str]]:
    """The nearest standard ResNet that has room for all ``present`` blocks, and what it lacks.

    Args:
        block: ``'Bottleneck'`` or ``'BasicBlock'``.
        present: Per stage (layer1..layer4), the block indices found.

    Returns:
        Its depth, its blocks per stage and the missing blocks, e.g. ``'layer4.2'`` or
        ``'layer4.* (all 3 blocks)'``; None when no standard depth has room for the blocks.
    """
    fits = [(sum(s) - sum(map(len, present)), d, s) for (b, s), d in RESNET_DEPTHS.items()
            if b == block and all(not p or max(p) < n for p, n in zip(present, s))]
    if not fits:
        return None
    _, depth, stages = min(fits)
    parts = []
    for stage, (found, n) in enumerate(zip(present, stages), start=1):
        missing = [i for i in range(n) if i not in found]
        if not found:
            parts.append(f'layer{stage}.* (all {n} blocks)')
        elif len(missing) > 3:
            parts.append(f'{len(missing)} of the {n} blocks of layer{stage} (layer{stage}.'
                         f'{missing[0]} ... layer{stage}.{missing[-1]})')
        else:
            parts += [f'layer{stage}.{i}' for i in missing]
    return depth, stages, ', '.join(parts)


def _group_keys(keys: Sequence[str], limit: int = 6) -> str:
    """``'layer4.2.{conv3.weight, bn3.*}, layer4.1.bn1.*'``: keys grouped by block and layer."""
    groups: 'OrderedDict[str, OrderedDict[str, List[str]]]' = OrderedDict()
    for key in keys:
        match = re.match(r'^(layer\d\.\d+)\.(.+)$', key)
        block, rest = (match.group(1), match.group(2)) if match else ('', key)
        layer, _, leaf = rest.rpartition('.')
        groups.setdefault(block, OrderedDict()).setdefault(layer, []).append(leaf)
    parts = []
    for block, layers in groups.items():
        names = [f'{layer}.{leaves[0]}' if len(leaves) == 1 else f'{layer}.*'
                 for layer, leaves in layers.items()]
        if not block:
            parts += names
        else:
            parts.append(f'{block}.{names[0]}' if len(names) == 1 else
                         f'{block}.{{{", ".join(names)}}}')
    return ', '.join(parts[:limit]) + (', ...' if len(parts) > limit else '')


def _count(items: Sequence, noun: str) -> str:
    """``'1 key is'``, ``'5 keys are'``."""
    return f'{len(items)} {noun} is' if len(items) == 1 else f'{len(items)} {noun}s are'


_BACKBONE_FIX = ('Export from the complete checkpoint the run saved (work_dirs/<config>/'
                 'epoch_N.pth); a backbone truncated by a copy or edited by hand cannot be '
                 'exported.')


def resnet_depth(state: Mapping[str, torch.Tensor], source: str = 'the state dict') -> int:
    """Depth of the ResNet whose keys ``state`` holds (without prefix); checks completeness.

    Only keys of the ResNet (``conv1``, ``bn1``, ``layer1`` ... ``layer4``) are looked at.

    Raises:
        BackboneExportError: Not a standard ResNet, or blocks or keys are missing (a truncated
            backbone); the message names the missing blocks / keys.
    """
    keys = [k for k in state if RESNET_KEY.match(k)]
    block = ('Bottleneck' if any(re.match(r'^layer\d\.\d+\.(conv3|bn3)\.', k) for k in keys)
             else 'BasicBlock')
    present = [sorted({int(k.split('.')[1]) for k in keys if k.startswith(f'layer{i}.')})
               for i in range(1, 5)]
    stages = tuple(len(p) for p in present)
    depth = RESNET_DEPTHS.get((block, stages))
    if depth is None:
        nearest = _missing_blocks(block, present)
        if nearest is None:
            raise BackboneExportError(
                f'{source}: a ResNet with {block} blocks {stages} per stage (layer1..layer4) is '
                f'none of the standard depths ({_standard_stages()}); the export formats need '
                f'a standard torchvision / MMDetection ResNet.')
        depth, full, missing = nearest
        raise BackboneExportError(
            f'{source}: the backbone is incomplete: it has {block} blocks {stages} per stage '
            f'(layer1..layer4), and the nearest standard depth, ResNet-{depth}, has '
            f'{full}; missing: {missing}. {_BACKBONE_FIX}')
    # num_batches_tracked is optional: torch fills it in when a state dict lacks it.
    missing = [k for k in expected_resnet_keys(depth)
               if k not in state and not k.endswith('num_batches_tracked')]
    if missing:
        raise BackboneExportError(
            f'{source}: the ResNet-{depth} backbone is incomplete: {_count(missing, "key")} '
            f'missing: {_group_keys(missing)}. {_BACKBONE_FIX}')
    return depth


def check_resnet_tensors(state: Mapping[str, torch.Tensor], depth: int,
                         source: str = 'the state dict') -> None:
    """Check that ``state`` holds exactly the tensors of a standard ResNet-``depth``.

    Args:
        state: ResNet keys (no prefix) -> tensors, complete (see :func:`resnet_depth`).
        depth: Its depth.
        source: How the message names it.

    Raises:
        BackboneExportError: A key that a standard ResNet-``depth`` lacks (e.g. ``layer4.3.*``
            or a DCN ``conv2.conv_offset``), or a tensor whose shape differs (a wide ResNet,
            a ResNeXt, an edited checkpoint). The message names the keys and, for shapes, the
            shape found and the shape expected.
    """
    shapes = expected_resnet_shapes(depth)
    extra = [k for k in state if RESNET_KEY.match(k) and k not in shapes]
    if extra:
        raise BackboneExportError(
            f'{source}: {_count(extra, "tensor")} not part of a standard ResNet-{depth}: '
            f'{_group_keys(extra)}. The export formats need a standard torchvision / MMDetection '
            f'ResNet; this backbone is another architecture or was edited.')
    wrong = [(k, tuple(v.shape), shapes[k]) for k, v in state.items() if k in shapes
             and tuple(v.shape) != shapes[k] and not (shapes[k] == () and v.numel() == 1)]
    if wrong:
        listed = '; '.join(f'{k} has shape {found}, expected {want}'
                           for k, found, want in wrong[:4])
        raise BackboneExportError(
            f'{source}: {len(wrong)} of its tensors differ in shape from a standard '
            f'ResNet-{depth} (torchvision resnet{depth}, MMDetection ResNet(depth={depth})): '
            f'{listed}{"; ..." if len(wrong) > 4 else ""}. It is another architecture (e.g. a '
            f'wide ResNet or a ResNeXt) or an edited checkpoint, which the export formats do not '
            f'describe.')


def extract_backbone(path: str) -> ExtractedBackbone:
    """Read ``path`` and take out the query encoder's ResNet.

    Args:
        path: A DetCo/MMSelfSup MMEngine checkpoint, a state dict (optionally with the
            ``module.`` prefix of DDP), or an extracted backbone.

    Returns:
        The backbone, its depth and where it came from.

    Raises:
        BackboneExportError: The file cannot be read, or holds no complete standard ResNet
            backbone at ``backbone.*`` or at the top level (missing blocks or keys, keys or
            shapes of another architecture). The message names the path and what was found.
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
    source = f'{path} ({prefix or "top level"})'
    depth = resnet_depth(state, source)
    check_resnet_tensors(state, depth, source)
    for key, value in state.items():  # (1,) as in old checkpoints; torch loads it as () too
        if key.endswith('num_batches_tracked') and value.dim():
            state[key] = value.reshape(())
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
            # not np.ascontiguousarray: it turns 0-d arrays (num_batches_tracked) into (1,)
            arr = obj if obj.flags.c_contiguous else obj.copy(order='C')
            return np.ndarray, (arr.shape, arr.dtype.str, bytearray(arr.tobytes()))
        return NotImplemented


def to_detectron2(state: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """The detectron2 checkpoint dict of a backbone state dict (MoCo's convention)."""
    model = {detectron2_name(k): v.detach().cpu().numpy() for k, v in state.items()}
    return {'model': model, '__author__': 'detco-mm', 'matching_heuristics': True}


#: Output file names suggested when OUT is a directory.
_DEFAULT_NAMES = {'mmdet': 'backbone_mmdet.pth', 'torchvision': 'backbone_torchvision.pth',
                  'detectron2': 'backbone_detectron2.pkl'}
_OUTPUT_FIX = 'Choose an output path in a directory you can write to (e.g. under work_dirs/)'


def check_output(out: str, fmt: str) -> None:
    """Refuse an output path that cannot take format ``fmt``, before any work is done.

    Raises:
        ValueError: ``fmt`` is none of :data:`FORMATS`.
        BackboneExportError: ``out`` is a directory, or ``fmt`` is ``detectron2`` and ``out``
            does not end with ``.pkl``: detectron2's ``DetectionCheckpointer`` reads pickles
            only from ``.pkl`` paths and opens any other file with ``torch.load``, which fails
            on this pickle.
    """
    if fmt not in FORMATS:
        raise ValueError(f'unknown format {fmt!r}; choose one of {FORMATS}')
    if osp.isdir(out):
        raise BackboneExportError(
            f'the output {out} is a directory; give the file to write, e.g. '
            f'{osp.join(out, _DEFAULT_NAMES[fmt])}')
    if osp.lexists(out) and not osp.isfile(out):  # a FIFO, socket, device or dangling link
        raise BackboneExportError(
            f'the output {out} exists and is not a regular file; refusing to replace it. Give '
            f'a new file path (or remove {out} yourself).')
    if fmt == 'detectron2' and not out.endswith('.pkl'):
        raise BackboneExportError(
            f'the detectron2 format needs an output path ending in .pkl, not {out}: '
            f"detectron2's DetectionCheckpointer reads a pickle only from a .pkl file and opens "
            f'anything else with torch.load, which cannot read it. Use e.g. '
            f'{osp.splitext(out)[0]}.pkl')


def _make_output_dir(out: str) -> str:
    """Create the missing parent directories of ``out`` (as MMEngine's ``LocalBackend.put``)."""
    directory = osp.dirname(osp.abspath(out))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        blocker = directory
        while blocker != osp.dirname(blocker) and not osp.exists(blocker):
            blocker = osp.dirname(blocker)
        why = (f'{blocker} is a file, not a directory' if not osp.isdir(blocker) else
               e.strerror or str(e))
        raise BackboneExportError(
            f'cannot create the output directory {directory} for {out}: {why}. '
            f'{_OUTPUT_FIX}.') from None
    return directory


def _write_atomically(out: str, write: Callable[[io.BytesIO], None]) -> None:
    """Serialize with ``write`` in memory, then write ``out`` through ``OUT.part``.

    An interrupted or failed write leaves no truncated ``out`` behind.
    """
    buffer = io.BytesIO()
    write(buffer)
    directory = _make_output_dir(out)
    part = f'{out}.part'
    try:
        with atomic_write(out, 'wb', tmp=part) as f:
            f.write(buffer.getbuffer())
    except OSError as e:
        raise BackboneExportError(
            f'cannot write {out}: {e.strerror or e} ({e.filename or part}). {_OUTPUT_FIX}, '
            f'or make {directory} writable for this user.') from None


def save_backbone(backbone: ExtractedBackbone, out: str, fmt: str = 'mmdet') -> None:
    """Write ``backbone`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`).

    Missing parent directories are created. Every tensor keeps its shape, also in the
    detectron2 pickle (``num_batches_tracked`` stays 0-d, as ``v.numpy()`` in MoCo's converter
    gives, so that detectron2 loads it into ``BatchNorm2d`` / ``SyncBatchNorm``).

    Raises:
        ValueError: Unknown ``fmt``.
        BackboneExportError: See :func:`check_output`; the directory cannot be created or
            ``out`` cannot be written (the message names the path and the reason).
    """
    check_output(out, fmt)
    state = OrderedDict((k, v.detach().cpu().contiguous()) for k, v in
                        backbone.state_dict.items())
    if fmt == 'detectron2':
        obj = to_detectron2(state)
        _write_atomically(out, lambda f: _PortableArrayPickler(f, protocol=4).dump(obj))
    elif fmt == 'torchvision':
        _write_atomically(out, lambda f: torch.save(state, f))
    else:
        meta = dict(backbone.meta, depth=backbone.depth, source=osp.abspath(backbone.source),
                    source_prefix=backbone.prefix, exported_by=f'detco-mm {__version__}')
        _write_atomically(out, lambda f: torch.save({'state_dict': state, 'meta': meta}, f))


def export_backbone(src: str, out: str, fmt: str = 'mmdet') -> ExtractedBackbone:
    """Extract the query encoder's ResNet from ``src`` and write it to ``out``.

    Args:
        src: DetCo checkpoint, DDP state dict or extracted backbone.
        out: Output file; missing parent directories are created. ``.pkl`` for
            ``detectron2``.
        fmt: One of :data:`FORMATS`.

    Returns:
        What was exported.

    Raises:
        BackboneExportError: See :func:`check_output`, :func:`extract_backbone` and
            :func:`save_backbone`; also when ``out`` is ``src``, and for a checkpoint saved
            after 0 training iterations (untrained weights).
    """
    check_output(out, fmt)
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
           'check_resnet_tensors', 'expected_resnet_keys', 'expected_resnet_shapes',
           'detectron2_name', 'to_detectron2', 'check_output', 'save_backbone',
           'export_backbone', 'describe']
