"""CSV and JSON forms of the benchmark tables, for scripts and spreadsheets.

CSV: one line per (table row, metric column) -- ``row`` is ``paper`` or ``ours``; our rows carry
the trial count, mean, sample std and the difference to the paper's DetCo; rows of runs without
a complete result carry their status and reason. JSON: the same tables with every trial's
values, the metric keys they were read from and the run names. Percent throughout; means and
standard deviations with 4 decimals, differences with 1 (taken from the printed mean).
"""
import csv
import io
import json
from decimal import Decimal
from typing import Dict, List, Optional, Sequence

from .markdown import format_delta
from .runs import Run
from .tables import Table, round1

FOUR_DECIMALS = Decimal('0.0001')
CSV_FIELDS = ('benchmark', 'title', 'row', 'method', 'weights', 'trials', 'status', 'column',
              'value', 'std', 'delta_vs_paper_detco', 'runs', 'notes')


def _number(value: Optional[Decimal]) -> Optional[float]:
    return None if value is None else float(value.quantize(FOUR_DECIMALS))


def _text(value: Optional[Decimal]) -> str:
    return '' if value is None else str(value.quantize(FOUR_DECIMALS))


def render_csv(tables: Sequence[Table]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    for table in tables:
        base = dict(benchmark=table.benchmark.key, title=table.benchmark.title)
        for paper in table.paper_lines:
            for column in table.columns:
                value = paper.values[column.name]
                writer.writerow(dict(base, row='paper', method=paper.label, column=column.name,
                                     value='' if value is None else f'{value:.1f}'))
        for row in table.our_rows:
            for column in table.columns:
                name = column.name
                writer.writerow(dict(
                    base, row='ours', method='ours', weights=row.weights, trials=row.trials,
                    status='finished', column=name, value=_text(row.mean[name]),
                    std=_text(row.std[name]), delta_vs_paper_detco=format_delta(row.delta[name]),
                    runs=';'.join(r.name for r in row.runs), notes='; '.join(row.notes)))
        for problem in table.problem_rows:
            for column in table.columns:
                writer.writerow(dict(
                    base, row='ours', method='ours', weights=problem.weights, trials=0,
                    status=problem.status, column=column.name,
                    value=_text(problem.values.get(column.name)), runs=problem.run.name,
                    notes='; '.join([problem.reason] + problem.notes)))
    return out.getvalue()


def _table_dict(table: Table) -> Dict:
    benchmark = table.benchmark
    names = [c.name for c in table.columns]
    return {
        'key': benchmark.key,
        'title': benchmark.title,
        'task': benchmark.task.key,
        'schedule_iters': benchmark.schedule.iters,
        'schedule_epochs': benchmark.schedule.epochs,
        'paper_table': table.paper_table.number if table.paper_table else None,
        'paper_columns': table.paper_columns or None,
        'columns': [{'name': c.name, 'metric_keys': [s.key for s in c.sources]}
                    for c in table.columns],
        'reference': table.reference.label if table.reference else None,
        'paper_rows': [{'method': p.label, 'values': {n: p.values[n] for n in names}}
                       for p in table.paper_lines],
        'our_rows': [{
            'weights': row.weights,
            'train_data': row.train_data,
            'total_batch': row.total_batch,
            'train_loop': row.train_loop,
            'lr_schedule': list(row.lr_schedule),
            'trials': row.trials,
            'mean': {n: _number(row.mean[n]) for n in names},
            'std': {n: _number(row.std[n]) for n in names},
            'rounded_mean': {n: float(round1(row.mean[n])) for n in names},
            'delta_vs_reference': {n: _number(row.delta[n]) for n in names},
            'notes': row.notes,
            'runs': [{
                'name': run.name,
                'launch': run.launch.name if run.launch else None,
                'values': {n: _number(row.values[n][i]) for n in names},
                'metric_keys': {n: row.keys[n][i] for n in names},
            } for i, run in enumerate(row.runs)],
        } for row in table.our_rows],
        'problem_runs': [{
            'name': p.run.name,
            'launch': p.run.launch.name if p.run.launch else None,
            'weights': p.weights,
            'status': p.status,
            'reason': p.reason,
            'values': {n: _number(p.values.get(n)) for n in names},
            'notes': p.notes,
        } for p in table.problem_rows],
    }


def render_json(tables: Sequence[Table], unplaced: Sequence[Run], roots: Sequence[str],
                paper_source: str) -> str:
    data = {
        'generated_by': 'tools/benchmark_table.py',
        'units': 'percent',
        'paper': paper_source,
        'roots': list(roots),
        'benchmarks': [_table_dict(t) for t in tables],
        'runs_in_no_table': [{
            'name': run.name,
            'status': run.status,
            'reason': run.reason,
            'unrecognised': run.setting.unrecognised if run.setting else None,
        } for run in unplaced],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + '\n'


__all__: List[str] = ['render_csv', 'render_json', 'CSV_FIELDS']
