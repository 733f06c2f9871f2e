"""The pre-training set: every image of a list file, or of a folder tree (no labels needed).

DetCo learns without labels, but MMClassification's ``ImageNet`` dataset, which MMSelfSup's
configs use, insists on them: a ``meta/train.txt`` line without a label fails with
``ValueError: not enough values to unpack``, an empty list with ``need at least one array to
concatenate``, and ``ann_file=''`` looks for 1000 class folders (a flat folder of photos or
COCO's ``train2017/`` gives 0 images). :class:`ImageFolderDataset`, the dataset of
``configs/detco``, reads

- with ``ann_file`` set: one image per line, ``relative/path.jpg`` or ``relative/path.jpg
  label`` (ImageNet's layout; the label, an integer, is kept as ``gt_label`` but unused). A
  path may contain spaces. Blank lines and lines starting with ``#`` are ignored;
- with ``ann_file=''``: every image file (``extensions``, any case) under the image folder
  ``data_root/data_prefix.img_path``, flat or nested to any depth, in sorted order; hidden
  files and folders (``.DS_Store``, ``._x.jpg``) are skipped. This is how to pre-train on COCO
  or your own photos::

      --cfg-options train_dataloader.dataset.data_root=/data/coco/ \\
          train_dataloader.dataset.ann_file='' \\
          train_dataloader.dataset.data_prefix.img_path=train2017/

An empty list or a folder without images stops the run before training with a
:class:`~detco_mm.engine.config_check.ConfigError` that names the file or folder and the keys.
"""
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmengine.fileio import get_file_backend, list_from_file
from mmselfsup.registry import DATASETS

from ..engine.config_check import ConfigError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp',
                  '.gif')


def parse_list_line(line: str) -> Optional[tuple]:
    """``(path, label or None)`` of one list line, None for a blank or ``#`` comment line."""
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    parts = line.rsplit(maxsplit=1)
    if len(parts) == 2 and parts[1].lstrip('-').isdigit():
        return parts[0], int(parts[1])
    return line, None


@DATASETS.register_module()
class ImageFolderDataset(BaseDataset):
    """Images of a list file, or every image under a folder tree; see the module docstring.

    Args:
        ann_file (str): The list file (relative to ``data_root``), or ``''`` to use every image
            under the image folder. Defaults to ``''``.
        data_root (str): Root of the data. Defaults to ``''``.
        data_prefix (dict): ``img_path``: the image folder, relative to ``data_root``.
            Defaults to ``dict(img_path='')``.
        extensions (Sequence[str]): File name endings of images (folder mode). Defaults to
            :data:`IMG_EXTENSIONS`.
        **kwargs: Other arguments of MMEngine's ``BaseDataset`` (``pipeline``,
            ``max_refetch``, ``lazy_init``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: dict = dict(img_path=''),
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 **kwargs) -> None:
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         **kwargs)

    @property
    def img_prefix(self) -> str:
        return self.data_prefix.get('img_path', '') or self.data_root or ''

    def load_data_list(self) -> List[dict]:
        img_dir = self.img_prefix
        backend = get_file_backend(img_dir or '.', enable_singleton=True)
        data_list = []
        if self.ann_file:
            for line in list_from_file(self.ann_file):
                parsed = parse_list_line(line)
                if parsed is None:
                    continue
                info = dict(img_path=backend.join_path(img_dir, parsed[0]) if img_dir
                            else parsed[0])
                if parsed[1] is not None:
                    info['gt_label'] = parsed[1]
                data_list.append(info)
            if not data_list:
                raise ConfigError(
                    f'train_dataloader.dataset.ann_file: the image list {self.ann_file} lists '
                    f'no images (it is empty, or only blank/# lines). Write one relative image '
                    f'path per line (optionally followed by a label), or set '
                    f"train_dataloader.dataset.ann_file='' to use every image under "
                    f'{img_dir or "the data root"}.')
            return data_list
        files = backend.list_dir_or_file(img_dir or '.', list_dir=False, recursive=True)
        for name in sorted(files):
            parts = name.replace('\\', '/').split('/')
            if any(p.startswith('.') for p in parts) or not name.lower().endswith(
                    self.extensions):
                continue
            data_list.append(dict(img_path=backend.join_path(img_dir, name) if img_dir
                                  else name))
        if not data_list:
            raise ConfigError(
                f'train_dataloader.dataset: no image files ({", ".join(self.extensions)}) '
                f'under {img_dir or "."} or its sub-folders (ann_file=\'\' uses every image '
                f'there). Point train_dataloader.dataset.data_root (and data_prefix.img_path) '
                f'at your images, or set train_dataloader.dataset.ann_file to a list of them.')
        return data_list
