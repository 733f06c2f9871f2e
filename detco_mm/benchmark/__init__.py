"""Benchmark tables from finished fine-tune runs (``tools/benchmark_table.py``).

Data flows one way: work dirs -> :mod:`.runs` (launches, state, final evaluation; the config
read by :mod:`.config_reader` without running it) -> :mod:`.recognise` (benchmark, schedule,
weights; the benchmarks themselves are defined in :mod:`.tasks`) -> :mod:`.tables` (paper rows
from :mod:`.paper_results`, trials aggregated) -> :mod:`.markdown` / :mod:`.export` /
:mod:`.plot`, and :mod:`.section` rewrites the marked part of a README. :mod:`.report` runs the
whole flow over work dirs in one call (:func:`build_report`).
"""
from .config_reader import ConfigReadError, parse_config, read_config
from .export import render_csv, render_json
from .markdown import render_markdown
from .paper_results import PaperDataError, load_paper_results, parse_paper_results
from .plot import render_png
from .recognise import RANDOM_INIT, Setting, recognise
from .report import BenchmarkReport, build_report
from .runs import NEVER_TRAINED, Run, find_work_dirs, read_run, read_runs
from .section import END_MARKER, START_MARKER, SectionError, replace_section, update_file
from .tables import Table, build_tables
from .tasks import TASKS, Benchmark, Schedule, paper_benchmarks

__all__ = [
    'ConfigReadError', 'parse_config', 'read_config', 'render_csv', 'render_json',
    'render_markdown', 'PaperDataError', 'load_paper_results', 'parse_paper_results',
    'render_png', 'RANDOM_INIT', 'Setting', 'recognise', 'BenchmarkReport', 'build_report',
    'NEVER_TRAINED', 'Run',
    'find_work_dirs', 'read_run', 'read_runs', 'END_MARKER', 'START_MARKER', 'SectionError',
    'replace_section', 'update_file',
    'Table', 'build_tables', 'TASKS', 'Benchmark', 'Schedule', 'paper_benchmarks'
]
