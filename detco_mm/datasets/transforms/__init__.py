"""DetCo data transforms: the jigsaw local patch set, the packing of views (sec. 3.2), and
image loading that converts or skips bad files."""
from .formatting import PackDetCoInputs
from .gaussian_blur import RandomGaussianBlurCV2
from .jigsaw import JigsawPatches
from .loading import BadImageError, RobustLoadImageFromFile

__all__ = [
    'JigsawPatches', 'PackDetCoInputs', 'RandomGaussianBlurCV2', 'RobustLoadImageFromFile',
    'BadImageError'
]
