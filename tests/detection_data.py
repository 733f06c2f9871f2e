"""Test helpers for detection data and checkpoints.

The writers of tiny COCO / VOC / Cityscapes sets in MMDetection's on-disk layouts are library
code, :mod:`detco_mm.gpu_check.detection_sets` (``tools/gpu_check.py`` uses them too); this
module re-exports them and adds the test-only helpers: a DetCo checkpoint to export, the CPU
smoke-run shrink of the fine-tuning configs, a COCO train set with ``info``.
"""
import os
import os.path as osp

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


def write_coco_train_with_info(root: str, num_images: int = 40) -> str:
    """A COCO ``train2017`` of ``num_images`` images whose instances json also has ``info`` and
    ``licenses`` (as the real file has them; :func:`write_coco` writes neither); returns the
    json's path."""
    import json
    data_root = write_coco(root, splits={'train2017': num_images})
    ann_file = osp.join(data_root, 'annotations', 'instances_train2017.json')
    with open(ann_file) as f:
        data = json.load(f)
    data = dict(info=dict(description='tiny COCO', year=2017),
                licenses=[dict(id=1, name='CC', url='')], **data)
    with open(ann_file, 'w') as f:
        json.dump(data, f)
    return ann_file


def cpu_finetune_overrides(cfg, work_dir, bn: bool = True) -> None:
    """Shrink a fine-tuning config to a CPU smoke run, in place: BN (unless ``bn=False``),
    256x128 images, few proposals / RoIs, score threshold 0, no workers, 2 iterations then one
    evaluation, no checkpoints, logs every iteration."""
    opts = {'work_dir': str(work_dir), 'default_hooks.logger.interval': 1,
            'default_hooks.checkpoint': None}
    if bn:
        opts['norm_cfg.type'] = 'BN'
    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{part}.num_workers': 0, f'{part}.persistent_workers': False})
    opts.update({'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2})
    if 'rpn_head' in cfg.model:
        opts.update({
            'model.train_cfg.rpn_proposal.nms_pre': 256,
            'model.train_cfg.rpn_proposal.max_per_img': 64,
            'model.train_cfg.rcnn.sampler.num': 32,
            'model.test_cfg.rpn.nms_pre': 256, 'model.test_cfg.rpn.max_per_img': 32,
            'model.test_cfg.rcnn.max_per_img': 10, 'model.test_cfg.rcnn.score_thr': 0.0})
    else:
        opts.update({'model.test_cfg.nms_pre': 100, 'model.test_cfg.max_per_img': 10,
                     'model.test_cfg.score_thr': 0.0})
    cfg.merge_from_dict(opts)

    def shrink(node):
        if isinstance(node, dict):
            if node.get('type') == 'Resize':
                node['scale'] = (256, 128)
            elif node.get('type') == 'RandomChoiceResize':
                node['scales'] = [(256, 128)]
            for value in node.values():
                shrink(value)
        elif isinstance(node, list):
            for value in node:
                shrink(value)

    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        shrink(cfg[part])
    for metric in cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else []:
        if metric.type == 'CityScapesMetric':
            metric.outfile_prefix = str(work_dir / 'cityscapes_results')
