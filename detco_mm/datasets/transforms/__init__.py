"""DetCo data transforms: the jigsaw local patch set and the packing of views (sec. 3.2)."""
from .formatting import PackDetCoInputs
from .jigsaw import JigsawPatches

__all__ = ['JigsawPatches', 'PackDetCoInputs']
