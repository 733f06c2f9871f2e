"""Tests of :class:`detco_mm.datasets.transforms.JigsawPatches` (DetCo sec. 3.2)."""
import numpy as np
import pytest
from mmselfsup.registry import TRANSFORMS

import detco_mm  # noqa: F401  (registers the transforms)


def build(**kwargs):
    return TRANSFORMS.build(dict(type='JigsawPatches', **kwargs))


def coord_image(h: int = 255, w: int = 255, seed: int = 0) -> np.ndarray:
    """An image whose pixels say where they are: channel 0 = y, channel 1 = x (mod 256)."""
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(h) % 256)[:, None]
    img[..., 1] = (np.arange(w) % 256)[None, :]
    img[..., 2] = np.random.RandomState(seed).randint(0, 256, (h, w))
    return img


def check_geometry(results: dict, src: np.ndarray, grid: int, patch: int) -> None:
    """Every patch is the source crop given by its box, inside its own cell, each cell once."""
    h, w = src.shape[:2]
    cell_h, cell_w = h // grid, w // grid
    patches, order, boxes = results['img'], results['jigsaw_order'], results['jigsaw_boxes']
    assert patches.shape == (grid * grid, patch, patch, 3)
    assert patches.dtype == np.uint8
    assert patches.flags['C_CONTIGUOUS']
    assert order.shape == (grid * grid, ) and boxes.shape == (grid * grid, 4)
    assert sorted(order.tolist()) == list(range(grid * grid))
    for k in range(grid * grid):
        cell = int(order[k])
        row, col = divmod(cell, grid)
        x1, y1, x2, y2 = boxes[k].tolist()
        assert (x2 - x1, y2 - y1) == (patch, patch)
        assert col * cell_w <= x1 and x2 <= (col + 1) * cell_w, (k, cell, boxes[k])
        assert row * cell_h <= y1 and y2 <= (row + 1) * cell_h, (k, cell, boxes[k])
        np.testing.assert_array_equal(patches[k], src[y1:y2, x1:x2])
        # The pixels themselves say where they came from (independent of the boxes).
        ys, xs = patches[k][..., 0].astype(int), patches[k][..., 1].astype(int)
        assert row * cell_h <= ys.min() and ys.max() < (row + 1) * cell_h
        assert col * cell_w <= xs.min() and xs.max() < (col + 1) * cell_w


def test_build_and_repr():
    t = build(grid_size=3, patch_size=64, shuffle=True)
    assert type(t).__name__ == 'JigsawPatches'
    assert repr(t) == 'JigsawPatches(grid_size=3, patch_size=64, shuffle=True)'


def test_geometry_flagship():
    np.random.seed(0)
    t = build(grid_size=3, patch_size=64)
    src = coord_image()
    for _ in range(5):
        out = t(dict(img=src.copy()))
        check_geometry(out, src, 3, 64)


def test_geometry_non_square_with_remainder():
    np.random.seed(1)
    # cells of 66 x 86 (rows x cols), 2 and 2 pixels unused at the bottom/right
    src = coord_image(200, 260)
    t = build(grid_size=3, patch_size=50)
    for _ in range(5):
        check_geometry(t(dict(img=src.copy())), src, 3, 50)
    src = coord_image(130, 97)
    t = build(grid_size=2, patch_size=40, shuffle=False)
    check_geometry(t(dict(img=src)), src, 2, 40)


def test_minimum_size_has_no_offsets():
    src = coord_image(192, 192)
    out = build(grid_size=3, patch_size=64, shuffle=False)(dict(img=src))
    check_geometry(out, src, 3, 64)
    corners = [(c * 64, r * 64) for r in range(3) for c in range(3)]
    assert [tuple(b[:2]) for b in out['jigsaw_boxes'].tolist()] == corners


