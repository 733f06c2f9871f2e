"""Image loading that survives the files a large pre-training set really contains.

mmcv's ``LoadImageFromFile`` stops the run (an ``AssertionError`` or a decoder error inside a
DataLoader worker) on the first file it cannot decode. :class:`RobustLoadImageFromFile`
instead

- converts every decodable image to a 3-channel uint8 BGR array: grayscale, palette, RGBA/LA
  (alpha dropped), 16-bit (scaled to 8 bits), CMYK/YCCK JPEG, GIF/TIFF/WebP. OpenCV's
  ``IMREAD_COLOR`` does all of these, as in mmcv's default ``color_type='color'`` (EXIF
  orientation applied); Pillow is the fallback for what OpenCV cannot decode. Images of any
  size are kept: the views' ``RandomResizedCrop`` resizes every crop to its output size, so
  a 20x30 image yields 224 px global views and a 255 px jigsaw crop like any other;
- skips a file it cannot decode (missing, unreadable, empty, truncated, not an image) by
  returning ``None``: MMEngine's ``BaseDataset`` then draws another index (``_rand_another``,
  at most ``max_refetch`` times in a row), so the batch is still full. Each skip is logged as
  a warning that names the file and the reason, with the number of files skipped so far *by
  this process* (each DataLoader worker counts its own skips; the message says which worker);
- with ``strict=True`` raises :class:`BadImageError` naming the file instead, for runs that
  must use every image. ``tools/train.py --strict-data`` sets it on every loader of the
  training pipeline.

- refuses images with more than ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`,
  about 89.5 million, Pillow's own limit: e.g. 9459 x 9459) from the file's header, before
  anything is decoded: a 760 KB PNG of 16000 x 16000 pixels decodes to 768 MB (1.5 GB during
  decoding) and takes seconds, and a few of them in parallel DataLoader workers get the run
  OOM-killed. Such a file is skipped with a warning naming its size (``strict=True``: a
  :class:`BadImageError`). Raise ``max_pixels`` for really large photographs, or set it to
  None to switch the check off (OpenCV's own limit of 2^30 pixels remains).

Truncated JPEGs are detected explicitly: depending on its version, OpenCV returns either
nothing or a partly grey image for them. A JPEG that does not end with its end-of-image marker
is fully decoded by Pillow, which raises for a truncated file and accepts trailing bytes after
a complete image (some cameras append them); complete files, the common case, cost nothing
extra.
"""
import contextlib
import io
import logging
import re
import warnings
from typing import Optional, Tuple

import cv2
import numpy as np
import torch.utils.data
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmselfsup.registry import TRANSFORMS
from PIL import Image, ImageOps

_JPEG_SOI = b'\xff\xd8'
_JPEG_EOI = b'\xff\xd9'


DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS: ~ 1 GB of RGBA


def header_pixels(data: bytes) -> Optional[Tuple[int, str]]:
    """``(pixels, 'W x H')`` of an image from its header only, or None if unknown.

    Pillow's ``Image.open`` reads the header and decodes nothing. Above twice its own limit it
    refuses with ``DecompressionBombError``, whose message holds the pixel count.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError as e:
        size = _plugin_size(data)
        if size is not None:
            return size[0] * size[1], f'{size[0]} x {size[1]}'
        match = re.search(r'\((\d+) pixels\)', str(e))
        return (int(match.group(1)), f'{int(match.group(1))} pixels') if match else None
    except Exception:  # noqa: BLE001  (not recognised by Pillow: OpenCV decides)
        return None
    return width * height, f'{width} x {height}'


def _plugin_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from Pillow's format plugins directly, without ``Image.open``'s
    decompression-bomb refusal (which hides the size); None if no plugin reads the header."""
    try:
        Image.init()
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and not accept(data[:16]):
                continue
            with contextlib.suppress(Exception):
                return factory(io.BytesIO(data), '').size
    except Exception:  # noqa: BLE001  (Pillow internals changed: fall back to the pixel count)
        return None
    return None


class BadImageError(ValueError):
    """An image file of the dataset cannot be decoded (raised with ``strict=True``)."""


