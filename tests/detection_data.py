"""Tiny detection datasets in the real on-disk layouts MMDetection reads.

Every image shows a few coloured rectangles and ellipses on a plain background; each shape is an
object whose box and mask are known exactly (the polygon that was filled; drawn by
:func:`detco_mm.demo.scenes.draw_objects`, which ``make demo``'s data uses too). Layouts:

- COCO: ``train2017/``, ``val2017/``, ``annotations/instances_{train,val}2017.json`` (polygons).
- PASCAL VOC: ``VOC2007/`` and ``VOC2012/`` with ``JPEGImages/``, ``Annotations/*.xml`` and
  ``ImageSets/Main/{trainval,test}.txt``.
- Cityscapes: ``leftImg8bit/{train,val}/<city>/*_leftImg8bit.png``,
  ``gtFine/{train,val}/<city>/*_gtFine_{instanceIds,labelIds}.png``, and the instance json that
  MMDetection's ``tools/dataset_converters/cityscapes.py`` makes from them (run here).

The writers live in :mod:`detco_mm.gpu_check.detection_sets`; this module re-exports them and
adds the test-only helpers.
"""
import contextlib
import os
import os.path as osp
from typing import Iterator

# The dataset writers are library code (tools/gpu_check.py uses them too).
from detco_mm.gpu_check.detection_sets import write_cityscapes, write_coco, write_voc  # noqa: F401


def write_detco_checkpoint(path: str, depth: int = 50, seed: int = 0) -> str:
    """A DetCo MMEngine checkpoint of a freshly built model (no training), for export tests.

    Same keys as a real ``epoch_N.pth`` (``backbone.*``, ``neck.*``, ``encoder_k.*``, queues, ...;
    ``meta`` epoch 7 / iter 70). The momentum encoder is offset by +1 so that exporting it by
    mistake shows.
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmselfsup.registry import MODELS

    import detco_mm  # noqa: F401
    widths = (64, 128, 256, 512) if depth < 50 else (256, 512, 1024, 2048)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmselfsup'):  # a test may have set 'mmdet'
        model = MODELS.build(dict(
            type='DetCo', queue_len=32, feat_dim=16,
            backbone=dict(type='ResNet', depth=depth, out_indices=[1, 2, 3, 4],
                          norm_cfg=dict(type='BN')),
            neck=dict(type='DetCoNeck', in_channels=widths, hid_channels=32, out_channels=16),
            head=dict(type='HierarchicalContrastiveHead', temperature=0.2)))
    state = model.state_dict()
    for key, value in state.items():
        if key.startswith('encoder_k.module.0.') and value.is_floating_point():
            value.add_(1.0)
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    torch.save(dict(meta=dict(epoch=7, iter=70), state_dict=state, message_hub={},
                    optimizer={}, param_schedulers=[]), path)
    return path


@contextlib.contextmanager
def keep_default_scope() -> Iterator[None]:
    """Forget the registry default scopes created inside (a Runner makes one, e.g. 'mmdet').

    The latest ``DefaultScope`` decides where ``Registry.build`` looks types up, so an 'mmdet'
    scope left behind by a fine-tuning test would make later tests that build MMSelfSup models
    by name (``MODELS.build(dict(type='DetCo', ...))``) fail. MMEngine's own
    ``DefaultScope.overwrite_default_scope`` restores the same way.
    """
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    try:
        yield
    finally:
        for name in [n for n in DefaultScope._instance_dict if n not in before]:
            DefaultScope._instance_dict.pop(name)
