"""Real photographs that ship inside scikit-image's wheel (``skimage.data``).

Only images bundled in the wheel are used: ``skimage.data`` verifies each file's hash and
reads it from its own package directory, so nothing is downloaded (images that would need
``pooch`` -- a download -- are not in :data:`PHOTOS`).
"""
import hashlib
from typing import Callable, Dict, Tuple

import cv2
import numpy as np


def _stereo_left():
    import skimage.data
    return skimage.data.stereo_motorcycle()[0]


def _loader(name: str) -> Callable[[], np.ndarray]:
    if name == 'motorcycle':
        return _stereo_left

    def load():
        import skimage.data
        return getattr(skimage.data, name)()
    return load


#: The photographs, by the name of their ``skimage.data`` function: 8 colour, 6 grey.
PHOTOS: Tuple[str, ...] = (
    'astronaut', 'cat', 'coffee', 'rocket', 'motorcycle', 'hubble_deep_field', 'retina',
    'immunohistochemistry', 'camera', 'coins', 'moon', 'brick', 'grass', 'gravel')


def load_photo(name: str) -> np.ndarray:
    """The photograph ``name`` of :data:`PHOTOS` as a 3-channel BGR uint8 array (OpenCV's
    order, as MMEngine's image loading produces)."""
    if name not in PHOTOS:
        raise KeyError(f'{name!r} is not one of the demo photographs {PHOTOS}')
    img = np.ascontiguousarray(_loader(name)())
    if img.dtype != np.uint8:
        raise TypeError(f'skimage.data.{name} is {img.dtype}, expected uint8')
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)


def load_photos() -> Dict[str, np.ndarray]:
    """Every photograph of :data:`PHOTOS`, by name, in that order."""
    return {name: load_photo(name) for name in PHOTOS}


def photos_digest(photos: Dict[str, np.ndarray]) -> str:
    """SHA-256 over the decoded pixels of ``photos`` (names, shapes and bytes), so that a cache
    made from other pixels (another scikit-image, another decoder) is never taken for ours."""
    h = hashlib.sha256()
    for name, img in photos.items():
        h.update(f'{name}:{img.shape}:'.encode())
        h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()
