"""Data side of DetCo: the jigsaw transform and the packing of views (paper section 3.2), robust
loading, per-sample augmentation seeding (reproducible resume), and the label-free image set
(a list file or a whole folder tree); PASCAL VOC loaded for fine-tuning as detectron2 loads it."""
from . import sample_seeding, transforms  # noqa: F401
from .image_folder import ImageFolderDataset
from .voc_detectron2 import DetectronVOCDataset

__all__ = ['DetectronVOCDataset', 'ImageFolderDataset']
