"""Data side of DetCo: the jigsaw transform and the packing of views (paper section 3.2), robust
loading and per-sample augmentation seeding (reproducible resume)."""
from . import sample_seeding, transforms  # noqa: F401
