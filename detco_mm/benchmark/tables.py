"""Benchmark tables: the paper's reference rows beside ours, trials aggregated.

Per benchmark (task + schedule): the paper rows named by the task (supervised, MoCo v2, DetCo,
DetCo+AA where the paper has it), then one row per pre-trained weights of ours with the mean
and sample standard deviation over its trials and the difference of the rounded mean to the
paper's DetCo, then one row per run that has no complete result (crashed, unfinished, not
evaluated, metrics missing) with the reason. Runs that never trained (:data:`.runs.NEVER_TRAINED`:
launches that failed before their first iteration) are in no table; the caller lists them.

Trials of one row share the benchmark, the pre-trained weights, the training annotation
file(s) and subset, the total batch and the training schedule in detail (loop type and length,
``param_scheduler``): runs that differ in any of these are rows of their own, and where rows of
the same weights differ, each row's notes name its value of the setting that tells them apart.

Numbers are :class:`~decimal.Decimal` percentages: a logged fraction ``0.395`` becomes exactly
``39.5``, means are rounded half up to one decimal as the paper prints them, and the delta is
taken from the rounded mean, so that the table's own numbers add up.
"""
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Dict, List, Optional, Sequence, Tuple

from .paper_results import PaperResults, PaperTable
from .runs import FINISHED, NEVER_TRAINED, Run
from .tasks import Benchmark, Column, paper_benchmarks

ONE_DECIMAL = Decimal('0.1')
PAPER_BACKBONE = 'ResNet-50'

INCOMPLETE = 'incomplete'
NO_METRIC = 'no metric'


def percent(value: float) -> Decimal:
    return Decimal(repr(float(value))) * 100


def round1(value: Decimal) -> Decimal:
    return value.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass
class Reading:
    """A column's value in one run's final evaluation, or why there is none."""
    value: Optional[Decimal] = None
    key: str = ''
    note: str = ''
    missing: str = ''


def read_column(metrics: Dict[str, float], column: Column) -> Reading:
    problems = []
    for source in column.sources:
        if source.key not in metrics:
            continue
        raw = metrics[source.key]
        if source.needs_voc_iou_range:
            prefix = 'pascal_voc/AP'  # VOCMetric logs AP50 ... AP95 with several iou_thrs
            thresholds = sorted(int(k[len(prefix):]) for k in metrics
                                if k.startswith(prefix) and k[len(prefix):].isdigit())
            if len(thresholds) != 10 or thresholds[0] != 50 or thresholds[-1] < 94:
                problems.append(column.missing_hint or f'{source.key} is not over IoU 0.5:0.95')
                continue
        if raw != raw or raw < 0 or raw > 1:  # NaN, COCO's -1 (no such objects), not a fraction
            problems.append(f'{source.key} is {raw!r}, not an AP in [0, 1]')
            continue
        return Reading(percent(raw), source.key, source.note)
    if not problems:
        keys = ' or '.join(s.key for s in column.sources)
        problems.append(f'no {keys} in its final evaluation')
    return Reading(missing=problems[0])


@dataclass
class PaperLine:
    label: str
    values: Dict[str, Optional[float]]  # column name -> percent
    is_reference: bool = False


