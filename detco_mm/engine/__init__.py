"""Run-time pieces of MMEngine runs: hooks, the pre-flight config check, resume, and the runner
of the fine-tuning configs (:class:`~detco_mm.engine.runner.DetCoFinetuneRunner`)."""
from . import hooks, resume, runner  # noqa: F401  (register the hooks and the runner)
from .config_check import ConfigError, check_train_config

__all__ = ['ConfigError', 'check_train_config']
