"""Files that the backbone exporter must refuse (tests/test_model_converters/ for the library,
tests/test_tools/test_export_backbone.py for what the command line shows): files that are no
PyTorch checkpoint, each with the message expected for it, and a directory that refuses writes.
"""
import os
import os.path as osp
import pickle
import zipfile

import numpy as np

FIX = ('Pass the checkpoint the pre-training run saved (work_dirs/<config>/epoch_N.pth) or a '
       'backbone this tool exported in mmdet/torchvision format.')


def write_no_checkpoint_files(tmp_path):
    """name -> (path, expected message; the command line prints it after
    ``export_backbone.py: ``) of files that are no PyTorch checkpoint, each told apart without
    unpickling it."""
    rng = np.random.default_rng(0)
    cases = {}
    text = tmp_path / 'notes.pth'
    text.write_text('epoch 200 done, saved to work_dirs\n')
    cases['text'] = (text, f"{text} (35 bytes) is a text file, not a PyTorch checkpoint: it "
                     f"starts with 'epoch 200 done, saved to work_dirs'. {FIX}")
    noise = tmp_path / 'noise.pth'
    noise.write_bytes(b'\x17' + rng.bytes(4095))  # 0x17: neither a zip nor a pickle header
    head = noise.read_bytes()[:8].hex(' ')
    cases['random bytes'] = (noise, f'{noise} (4096 bytes) is not a PyTorch checkpoint: it starts '
                             f'with bytes {head}, while torch.save writes a zip archive (50 4b 03 '
                             f'04) or, in its legacy format, a pickle (80 02). {FIX}')
    official = tmp_path / 'detco_r50_d2.pkl'
    with open(official, 'wb') as f:  # as MoCo's / DetCo's convert-pretrain-to-detectron2.py
        pickle.dump({'model': {'stem.conv1.weight': np.zeros((64, 3, 7, 7), np.float32)},
                     '__author__': 'OpenSelfSup', 'matching_heuristics': True}, f)
    cases['detectron2 pkl'] = (
        official, f"{official} is a detectron2 checkpoint (a pickle of numpy arrays under "
        f"'model', __author__ 'OpenSelfSup'), not a PyTorch checkpoint: it is already "
        f"converted, e.g. by this tool's --format detectron2 or MoCo's "
        f"convert-pretrain-to-detectron2.py. Load it in detectron2 directly (MODEL.WEIGHTS "
        f"{official}); for another format, run this tool on the DetCo checkpoint it was "
        f"exported from (work_dirs/<config>/epoch_N.pth).")
    raw = tmp_path / 'raw.pkl'
    with open(raw, 'wb') as f:
        pickle.dump({'conv1.weight': np.zeros(3, np.float32)}, f, protocol=2)
    cases['raw pickle'] = (raw, f'refusing to load {raw}: it is a raw Python pickle (it names ')
    archive = tmp_path / 'images.zip'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('images/a.jpg', b'jpeg')
    cases['zip archive'] = (archive, f'{archive} is a zip archive without data.pkl (1 file: '
                            f'images/a.jpg), not a file written by torch.save. {FIX}')
    lfs = tmp_path / 'epoch_200.pth'
    lfs.write_text('version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n')
    cases['git lfs pointer'] = (lfs, f'{lfs} is a Git LFS pointer (63 bytes of text), not the '
                                f'checkpoint itself: fetch it with `git lfs pull` (or download '
                                f'the file), then export it.')
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    cases['empty'] = (empty, f'{empty} is empty (0 bytes), not a PyTorch checkpoint. {FIX}')
    return cases


INPUT_CASES = ['text', 'random bytes', 'detectron2 pkl', 'raw pickle', 'zip archive',
               'git lfs pointer', 'empty']


def unwritable_dir():
    """A directory that even root cannot create files in (sysfs), or None."""
    if not osp.isdir('/sys'):
        return None
    try:
        open('/sys/detco_probe.pth', 'wb').close()
    except OSError:
        return '/sys'
    os.remove('/sys/detco_probe.pth')
    return None
