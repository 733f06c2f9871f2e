"""The jigsaw transform that turns one image view into DetCo's local patch set.

DetCo (Xie et al., ICCV 2021), sec. 3.2 "local patch set": a 255x255 crop of the image is cut
into a 3x3 grid of 85x85 cells, a random 64x64 patch is taken inside each cell (the gaps between
patches stop the network from solving the task by matching edges), and the nine patches are
shuffled (paper sec. 3.2).
"""
from typing import Dict, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmselfsup.registry import TRANSFORMS


@TRANSFORMS.register_module()
class JigsawPatches(BaseTransform):
    """Cut an image into a grid of randomly placed patches, in shuffled order.

    DetCo sec. 3.2, "local patch set". The image is split into ``grid_size x grid_size``
    equal cells of ``floor(H / grid_size) x floor(W / grid_size)`` pixels (a remainder at the
    bottom/right edge is unused). Inside each cell one ``patch_size x patch_size`` patch is
    cropped at an independent random offset, and the patches are returned in a random order
    when ``shuffle`` is True (cell order, row-major, otherwise).

    Randomness comes from ``np.random`` like mmcv's transforms, so MMEngine's seeding makes it
    reproducible; :meth:`_rand_params` is decorated with ``cache_randomness``.

    The output is a single contiguous array, not a list, so that MMSelfSup's ``MultiView``
    keeps the patch set as one view; :class:`~detco_mm.datasets.transforms.PackDetCoInputs`
    turns it into a ``(N, C, patch_size, patch_size)`` tensor.

    Colour handling: a grayscale image (``HxW`` or ``HxWx1``) is converted to 3 channels by
    repeating its channel (the patches are cropped first, so the conversion costs only the
    patch pixels). A 4-channel (alpha) image is refused: load it with
    ``LoadImageFromFile``'s default ``color_type='color'`` or convert it to RGB/BGR first.

    Required Keys:

    - img (np.ndarray): ``(H, W, C)`` or ``(H, W)`` uint8 image with
      ``H, W >= grid_size * patch_size``.

    Modified Keys:

    - img: ``(grid_size**2, patch_size, patch_size, 3)`` uint8, C-contiguous.

    Added Keys:

    - jigsaw_order (np.ndarray): ``(grid_size**2,)`` int64, the cell index (row-major) each
      output patch came from.
    - jigsaw_boxes (np.ndarray): ``(grid_size**2, 4)`` int64, the ``(x1, y1, x2, y2)`` box
      (x2, y2 exclusive) of each output patch in the input image, in output order.

    Args:
        grid_size (int): Number of cells per side. Defaults to 3.
        patch_size (int): Side of each square patch in pixels. Defaults to 64.
        shuffle (bool): Whether to shuffle the order of the patches. Defaults to True.
    """

    def __init__(self, grid_size: int = 3, patch_size: int = 64, shuffle: bool = True) -> None:
        for name, value in (('grid_size', grid_size), ('patch_size', patch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f'JigsawPatches: {name} must be an int, got {value!r}')
            if value < 1:
                raise ValueError(f'JigsawPatches: {name} must be >= 1, got {value}')
        self.grid_size = int(grid_size)
        self.patch_size = int(patch_size)
        self.shuffle = bool(shuffle)
        num = self.grid_size * self.grid_size
        # Row and column of every cell in row-major order, computed once.
        self._cell_rows = np.repeat(np.arange(self.grid_size), self.grid_size)
        self._cell_cols = np.tile(np.arange(self.grid_size), self.grid_size)
        self._identity_order = np.arange(num)

    @cache_randomness
    def _rand_params(self, cell_h: int, cell_w: int) -> Tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
        """Draw the patch offsets inside their cells and the output order.

        Args:
            cell_h (int): Cell height in pixels (``>= patch_size``).
            cell_w (int): Cell width in pixels (``>= patch_size``).

        Returns:
            tuple[np.ndarray, np.ndarray, np.ndarray]: ``off_y`` and ``off_x`` of shape
            ``(grid_size**2,)`` (offset of each cell's patch, in cell order) and ``order``
            of shape ``(grid_size**2,)`` (cell index of each output patch).
        """
        num = self.grid_size * self.grid_size
        off_y = np.random.randint(0, cell_h - self.patch_size + 1, size=num)
        off_x = np.random.randint(0, cell_w - self.patch_size + 1, size=num)
        order = np.random.permutation(num) if self.shuffle else self._identity_order.copy()
        return off_y, off_x, order

    def _check_image(self, img: np.ndarray) -> np.ndarray:
        """Validate the input image and return it as an ``(H, W, C)`` view (no copy).

        Args:
            img (np.ndarray): The input image.

        Returns:
            np.ndarray: ``(H, W, C)`` view of ``img`` with ``C`` in (1, 3).
        """
        if not isinstance(img, np.ndarray):
            raise TypeError('JigsawPatches expects results["img"] to be a numpy.ndarray, '
                            f'got {type(img).__name__}')
        if img.dtype != np.uint8:
            raise TypeError(f'JigsawPatches expects a uint8 image, got dtype {img.dtype}; '
                            'apply it to the image as loaded (LoadImageFromFile gives uint8)')
        if img.ndim == 2:
            img = img[..., None]
        if img.ndim != 3:
            raise ValueError('JigsawPatches expects an (H, W, C) or (H, W) image, got shape '
                             f'{img.shape}')
        channels = img.shape[2]
        if channels == 4:
            raise ValueError('JigsawPatches got a 4-channel image (with alpha); convert it to '
                             '3-channel RGB/BGR first, e.g. with LoadImageFromFile\'s default '
                             "color_type='color'")
        if channels not in (1, 3):
            raise ValueError('JigsawPatches expects a 1- or 3-channel image, got shape '
                             f'{img.shape}')
        min_side = self.grid_size * self.patch_size
        h, w = img.shape[:2]
        if h < min_side or w < min_side:
            raise ValueError(
                f'JigsawPatches(grid_size={self.grid_size}, patch_size={self.patch_size}) '
                f'needs an image of at least {min_side}x{min_side} pixels, got {h}x{w} '
                f'(HxW); resize/crop it to at least {min_side}x{min_side} first, e.g. '
                f'RandomResizedCrop(size={min_side}) before JigsawPatches')
        return img

    def transform(self, results: Dict) -> Dict:
        """Replace ``results['img']`` by its shuffled patch set.

        Args:
            results (dict): Result dict with ``img`` of shape ``(H, W, C)`` or ``(H, W)``.

        Returns:
            dict: ``results`` with ``img`` of shape ``(grid_size**2, patch_size, patch_size,
            3)``, ``jigsaw_order`` of shape ``(grid_size**2,)`` and ``jigsaw_boxes`` of shape
            ``(grid_size**2, 4)``.
        """
        img = self._check_image(results['img'])
        h, w, channels = img.shape
        p = self.patch_size
        cell_h, cell_w = h // self.grid_size, w // self.grid_size
        off_y, off_x, order = self._rand_params(cell_h, cell_w)

        # Top-left corner of each patch, already in output order.
        y1 = self._cell_rows[order] * cell_h + off_y[order]
        x1 = self._cell_cols[order] * cell_w + off_x[order]

        # All p x p windows as a strided view (no copy), then one gather of the chosen ones:
        # windows[y, x] is img[y:y + p, x:x + p], so the result is (N, p, p, C), C-contiguous.
        windows = np.lib.stride_tricks.sliding_window_view(img, (p, p, channels))[:, :, 0]
        patches = windows[y1, x1]
        if channels == 1:
            patches = np.repeat(patches, 3, axis=-1)

        results['img'] = patches
        results['jigsaw_order'] = order
        results['jigsaw_boxes'] = np.stack([x1, y1, x1 + p, y1 + p], axis=1)
        return results

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(grid_size={self.grid_size}, '
        repr_str += f'patch_size={self.patch_size}, '
        repr_str += f'shuffle={self.shuffle})'
        return repr_str
