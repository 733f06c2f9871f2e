"""Checkpoint conversion: the pre-trained ResNet backbone of a DetCo checkpoint for MMDetection,
torchvision or detectron2 (:mod:`.backbone_export`, the library of
``tools/model_converters/export_backbone.py``).

Not imported by :mod:`detco_mm` itself; import :mod:`detco_mm.model_converters.backbone_export`.
"""
