"""The paper's numbers (tools/benchmark_data/paper_results.json, read by
:mod:`detco_mm.benchmark.paper_results`): the frozen copy of the DetCo paper's tables (ICCV
2021, arXiv v1). Cells and whole rows are written out here, copied from the paper, so that a
corrupted or re-generated data file fails."""
import os.path as osp

import pytest

from detco_mm.benchmark import PaperDataError, load_paper_results, parse_paper_results

from conftest import REPO_ROOT

PAPER_DATA = osp.join(REPO_ROOT, 'tools', 'benchmark_data', 'paper_results.json')

# The DetCo row of every table the benchmarks use, as printed in the paper (arXiv v1), in the
# paper's column order; None is the paper's '-'.
DETCO_ROWS = {
    # Table 3, COCO 12k iters, Mask R-CNN: C4 box AP/50/75, mask AP/50/75, then FPN
    '3': [29.3, 48.4, 30.3, 26.5, 45.3, 27.3, 27.9, 46.9, 29.3, 26.0, 44.2, 26.9],
    # Table 4, COCO 90k (1x), Mask R-CNN: C4 then FPN
    '4': [39.4, 59.2, 42.3, 34.4, 55.7, 36.6, 39.5, 60.3, 43.1, 35.9, 56.9, 38.6],
    # Table 5, RetinaNet RN12k / RN90k / RN180k AP/50/75, Keypoint R-CNN 180k
    '5': [23.6, 38.7, 24.6, 38.0, 57.4, 40.7, 39.8, 59.5, 42.4, 67.2, 87.5, 73.4],
    # Table 7, Cityscapes: instance seg. AP^mk, AP^mk_50, semantic seg. mIoU
    '7': [34.7, 63.2, 76.5],
    # Table 13, COCO 180k (2x), Mask R-CNN: C4 then FPN
    '13': [41.4, 61.2, 44.7, 35.8, 57.8, 38.3, 41.5, 62.1, 45.6, 37.6, 59.2, 40.5],
}
# Table 6, VOC07+12 Faster R-CNN R50-C4: DetCo by pre-training epochs, AP / AP50 / AP75
DETCO_VOC = {100: [57.4, 82.5, 63.9], 200: [57.8, 82.6, 64.2], 800: [58.2, 82.7, 65.0]}


def test_paper_data_file_shape_and_hand_checked_cells():
    paper = load_paper_results(PAPER_DATA)
    assert sorted(paper.tables, key=int) == ['3', '4', '5', '6', '7', '13']
    for number, table in paper.tables.items():
        assert len(table.header) - len(table.columns) == (2 if number == '6' else 1)
        assert [r.method for r in table.rows][:2] == ['Rand Init', 'Supervised']
    t = paper.tables
    # cells copied by hand from the paper (arXiv v1), one or two per table
    assert t['3'].find('DetCo+AA').values['fpn_segm_AP75'] == 28.7
    assert t['3'].find('SwAV').values['c4_bbox_AP50'] == 35.2
    assert t['4'].find('DetCo').values['fpn_bbox_AP'] == 39.5
    assert t['4'].find('MoCov2').values['c4_segm_AP'] == 34.2
    assert t['5'].find('DetCo').values['rn90k_AP'] == 38.0
    assert t['5'].find('DetCo+AA').values['kp_AP'] is None
    assert t['5'].find('Supervised').values['rn180k_AP75'] == 41.5
    assert t['6'].find('DetCo', 800).values['AP75'] == 65.0
    assert t['6'].find('DetCo', 200).values['AP'] == 57.8
    assert t['6'].find('Rand Init').epochs is None
    assert t['7'].find('MoCov2').values['segm_AP50'] == 60.8
    assert t['13'].find('Supervised').values['c4_segm_AP'] == 34.7
    assert t['13'].find('DetCo').values['fpn_segm_AP'] == 37.6


def test_paper_data_file_has_the_papers_detco_rows():
    tables = load_paper_results(PAPER_DATA).tables
    for number, values in DETCO_ROWS.items():
        table = tables[number]
        assert [table.find('DetCo').values[c] for c in table.columns] == values, number
    # the RetinaNet 1x cells our RetinaNet 1x table compares with (Table 5, RN90k columns)
    rn90k = tables['5'].find('DetCo').values
    assert (rn90k['rn90k_AP'], rn90k['rn90k_AP50'], rn90k['rn90k_AP75']) == (38.0, 57.4, 40.7)
    voc = tables['6']
    assert voc.header == ('Method', 'Epoch', 'AP', 'AP50', 'AP75')
    for epochs, values in DETCO_VOC.items():
        assert [voc.find('DetCo', epochs).values[c] for c in voc.columns] == values, epochs
    assert [r.epochs for r in voc.rows if r.method == 'DetCo'] == sorted(DETCO_VOC)


def test_broken_paper_data_is_a_clear_error():
    with pytest.raises(PaperDataError, match=r'table 4, row 0 \(DetCo\): 2 values for 1 columns'):
        parse_paper_results({'tables': {'4': {
            'title': 't', 'header': ['Method', 'AP'], 'columns': ['AP'],
            'rows': [{'method': 'DetCo', 'values': [39.4, 1]}]}}})
