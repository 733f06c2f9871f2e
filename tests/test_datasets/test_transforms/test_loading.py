"""RobustLoadImageFromFile: what a real pre-training set contains, converted or skipped."""
import io
import logging
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmselfsup.registry import DATASETS
from PIL import Image

import detco_mm  # noqa: F401
from detco_mm.datasets.transforms import BadImageError, RobustLoadImageFromFile

from conftest import REPO_ROOT

RGB = np.random.RandomState(0).randint(0, 256, (40, 60, 3), np.uint8)


def _pil_bytes(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _jpeg(rgb: np.ndarray = RGB) -> bytes:
    return _pil_bytes(Image.fromarray(rgb), 'JPEG')


def convertible_files() -> dict:
    """name -> (bytes, expected BGR image or None when only shape/dtype are checked)."""
    gray16 = np.random.RandomState(1).randint(0, 65536, (40, 60)).astype(np.uint16)
    rgb16 = np.random.RandomState(2).randint(0, 65536, (40, 60, 3)).astype(np.uint16)
    gray = RGB[..., 0]
    return {
        'gray.png': (_pil_bytes(Image.fromarray(gray), 'PNG'), np.dstack([gray] * 3)),
        'palette.png': (_pil_bytes(Image.fromarray(RGB).convert('P'), 'PNG'),
                        np.asarray(Image.fromarray(RGB).convert('P').convert('RGB'))[..., ::-1]),
        'rgba.png': (_pil_bytes(Image.fromarray(np.dstack([RGB, gray])), 'PNG'), RGB[..., ::-1]),
        'gray_alpha.png': (_pil_bytes(Image.fromarray(gray).convert('LA'), 'PNG'),
                           np.dstack([gray] * 3)),
        'gray16.png': (cv2.imencode('.png', gray16)[1].tobytes(),
                       np.dstack([(gray16 >> 8).astype(np.uint8)] * 3)),
        'rgb16.png': (cv2.imencode('.png', rgb16)[1].tobytes(), (rgb16 >> 8).astype(np.uint8)),
        'cmyk.jpg': (_pil_bytes(Image.fromarray(RGB).convert('CMYK'), 'JPEG'), None),
        'anim.gif': (_pil_bytes(Image.fromarray(RGB), 'GIF'), None),
        'image.tif': (_pil_bytes(Image.fromarray(RGB), 'TIFF'), RGB[..., ::-1]),
        'image.webp': (_pil_bytes(Image.fromarray(RGB), 'WEBP'), None),
        'trailer.jpg': (_jpeg() + b'camera trailer bytes' * 8, None),
        'tiny_20x30.jpg': (_jpeg(RGB[:20, :30]), None),
        'one_pixel.png': (_pil_bytes(Image.fromarray(RGB[:1, :1]), 'PNG'), RGB[:1, :1, ::-1]),
    }


def bad_files() -> dict:
    """name -> bytes of files that cannot be decoded (None: the file does not exist)."""
    jpeg, png = _jpeg(), _pil_bytes(Image.fromarray(RGB), 'PNG')
    return {
        'truncated.jpg': jpeg[:int(len(jpeg) * 0.9)],
        'truncated_header.jpg': jpeg[:100],
        'truncated.png': png[:len(png) // 2],
        'not_an_image.jpg': b'<html>403 Forbidden</html>\n' * 4,
        'empty.jpg': b'',
        'missing.jpg': None,
    }


def write_files(folder, files: dict) -> None:
    for name, data in files.items():
        if data is not None:
            (folder / name).write_bytes(data[0] if isinstance(data, tuple) else data)


@pytest.mark.parametrize('name', sorted(convertible_files()))
def test_convertible_images_become_3_channel_uint8_bgr(tmp_path, name):
    data, expected = convertible_files()[name]
    (tmp_path / name).write_bytes(data)
    results = RobustLoadImageFromFile()(dict(img_path=str(tmp_path / name)))
    img = results['img']
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert results['img_shape'] == results['ori_shape'] == img.shape[:2]
    if expected is not None:
        np.testing.assert_array_equal(img, expected)
    elif name == 'cmyk.jpg':  # JPEG-lossy: close to the original colours, in BGR order
        assert np.abs(img.astype(int) - RGB[..., ::-1]).mean() < 12
    elif name == 'tiny_20x30.jpg':
        assert img.shape == (20, 30, 3)
    else:
        assert img.shape == (40, 60, 3)


@pytest.mark.parametrize('name', sorted(bad_files()))
def test_bad_file_is_skipped_with_a_counted_warning(tmp_path, name, caplog):
    write_files(tmp_path, bad_files())
    loader = RobustLoadImageFromFile()
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)  # MMLogger does not propagate to the root logger
    try:
        assert loader(dict(img_path=str(tmp_path / name))) is None
        assert loader(dict(img_path=str(tmp_path / name))) is None
    finally:
        logger.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records
                if 'RobustLoadImageFromFile' in r.getMessage() and r.levelname == 'WARNING']
    assert len(messages) == 2 and all(str(tmp_path / name) in m for m in messages)
    assert '1 file(s) skipped so far by this process (rank 0, main process' in messages[0]
    assert '2 file(s) skipped so far' in messages[1]
    assert loader.num_skipped == 2


@pytest.mark.parametrize('name', sorted(bad_files()))
def test_strict_refuses_a_bad_file_naming_it(tmp_path, name):
    write_files(tmp_path, bad_files())
    with pytest.raises(BadImageError, match=f'cannot load image {tmp_path / name}: '):
        RobustLoadImageFromFile(strict=True)(dict(img_path=str(tmp_path / name)))


