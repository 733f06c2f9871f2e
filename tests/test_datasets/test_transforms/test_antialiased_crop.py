"""AntialiasedRandomResizedCrop: MMSelfSup's crop boxes, resized like PIL (MoCo v2's backend)
within 1 grey level, on real photographs at the ratios the configs use."""
import random

import cv2
import numpy as np
import pytest
import skimage.data
from mmengine.registry import DefaultScope
from mmselfsup.registry import TRANSFORMS
from PIL import Image

import detco_mm  # noqa: F401
from detco_mm.datasets.transforms import antialiased_resize

PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket')
# (crop h, w) -> (out h, w): 224 global views and 255 local crops shrunk from ImageNet-sized
# crops, a 224 view enlarged from a small crop, a crop shrunk in one axis and enlarged in the
# other, the demo's 96 -> 64 views and the tiny test config's 51 px crop.
CASES = [((512, 512), (224, 224)), ((375, 500), (224, 224)), ((300, 420), (255, 255)),
         ((100, 130), (224, 224)), ((300, 200), (255, 255)), ((96, 96), (64, 64)),
         ((60, 51), (51, 51))]
MAX_DIFF, MEAN_DIFF = 1, 0.25  # grey levels, the tolerance stated in antialiased_resize


def photo(name):
    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(img[:, :, ::-1])  # BGR, as the pipelines load images


def pil_resize(img, size):
    return np.asarray(Image.fromarray(img).resize(size[::-1], Image.BILINEAR))


def diff(a, b):
    d = np.abs(a.astype(int) - b.astype(int))
    return d.max(), d.mean()


def build(**kwargs):
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return TRANSFORMS.build(kwargs)


@pytest.mark.parametrize('name', PHOTOS)
def test_resize_matches_pil_on_photographs(name):
    img = photo(name)
    rng = np.random.RandomState(0)
    for (ch, cw), size in CASES:
        ch, cw = min(ch, img.shape[0]), min(cw, img.shape[1])  # chelsea is 300x451
        y, x = rng.randint(0, img.shape[0] - ch + 1), rng.randint(0, img.shape[1] - cw + 1)
        crop = img[y:y + ch, x:x + cw]  # a strided view, as the transform passes it
        out = antialiased_resize(crop, size)
        assert out.shape == (*size, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
        worst, mean = diff(out, pil_resize(np.ascontiguousarray(crop), size))
        assert worst <= MAX_DIFF and mean < MEAN_DIFF, ((ch, cw), size, worst, mean)


def test_opencv_bilinear_would_fail_the_tolerance():
    """What the tolerance guards against: cv2's INTER_LINEAR (backend='cv2') aliases."""
    crop = photo('astronaut')[:512, :512]
    worst, mean = diff(cv2.resize(crop, (224, 224), interpolation=cv2.INTER_LINEAR),
                       pil_resize(crop, (224, 224)))
    assert mean > 10 * MEAN_DIFF and worst > 50


def test_same_boxes_as_mmselfsups_crop_with_pil():
    img = photo('coffee')
    ours = build(type='AntialiasedRandomResizedCrop', size=224, scale=(0.2, 1.))
    theirs = build(type='RandomResizedCrop', size=224, scale=(0.2, 1.), backend='pillow')
    for seed in range(8):
        random.seed(seed)
        out = ours(dict(img=img.copy()))
        after_ours = random.random()
        random.seed(seed)
        ref = theirs(dict(img=img.copy()))
        assert after_ours == random.random()  # the same draws, no more, no fewer
        assert out['img_shape'] == ref['img_shape'] == (224, 224)
        worst, mean = diff(out['img'], ref['img'])
        assert worst <= MAX_DIFF and mean < MEAN_DIFF, (seed, worst, mean)


def test_rectangular_size_grayscale_and_read_only_images():
    crop = build(type='AntialiasedRandomResizedCrop', size=(32, 48), scale=(0.5, 1.))
    gray = skimage.data.camera()  # (512, 512) uint8
    gray.setflags(write=False)
    out = crop(dict(img=gray))
    assert out['img'].shape == (32, 48) and out['img_shape'] == (32, 48)
    assert crop(dict(img=photo('rocket')))['img'].shape == (32, 48, 3)
    assert crop.size == (32, 48) and 'backend=torch' in repr(crop)


def test_bad_input_is_named():
    crop = build(type='AntialiasedRandomResizedCrop', size=16)
    with pytest.raises(TypeError, match='needs a uint8 image, got float32'):
        crop(dict(img=np.zeros((20, 20, 3), np.float32)))
    with pytest.raises(ValueError, match="only 'bilinear'"):
        build(type='AntialiasedRandomResizedCrop', size=16, interpolation='bicubic')
    with pytest.raises(ValueError, match=r'shape \(2, 3, 4, 5\)'):
        antialiased_resize(np.zeros((2, 3, 4, 5), np.uint8), (4, 4))
