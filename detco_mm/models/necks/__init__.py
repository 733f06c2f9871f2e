"""DetCo necks."""
from .detco_neck import DetCoNeck

__all__ = ['DetCoNeck']