def test_tiny_image_goes_through_the_whole_detco_pipeline(tmp_path):
    """A 20x30 image yields full-size global views and 64 px jigsaw patches from a 255 crop."""
    (tmp_path / 'tiny.jpg').write_bytes(_jpeg(RGB[:20, :30]))
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'detco', 'detco_r50_8xb32.py'))
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline[:2]] == ['SeedAugmentation', 'RobustLoadImageFromFile']
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        pipeline = Compose(pipeline)
    np.random.seed(0)
    for _ in range(5):
        packed = pipeline(dict(img_path=str(tmp_path / 'tiny.jpg')))
        shapes = [tuple(x.shape) for x in packed['inputs']]
        assert shapes == [(3, 224, 224), (3, 224, 224), (9, 3, 64, 64), (9, 3, 64, 64)]


def _dataset(root, strict=False):
    """The tiny DetCo dataset over ``root`` with the shipped loading steps."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'tests', 'data', 'configs', 'detco_r18_tiny.py'))
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = str(root)
    views = [t for t in dataset.pipeline if 'Load' not in t.type and 'Seed' not in t.type]
    dataset.pipeline = [dict(type='RobustLoadImageFromFile', strict=strict)] + views
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return DATASETS.build(dataset)


def _folder_with_bad_files(image_folder, tmp_path):
    root = tmp_path / 'mixed'
    good = image_folder(num_images=4, size=(48, 64))
    (root / 'train').mkdir(parents=True)
    (root / 'meta').mkdir()
    names = []
    for i in range(4):
        name = f'good_{i}.jpg'
        (root / 'train' / name).write_bytes(
            open(osp.join(good, 'train', f'img_{i:03d}.jpg'), 'rb').read())
        names.append(name)
    files = dict(convertible_files(), **bad_files())
    write_files(root / 'train', files)
    names += sorted(files)
    (root / 'meta' / 'train.txt').write_text(''.join(f'{n} 0\n' for n in names))
    return root, sorted(bad_files())


def test_dataloader_workers_skip_bad_files_and_keep_batches_full(image_folder, tmp_path):
    """Two DataLoader workers over a folder where 6 of 23 files are bad: full batches, no
    dead worker, a warning naming each bad file it met."""
    root, bad = _folder_with_bad_files(image_folder, tmp_path)
    dataset = _dataset(root)
    np.random.seed(0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2,
                                         collate_fn=default_collate)
    logger = MMLogger.get_current_instance()
    handler = logging.FileHandler(tmp_path / 'log.txt')  # the forked workers inherit it
    logger.addHandler(handler)
    try:
        batches = list(loader)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert len(batches) == 6 and all(len(b['inputs'][0]) == 4 for b in batches[:-1])
    paths = [p for b in batches for s in b['data_samples'] for p in [s.img_path]]
    assert not any(osp.basename(p) in bad for p in paths)
    log = (tmp_path / 'log.txt').read_text()
    for name in bad:
        assert f'skipped {root / "train" / name}' in log
    assert 'by this process (rank 0, DataLoader worker ' in log


def test_strict_dataset_stops_naming_the_file(image_folder, tmp_path):
    root, bad = _folder_with_bad_files(image_folder, tmp_path)
    dataset = _dataset(root, strict=True)
    index = [osp.basename(dataset.get_data_info(i)['img_path'])
             for i in range(len(dataset))].index('empty.jpg')
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, [index]),
                                         batch_size=1, num_workers=1,
                                         collate_fn=default_collate)
    with pytest.raises(BadImageError, match=f'cannot load image {root / "train" / "empty.jpg"}'
                       ': empty file'):
        next(iter(loader))


# ----------------------------------------------------------------------------- issue 13.7
def _png_bomb(path, width=16000, height=16000):
    """A valid 1-bit grayscale PNG of ``width x height`` black pixels: ~30 KB on disk, 768 MB
    as the 3-channel image a loader would decode it to."""
    import struct
    import zlib

    def chunk(kind, payload):
        return (struct.pack('>I', len(payload)) + kind + payload +
                struct.pack('>I', zlib.crc32(kind + payload) & 0xFFFFFFFF))

    row = b'\x00' * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b''.join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', idat) +
                chunk(b'IEND', b''))


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, caplog):
    import time
    path = str(tmp_path / 'bomb.png')
    _png_bomb(path)
    assert osp.getsize(path) < 200_000
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)  # MMLogger does not propagate to the root logger
    start = time.monotonic()
    try:
        assert RobustLoadImageFromFile()(dict(img_path=path)) is None
    finally:
        logger.removeHandler(caplog.handler)
    assert time.monotonic() - start < 5  # decoding it takes seconds and 1.5 GB
    assert (f'skipped {path}: image too large: 16000 x 16000 = 256.0 Mpx, more than '
            f'max_pixels=89478485') in caplog.text
    with pytest.raises(BadImageError, match='image too large: 16000 x 16000'):
        RobustLoadImageFromFile(strict=True)(dict(img_path=path))


def test_pixel_limit_is_configurable(tmp_path):
    path = str(tmp_path / 'photo.png')
    cv2.imwrite(path, np.full((48, 64, 3), 200, np.uint8))
    assert RobustLoadImageFromFile()(dict(img_path=path))['img'].shape == (48, 64, 3)
    assert RobustLoadImageFromFile(max_pixels=3000)(dict(img_path=path)) is None
    assert RobustLoadImageFromFile(max_pixels=None)(dict(img_path=path)) is not None
    with pytest.raises(ValueError, match='max_pixels must be a positive int or None'):
        RobustLoadImageFromFile(max_pixels=0)
