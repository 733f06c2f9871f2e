"""The paper's downstream benchmarks (paper sec. 4, tables 3-7 and 13) as table definitions.

A *task* is a detector + head + data set (e.g. Mask R-CNN R50-FPN on COCO); a *benchmark* is a
task at one schedule (e.g. 1x = 90k iterations), one table in the output. For each task this
file says how to recognise its runs (model type, FPN neck or C4 ``roi_head.shared_head``, data
set type), which metrics MMDetection logs for each column, and, per paper schedule, which
table and columns of the paper data file (``tools/benchmark_data/paper_results.json``) hold the
reference rows. No result number lives here: they are all in the data file.

Metric scale: MMDetection's ``CocoMetric``, ``VOCMetric`` and ``CityScapesMetric`` log AP as a
fraction in [0, 1]; the paper prints percent. Values are multiplied by 100 when read.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class Source:
    """One way to read a column from a run's final evaluation.

    Args:
        key: the scalar key MMEngine logs (``<metric prefix>/<name>``), a fraction in [0, 1].
        note: shown beside the value when this source is a fallback for the paper's protocol.
        needs_voc_iou_range: the key is ``pascal_voc/mAP`` and counts as COCO-style AP only
            when the run evaluated the ten IoU thresholds 0.50:0.05:0.95 (it then also logs
            ``pascal_voc/AP50`` ... ``pascal_voc/AP95``); with the default ``iou_thrs=[0.5]``
            it is AP50.
    """
    key: str
    note: str = ''
    needs_voc_iou_range: bool = False


@dataclass(frozen=True)
class Column:
    """A metric column: its header, its column id in the paper data file, its sources."""
    name: str
    paper: str
    sources: Tuple[Source, ...]
    missing_hint: str = ''


@dataclass(frozen=True)
class PaperRef:
    """Where a benchmark's reference rows are in the paper data file."""
    table: str
    column_prefix: str


@dataclass(frozen=True)
class Task:
    key: str
    title: str
    model_type: str
    head: str  # 'fpn' or 'c4'
    dataset_type: str
    columns: Tuple[Column, ...]
    paper: Dict[int, PaperRef] = field(default_factory=dict)  # schedule iterations -> ref
    # (method, pre-training epochs or None) of the paper rows to show, in order
    methods: Tuple[Tuple[str, Optional[int]], ...] = ()
    reference: Tuple[str, Optional[int]] = ('DetCo', None)
    paper_batch: Optional[int] = None
    # epoch-based schedules that stand for the paper's iteration schedules: MMDetection's
    # COCO "1x" / "2x" are 12 / 24 epochs, detectron2's (the paper's) 90k / 180k iterations
    # at batch 16 (12 epochs of COCO train2017 at batch 16 are 87,960 iterations).
    epoch_schedules: Dict[int, int] = field(default_factory=dict)


def _coco(name: str, paper: str, key: str) -> Column:
    return Column(name, paper, (Source(key), ))


COCO_BOX = (
    _coco('AP^bb', 'bbox_AP', 'coco/bbox_mAP'),
    _coco('AP^bb_50', 'bbox_AP50', 'coco/bbox_mAP_50'),
    _coco('AP^bb_75', 'bbox_AP75', 'coco/bbox_mAP_75'),
)
COCO_MASK = (
    _coco('AP^mk', 'segm_AP', 'coco/segm_mAP'),
    _coco('AP^mk_50', 'segm_AP50', 'coco/segm_mAP_50'),
    _coco('AP^mk_75', 'segm_AP75', 'coco/segm_mAP_75'),
)
RETINANET = (
    _coco('AP', 'AP', 'coco/bbox_mAP'),
    _coco('AP50', 'AP50', 'coco/bbox_mAP_50'),
    _coco('AP75', 'AP75', 'coco/bbox_mAP_75'),
)
_VOC_COCO_NOTE = 'from CocoMetric (the paper uses the VOC evaluator)'
VOC = (
    Column('AP', 'AP', (Source('pascal_voc/mAP', needs_voc_iou_range=True),
                        Source('coco/bbox_mAP', _VOC_COCO_NOTE)),
           missing_hint='COCO-style AP needs VOCMetric(iou_thrs=[0.5, 0.55, ..., 0.95]); '
           'with the default iou_thrs=[0.5] pascal_voc/mAP is AP50'),
    Column('AP50', 'AP50', (Source('pascal_voc/AP50'), Source('coco/bbox_mAP_50',
                                                              _VOC_COCO_NOTE))),
    Column('AP75', 'AP75', (Source('pascal_voc/AP75'), Source('coco/bbox_mAP_75',
                                                              _VOC_COCO_NOTE))),
)
_CITYSCAPES_COCO_NOTE = 'COCO-style mask AP (the paper uses the Cityscapes evaluator)'
CITYSCAPES = (
    Column('AP^mk', 'segm_AP', (Source('cityscapes/mAP'),
                                Source('coco/segm_mAP', _CITYSCAPES_COCO_NOTE))),
    Column('AP^mk_50', 'segm_AP50', (Source('cityscapes/AP@50'),
                                     Source('coco/segm_mAP_50', _CITYSCAPES_COCO_NOTE))),
)

