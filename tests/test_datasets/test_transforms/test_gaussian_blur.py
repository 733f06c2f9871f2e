"""RandomGaussianBlurCV2: MMSelfSup's blur, drawn the same way, computed by OpenCV."""
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmselfsup.registry import TRANSFORMS

import detco_mm  # noqa: F401


def build(type_name, prob, sigma_min=0.1):
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return TRANSFORMS.build(
            dict(type=type_name, sigma_min=sigma_min, sigma_max=2.0, prob=prob))


def image():
    rng = np.random.RandomState(0)
    img = np.zeros((64, 80, 3), np.uint8)
    img[16:48, 20:60] = rng.randint(0, 256, 3)  # a sharp-edged block
    return img


def test_blurs_like_mmselfsups_pil_blur():
    ours, theirs = build('RandomGaussianBlurCV2', 1.0), build('RandomGaussianBlur', 1.0)
    for seed in range(5):
        np.random.seed(seed)
        out = ours(dict(img=image()))['img']
        np.random.seed(seed)
        ref = theirs(dict(img=image()))['img']
        assert out.shape == ref.shape and out.dtype == np.uint8
        diff = np.abs(out.astype(int) - ref.astype(int))
        assert diff.mean() < 1.0 and diff.max() < 40, (seed, diff.mean(), diff.max())
    assert not np.array_equal(out, image())  # it did blur


def test_same_random_draws_as_the_parent():
    # sigma >= 1 so that every applied blur visibly changes the image
    ours = build('RandomGaussianBlurCV2', 0.5, sigma_min=1.0)
    theirs = build('RandomGaussianBlur', 0.5, sigma_min=1.0)
    applied = []
    for seed in range(20):
        np.random.seed(seed)
        a = not np.array_equal(ours(dict(img=image()))['img'], image())
        next_ours = np.random.rand()
        np.random.seed(seed)
        b = not np.array_equal(theirs(dict(img=image()))['img'], image())
        assert a == b and next_ours == np.random.rand()
        applied.append(a)
    assert 0 < sum(applied) < 20


def test_prob_zero_leaves_the_image():
    img = image()
    assert build('RandomGaussianBlurCV2', 0.0)(dict(img=img))['img'] is img


@pytest.mark.parametrize('shape', [(40, 50), (40, 50, 1)])
def test_single_channel_images(shape):
    img = np.random.RandomState(1).randint(0, 256, shape).astype(np.uint8)
    out = build('RandomGaussianBlurCV2', 1.0)(dict(img=img))['img']
    assert out.shape[:2] == shape[:2] and out.dtype == np.uint8
