"""Model side of DetCo: preprocessor, multi-level neck, hierarchical head and the algorithm."""
from . import algorithms, data_preprocessor, heads, necks, utils  # noqa: F401