_COCO_METHODS = (('Supervised', None), ('MoCov2', None), ('DetCo', None), ('DetCo+AA', None))
_COCO_EPOCHS = {12: 90000, 24: 180000}

TASKS: Tuple[Task, ...] = (
    Task('voc_faster_rcnn_c4', 'VOC07+12 Faster R-CNN R50-C4', 'FasterRCNN', 'c4',
         'VOCDataset', VOC, {24000: PaperRef('6', '')},
         methods=(('Supervised', 90), ('MoCov2', 200), ('MoCov2', 800), ('DetCo', 100),
                  ('DetCo', 200), ('DetCo', 800)),
         reference=('DetCo', 200), paper_batch=16),
    Task('coco_mask_rcnn_c4', 'COCO Mask R-CNN R50-C4', 'MaskRCNN', 'c4', 'CocoDataset',
         COCO_BOX + COCO_MASK,
         {12000: PaperRef('3', 'c4_'), 90000: PaperRef('4', 'c4_'),
          180000: PaperRef('13', 'c4_')}, methods=_COCO_METHODS, paper_batch=16,
         epoch_schedules=_COCO_EPOCHS),
    Task('coco_mask_rcnn_fpn', 'COCO Mask R-CNN R50-FPN', 'MaskRCNN', 'fpn', 'CocoDataset',
         COCO_BOX + COCO_MASK,
         {12000: PaperRef('3', 'fpn_'), 90000: PaperRef('4', 'fpn_'),
          180000: PaperRef('13', 'fpn_')}, methods=_COCO_METHODS, paper_batch=16,
         epoch_schedules=_COCO_EPOCHS),
    Task('coco_retinanet', 'COCO RetinaNet R50-FPN', 'RetinaNet', 'fpn', 'CocoDataset', RETINANET,
         {12000: PaperRef('5', 'rn12k_'), 90000: PaperRef('5', 'rn90k_'),
          180000: PaperRef('5', 'rn180k_')}, methods=_COCO_METHODS, paper_batch=16,
         epoch_schedules=_COCO_EPOCHS),
    Task('cityscapes_mask_rcnn_fpn', 'Cityscapes Mask R-CNN R50-FPN (instance seg.)', 'MaskRCNN',
         'fpn', 'CityscapesDataset', CITYSCAPES, {24000: PaperRef('7', '')},
         methods=(('Supervised', None), ('MoCov2', None), ('DetCo', None)), paper_batch=8),
)
TASKS_BY_KEY = {task.key: task for task in TASKS}

SCHEDULE_NAMES = {12000: '12k', 24000: '24k', 90000: '1x', 180000: '2x'}


@dataclass(frozen=True, order=True)
class Schedule:
    """A training length: iterations, or epochs when the iterations per epoch are unknown."""
    iters: Optional[int] = None
    epochs: Optional[int] = None

    @property
    def slug(self) -> str:
        if self.iters is None:
            return f'{self.epochs}ep'
        return SCHEDULE_NAMES.get(self.iters, f'{self.iters}iters')

    @property
    def label(self) -> str:
        if self.iters is None:
            return f'{self.epochs} epochs'
        if self.iters in (90000, 180000):
            return f'{SCHEDULE_NAMES[self.iters]} ({self.iters // 1000}k iters)'
        if self.iters in SCHEDULE_NAMES:
            return f'{SCHEDULE_NAMES[self.iters]} iters'
        return f'{self.iters} iters'

    def sort_key(self) -> Tuple[int, int]:
        return (0, self.iters) if self.iters is not None else (1, self.epochs or 0)


@dataclass(frozen=True)
class Benchmark:
    """One output table: a task at one schedule."""
    task: Task
    schedule: Schedule

    @property
    def key(self) -> str:
        return f'{self.task.key}_{self.schedule.slug}'

    @property
    def title(self) -> str:
        return f'{self.task.title}, {self.schedule.label}'

    @property
    def paper_ref(self) -> Optional[PaperRef]:
        if self.schedule.iters is None:
            return None
        return self.task.paper.get(self.schedule.iters)

    def sort_key(self):
        return (TASKS.index(self.task), self.schedule.sort_key())


def paper_benchmarks() -> Tuple[Benchmark, ...]:
    """Every benchmark the paper reports, in output order."""
    return tuple(Benchmark(task, Schedule(iters)) for task in TASKS for iters in sorted(task.paper))
