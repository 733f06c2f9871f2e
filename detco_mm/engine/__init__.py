"""Run-time safeguards for long pre-training runs: hooks and the pre-flight config check."""
from . import hooks, resume  # noqa: F401  (register the hooks)
from .config_check import ConfigError, check_train_config

__all__ = ['ConfigError', 'check_train_config']