def _pillow_to_bgr(img: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as a (H, W, 3) uint8 BGR array."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I', 'F'):
        # 16/32-bit grayscale: Pillow's convert('L') clips at 255 instead of scaling.
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith('I;16') or (img.mode == 'I' and arr.max(initial=0) > 255):
            arr = arr / 257.0
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    return np.ascontiguousarray(np.asarray(img.convert('RGB'))[..., ::-1])


def decode_image(data: bytes) -> Tuple[Optional[np.ndarray], str]:
    """Decode image file contents to a (H, W, 3) uint8 BGR array.

    Args:
        data (bytes): The file's contents.

    Returns:
        Tuple[Optional[np.ndarray], str]: The image, or None and why it cannot be decoded.
    """
    if not data:
        return None, 'empty file'
    if data.startswith(_JPEG_SOI) and not data.rstrip(b'\x00\r\n ').endswith(_JPEG_EOI):
        # No end-of-image marker at the end: truncated, or trailing bytes after the image.
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
        except Exception as e:  # noqa: BLE001  (any decoder error means a bad file)
            return None, f'truncated or corrupt JPEG ({e})'
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        img = None
    if img is not None and img.size:
        return img, ''
    try:  # formats or variants OpenCV cannot decode
        with Image.open(io.BytesIO(data)) as pil_img:
            pil_img.load()
            img = _pillow_to_bgr(pil_img)
    except Exception as e:  # noqa: BLE001
        reason = str(e) if not isinstance(e, Image.UnidentifiedImageError) else \
            'not an image file (no decoder recognises it)'
        return None, reason
    if not img.size:
        return None, 'image has no pixels'
    return img, ''


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(BaseTransform):
    """Load an image as 3-channel uint8 BGR; skip (or, if strict, refuse) bad files.

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        strict (bool): Raise :class:`BadImageError` for a file that cannot be decoded instead
            of skipping it. Defaults to False.
        to_float32 (bool): Return a float32 image. Defaults to False.
        backend_args (dict, optional): MMEngine file backend arguments. Defaults to None.
        max_pixels (int, optional): Skip (strict: refuse) images with more pixels than this,
            read from the file header before decoding. Defaults to
            :data:`DEFAULT_MAX_PIXELS` (89,478,485, Pillow's limit); None disables the check.

    Returns (from :meth:`transform`):
        dict or None: The results with the image, or None for a skipped file, which makes
        MMEngine's ``BaseDataset`` draw another sample.
    """

    def __init__(self,
                 strict: bool = False,
                 to_float32: bool = False,
                 backend_args: Optional[dict] = None,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> None:
        if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels <= 0):
            raise ValueError(f'RobustLoadImageFromFile: max_pixels must be a positive int or '
                             f'None, got {max_pixels!r}')
        self.max_pixels = max_pixels
        self.strict = strict
        self.to_float32 = to_float32
        self.backend_args = backend_args
        self.num_skipped = 0  # in this process: each DataLoader worker has its own copy

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
        except Exception as e:  # noqa: BLE001  (missing, unreadable, I/O error)
            img, reason = None, f'{type(e).__name__}: {e}'
        else:
            img, reason = self._too_large(data) or decode_image(data)
        if img is None:
            return self._skip(filename, reason)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _too_large(self, data: bytes) -> Optional[Tuple[None, str]]:
        """``(None, reason)`` for an image above ``max_pixels``, from its header; else None."""
        if self.max_pixels is None:
            return None
        size = header_pixels(data)
        if size is None or size[0] <= self.max_pixels:
            return None
        return None, (f'image too large: {size[1]} = {size[0] / 1e6:.1f} Mpx, more than '
                      f'max_pixels={self.max_pixels} ({self.max_pixels / 1e6:.1f} Mpx; not '
                      f'decoded). Downscale the file, or raise max_pixels of '
                      f'RobustLoadImageFromFile in train_dataloader.dataset.pipeline')

    def _skip(self, filename: str, reason: str) -> None:
        if self.strict:
            raise BadImageError(
                f'cannot load image {filename}: {reason}. Remove or replace the file (or its '
                f'line in the annotation file), or train with strict=False to skip such files '
                f'(see README "Troubleshooting").')
        self.num_skipped += 1
        worker = torch.utils.data.get_worker_info()
        where = f'rank {get_rank()}, ' + (
            f'DataLoader worker {worker.id}' if worker else 'main process')
        print_log(
            f'RobustLoadImageFromFile: skipped {filename}: {reason}; {self.num_skipped} '
            f'file(s) skipped so far by this process ({where}; other processes count their '
            f'own). Another image is used in its place; set strict=True '
            f'(tools/train.py --strict-data) to stop on bad files instead.',
            logger='current',
            level=logging.WARNING)
        return None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(strict={self.strict}, '
                f'to_float32={self.to_float32}, backend_args={self.backend_args}, '
                f'max_pixels={self.max_pixels})')
