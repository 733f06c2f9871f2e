"""Data side of DetCo: the jigsaw transform and the packing of views (paper section 3.2)."""
from . import transforms  # noqa: F401