@dataclass
class OurRow:
    weights: str
    runs: List[Run]
    values: Dict[str, List[Decimal]]  # column name -> one value per trial, as in ``runs``
    keys: Dict[str, List[str]] = field(default_factory=dict)  # the metric key each was read from
    mean: Dict[str, Decimal] = field(default_factory=dict)
    std: Dict[str, Optional[Decimal]] = field(default_factory=dict)
    delta: Dict[str, Optional[Decimal]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    train_data: str = ''  # the training annotation file(s): runs on other labels are other rows
    total_batch: Optional[int] = None
    train_loop: str = ''  # loop type and length (:attr:`.recognise.Setting.train_loop`)
    lr_schedule: Tuple[str, ...] = ()  # ``param_scheduler`` (:func:`.recognise.lr_schedule_of`)

    @property
    def trials(self) -> int:
        return len(self.runs)


@dataclass
class ProblemRow:
    run: Run
    weights: str
    status: str
    reason: str
    values: Dict[str, Optional[Decimal]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


@dataclass
class Table:
    benchmark: Benchmark
    columns: Tuple[Column, ...]
    paper_table: Optional[PaperTable] = None
    paper_columns: str = ''  # e.g. 'FPN' when the paper table has several column groups
    paper_lines: List[PaperLine] = field(default_factory=list)
    reference: Optional[PaperLine] = None
    our_rows: List[OurRow] = field(default_factory=list)
    problem_rows: List[ProblemRow] = field(default_factory=list)

    @property
    def has_runs(self) -> bool:
        return bool(self.our_rows or self.problem_rows)


def paper_label(method: str, epochs: Optional[int]) -> str:
    return f'{method}, {epochs} ep (paper)' if epochs is not None else f'{method} (paper)'


def _paper_part(table: Table, paper: PaperResults) -> None:
    ref = table.benchmark.paper_ref
    if ref is None:
        return
    if ref.table not in paper.tables:
        raise KeyError(f'the paper data file has no table {ref.table}')
    data = paper.tables[ref.table]
    table.paper_table = data
    task = table.benchmark.task
    ids = {c.name: ref.column_prefix + c.paper for c in table.columns}
    missing = [i for i in ids.values() if i not in data.columns]
    if missing:
        raise KeyError(f'table {ref.table} of the paper data file has no column {missing[0]}')
    if ref.column_prefix:
        table.paper_columns = data.column_group(ids[table.columns[0].name])
    for method, epochs in task.methods:
        row = data.find(method, epochs)
        if row is None:
            raise KeyError(f'table {ref.table} of the paper data file has no row {method}'
                           + (f' ({epochs} ep)' if epochs else ''))
        line = PaperLine(paper_label(method, epochs),
                         {name: row.values[i] for name, i in ids.items()},
                         (method, epochs) == task.reference)
        table.paper_lines.append(line)
        if line.is_reference:
            table.reference = line


def _setting_notes(run: Run, benchmark: Benchmark) -> List[str]:
    """Where a run differs from the paper's protocol (only for the paper's schedules)."""
    if benchmark.paper_ref is None or run.setting is None:
        return []
    notes = []
    backbone = run.setting.backbone
    if backbone and backbone != PAPER_BACKBONE:
        notes.append(f'backbone {backbone} (paper: {PAPER_BACKBONE})')
    batch, paper_batch = run.total_batch, benchmark.task.paper_batch
    if batch is not None and paper_batch is not None and batch != paper_batch:
        notes.append(f'total batch {batch} (paper: {paper_batch})')
    return notes


def _unique(items) -> List[str]:
    seen = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


def _aggregate(row: OurRow, columns: Sequence[Column], reference: Optional[PaperLine]) -> None:
    n = row.trials
    for column in columns:
        values = row.values[column.name]
        mean = sum(values, Decimal(0)) / n
        row.mean[column.name] = mean
        if n > 1:
            variance = sum(((v - mean) ** 2 for v in values), Decimal(0)) / (n - 1)
            row.std[column.name] = variance.sqrt()
        else:
            row.std[column.name] = None
        paper_value = reference.values.get(column.name) if reference else None
        row.delta[column.name] = (round1(mean) - Decimal(repr(paper_value))
                                  if paper_value is not None else None)


def _distinguishing_notes(row_key: Tuple, twins: Sequence[Tuple]) -> List[str]:
    """Where rows of the same weights differ (labels, batch, schedule), this row's values."""
    _, train_data, batch, train_loop, lr_schedule = row_key
    notes = []
    if len({k[1] for k in twins}) > 1:
        notes.append(f'trained on {train_data or "?"}')
    if len({k[2] for k in twins}) > 1:
        notes.append(f'total batch {batch or "?"}')
    if len({k[3] for k in twins}) > 1:
        notes.append(f'schedule {train_loop or "?"}')
    if len({k[4] for k in twins}) > 1:
        # the schedulers this row has and some other row lacks (e.g. its lr steps)
        own = [s for s in lr_schedule if any(s not in k[4] for k in twins)]
        notes.append('lr schedule ' + ' + '.join(own or lr_schedule or ['constant']))
    return notes


def build_tables(runs: Sequence[Run], paper: PaperResults,
                 measured_only: bool = False) -> Tuple[List[Table], List[Run]]:
    """Tables in output order (every paper benchmark unless ``measured_only``, plus any other
    schedule our runs used), and the runs that belong to no table."""
    tables: Dict[str, Table] = {}
    for benchmark in paper_benchmarks():
        tables[benchmark.key] = Table(benchmark, benchmark.task.columns)
    unplaced: List[Run] = []
    # runs are trials of one row when weights, training labels, total batch and schedule match
    groups: Dict[str, Dict[Tuple, List[Tuple[Run, Dict[str, Reading]]]]] = {}
    for run in runs:
        if run.status == NEVER_TRAINED:
            continue
        setting = run.setting
        if setting is None or setting.benchmark is None:
            unplaced.append(run)
            continue
        benchmark = setting.benchmark
        table = tables.setdefault(benchmark.key, Table(benchmark, benchmark.task.columns))
        notes = _unique(run.notes + _setting_notes(run, benchmark))
        if run.status != FINISHED:
            table.problem_rows.append(ProblemRow(run, setting.weights, run.status, run.reason,
                                                 notes=notes))
            continue
        readings = {c.name: read_column(run.metrics, c) for c in table.columns}
        found = {name: r for name, r in readings.items() if r.value is not None}
        if len(found) < len(readings):
            status = INCOMPLETE if found else NO_METRIC
            reason = '; '.join(_unique(r.missing for r in readings.values() if r.missing))
            if not run.metrics:
                reason = 'its final evaluation logged no metrics'
            if not found and run.launch and run.launch.logged_error:
                reason += f' (its log: "{run.launch.logged_error}")'
            table.problem_rows.append(ProblemRow(
                run, setting.weights, status, reason,
                {name: r.value for name, r in readings.items()},
                _unique(notes + [r.note for r in found.values()])))
            continue
        row_key = (setting.weights, setting.train_data, run.total_batch or 0,
                   setting.train_loop, setting.lr_schedule)
        groups.setdefault(benchmark.key, {}).setdefault(row_key, []).append((run, readings))

    for key, table in tables.items():
        _paper_part(table, paper)
        row_keys = sorted(groups.get(key, {}))
        for row_key in row_keys:
            weights, train_data, batch, train_loop, lr_schedule = row_key
            trials = groups[key][row_key]
            row = OurRow(weights, [run for run, _ in trials],
                         {c.name: [readings[c.name].value for _, readings in trials]
                          for c in table.columns},
                         {c.name: [readings[c.name].key for _, readings in trials]
                          for c in table.columns},
                         train_data=train_data, total_batch=batch or None,
                         train_loop=train_loop, lr_schedule=lr_schedule)
            twins = [k for k in row_keys if k[0] == weights]
            row.notes = _unique(_distinguishing_notes(row_key, twins) + [
                n for run, readings in trials
                for n in run.notes + _setting_notes(run, table.benchmark)
                + [r.note for r in readings.values()]])
            _aggregate(row, table.columns, table.reference)
            table.our_rows.append(row)
        table.problem_rows.sort(key=lambda p: p.run.name)

    ordered = sorted(tables.values(), key=lambda t: t.benchmark.sort_key())
    if measured_only:
        ordered = [t for t in ordered if t.has_runs]
    return ordered, unplaced


__all__ = ['Table', 'OurRow', 'ProblemRow', 'PaperLine', 'build_tables', 'read_column', 'percent',
           'round1', 'paper_label']
