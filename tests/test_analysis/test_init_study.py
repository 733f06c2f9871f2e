"""detco_mm.analysis.init_study: what an interrupted or changed study does with finished steps,
and the plot. (The study itself takes an hour and more; tests/test_tools/test_demo.py runs the
same pre-training / fine-tuning / comparison steps at tiny sizes.)"""
import pytest

from detco_mm.analysis.init_study import _done, _mark_done, ann_file_of, render_png
from detco_mm.demo.experiment import ComparisonRow


def test_finished_steps_are_reused_only_with_the_same_options(tmp_path):
    options = dict(pretrain=['optimizer.lr=0.06'], finetune=[])
    assert not _done(str(tmp_path), options)
    _mark_done(str(tmp_path), dict(method='detco', seed=0, options=options))
    assert _done(str(tmp_path), options)
    with pytest.raises(ValueError, match='was made with other options .* use another '
                       '--work-root for other settings, or delete'):
        _done(str(tmp_path), dict(pretrain=[], finetune=[]))
    assert not list(tmp_path.glob('.*part'))  # written by rename


def test_label_budgets_and_plot():
    assert ann_file_of(40) == 'annotations/instances_train2017_40.json'
    assert ann_file_of(None) == 'annotations/instances_train2017.json'
    rows = [ComparisonRow(init, ann_file_of(b), 2, {'AP': m}, {'AP': 1.0}, {'AP': [m - 1, m + 1]},
                          {'AP': None}, {'AP': None})
            for b in (40, 400) for init, m in (('random', 20.0), ('mocov2', 25.0),
                                               ('detco', 27.0))]
    png = render_png(rows)
    assert png.startswith(b'\x89PNG') and len(png) > 10000
    assert render_png(rows) == png  # no date in it
