"""DetCo data transforms: the jigsaw local patch set, the packing of views (sec. 3.2), image
loading that converts or skips bad files, and MoCo v2's crop and blur computed faster."""
from .antialiased_crop import AntialiasedRandomResizedCrop, antialiased_resize
from .formatting import PackDetCoInputs
from .gaussian_blur import RandomGaussianBlurCV2
from .jigsaw import JigsawPatches
from .loading import BadImageError, RobustLoadImageFromFile

__all__ = [
    'AntialiasedRandomResizedCrop', 'antialiased_resize', 'JigsawPatches', 'PackDetCoInputs',
    'RandomGaussianBlurCV2', 'RobustLoadImageFromFile', 'BadImageError'
]
