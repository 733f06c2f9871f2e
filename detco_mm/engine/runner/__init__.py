"""Runners: :class:`DetCoFinetuneRunner`, the runner of the fine-tuning and linear-probe configs."""
from .finetune_runner import DetCoFinetuneRunner, FinetuneInputError, check_finetune_inputs

__all__ = ['DetCoFinetuneRunner', 'FinetuneInputError', 'check_finetune_inputs']
