"""tools/dataset_converters/coco_subset.py, the command line over detco_mm.datasets.coco_subset
(tested in tests/test_datasets/test_coco_subset.py): several percents at once, the lines it
prints, ``--out``, and its errors as exit messages."""
import json

import pytest

from conftest import load_tool
from detection_data import write_coco_train_with_info


@pytest.fixture
def coco(tmp_path):
    """A 40-image COCO train2017 with licenses and info, as the real file has them."""
    return write_coco_train_with_info(str(tmp_path / 'coco'))


def load(path):
    with open(path) as f:
        return json.load(f)


def _script():
    return load_tool('dataset_converters/coco_subset.py')


def test_command_line(coco, tmp_path, capsys):
    script = _script()
    script.main([coco, '--percent', '1', '2', '5', '10', '--seed', '7'])
    lines = capsys.readouterr().out.splitlines()
    stem = coco[:-len('.json')]
    assert lines[0] == (f'wrote {stem}_1pct_seed7.json: 1 of 40 images, '
                        f'{len(load(f"{stem}_1pct_seed7.json")["annotations"])} of '
                        f'{len(load(coco)["annotations"])} annotations (1 %, seed 7)')
    assert [line.split(':')[0] for line in lines] == [
        f'wrote {stem}_{p}pct_seed7.json' for p in (1, 2, 5, 10)]
    assert [len(load(f'{stem}_{p}pct_seed7.json')['images']) for p in (1, 2, 5, 10)] == [
        1, 1, 2, 4]
    script.main([coco, '--percent', '10', '--seed', '7'])
    assert capsys.readouterr().out.startswith(f'unchanged (identical) {stem}_10pct_seed7.json: '
                                              f'4 of 40 images')
    out = str(tmp_path / 'x' / 'mine.json')
    script.main([coco, '--percent', '2.5', '--out', out])
    assert len(load(out)['images']) == 1 and load(out)['info']['subset']['percent'] == 2.5
    with pytest.raises(SystemExit) as e:
        script.main([coco, '--percent', '5', '--seed', '8', '--out', out])
    assert str(e.value).startswith(f'coco_subset.py: {out} exists and is not the 5 % subset')
    with pytest.raises(SystemExit) as e:
        script.main([str(tmp_path / 'none.json'), '--percent', '5'])
    assert str(e.value) == (f'coco_subset.py: {tmp_path / "none.json"}: no such annotation file '
                            f'(COCO instances json, e.g. '
                            f'data/coco/annotations/instances_train2017.json)')
    with pytest.raises(SystemExit):  # argparse: --out with several percents
        script.main([coco, '--percent', '1', '2', '--out', out])
    assert '--out names one file' in capsys.readouterr().err
