"""Downstream utilities: backbone export and the fine-tuning runner.

Not imported by :mod:`detco_mm` itself; import the module you need explicitly
(``detco_mm.utils.backbone_export``, ``detco_mm.utils.finetune_runner``). The fine-tuning configs
list ``detco_mm.utils.finetune_runner`` in their ``custom_imports``.
"""
