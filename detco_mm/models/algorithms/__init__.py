"""DetCo algorithms."""
from .detco import DetCo

__all__ = ['DetCo']