def test_shuffle_and_offsets_vary_across_draws():
    np.random.seed(2)
    t = build()
    src = coord_image()
    orders, offsets_cell0 = set(), set()
    for _ in range(20):
        out = t(dict(img=src))
        orders.add(tuple(out['jigsaw_order'].tolist()))
        k = int(np.flatnonzero(out['jigsaw_order'] == 0)[0])
        offsets_cell0.add(tuple(out['jigsaw_boxes'][k, :2].tolist()))
    assert len(orders) >= 10  # 9! orders: 20 draws nearly always give 20 distinct ones
    assert len(offsets_cell0) >= 10  # 22 x 22 possible offsets
    # both coordinates vary (22 possible values each)
    assert len({x for x, _ in offsets_cell0}) >= 5
    assert len({y for _, y in offsets_cell0}) >= 5


def test_no_shuffle_keeps_cell_order():
    np.random.seed(3)
    t = build(shuffle=False)
    src = coord_image()
    boxes = set()
    for _ in range(20):
        out = t(dict(img=src))
        np.testing.assert_array_equal(out['jigsaw_order'], np.arange(9))
        check_geometry(out, src, 3, 64)
        boxes.add(out['jigsaw_boxes'].tobytes())
    assert len(boxes) > 1  # offsets still random


def test_seeded_draws_are_reproducible():
    t = build()
    src = coord_image()
    np.random.seed(123)
    a = t(dict(img=src))
    np.random.seed(123)
    b = t(dict(img=src))
    np.testing.assert_array_equal(a['img'], b['img'])
    np.testing.assert_array_equal(a['jigsaw_boxes'], b['jigsaw_boxes'])


def test_non_contiguous_input():
    np.random.seed(4)
    base = coord_image()
    src = base[:, ::-1]  # as a horizontal flip view gives it
    out = build()(dict(img=src))
    assert out['img'].flags['C_CONTIGUOUS']
    for k, (x1, y1, x2, y2) in enumerate(out['jigsaw_boxes'].tolist()):
        np.testing.assert_array_equal(out['img'][k], src[y1:y2, x1:x2])


@pytest.mark.parametrize('shape', [(255, 255), (255, 255, 1)])
def test_grayscale_converted_to_three_channels(shape):
    np.random.seed(5)
    gray = np.random.RandomState(0).randint(0, 256, shape).astype(np.uint8)
    out = build()(dict(img=gray))
    assert out['img'].shape == (9, 64, 64, 3) and out['img'].flags['C_CONTIGUOUS']
    plane = gray.reshape(255, 255)
    for k, (x1, y1, x2, y2) in enumerate(out['jigsaw_boxes'].tolist()):
        for c in range(3):
            np.testing.assert_array_equal(out['img'][k, ..., c], plane[y1:y2, x1:x2])


def test_four_channels_refused():
    with pytest.raises(ValueError, match=r"4-channel.*RGB/BGR.*color_type='color'"):
        build()(dict(img=np.zeros((255, 255, 4), np.uint8)))
    with pytest.raises(ValueError, match='1- or 3-channel'):
        build()(dict(img=np.zeros((255, 255, 2), np.uint8)))


def test_too_small_image_names_sizes():
    with pytest.raises(ValueError, match=r'at least 192x192.*got 150x255') as info:
        build()(dict(img=np.zeros((150, 255, 3), np.uint8)))
    assert 'resize/crop' in str(info.value)
    with pytest.raises(ValueError, match=r'got 255x191'):
        build()(dict(img=np.zeros((255, 191, 3), np.uint8)))


def test_bad_types():
    with pytest.raises(TypeError, match='uint8'):
        build()(dict(img=np.zeros((255, 255, 3), np.float32)))
    with pytest.raises(TypeError, match='numpy.ndarray'):
        build()(dict(img=[[0] * 255] * 255))
    with pytest.raises(ValueError, match=r'\(H, W, C\)'):
        build()(dict(img=np.zeros((2, 255, 255, 3), np.uint8)))


@pytest.mark.parametrize('kwargs, exc, msg', [
    (dict(grid_size=0), ValueError, 'grid_size must be >= 1'),
    (dict(patch_size=0), ValueError, 'patch_size must be >= 1'),
    (dict(grid_size=2.5), TypeError, 'grid_size must be an int'),
    (dict(patch_size='64'), TypeError, 'patch_size must be an int'),
])
def test_init_validation(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        build(**kwargs)
