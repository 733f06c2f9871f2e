"""The whole pipeline of ``tools/benchmark_table.py`` over work dirs, as one call.

:func:`build_report` reads the runs (:func:`~.runs.read_runs`), leaves out those that never
trained, builds the tables with the paper's rows (:func:`~.tables.build_tables`) and renders the
markdown (:func:`~.markdown.render_markdown`); the CSV and JSON renderings of the same tables
are methods of the result.
"""
import os.path as osp
from dataclasses import dataclass
from typing import List, Sequence

from .export import render_csv, render_json
from .markdown import render_markdown
from .paper_results import PaperResults
from .runs import NEVER_TRAINED, Run, read_runs
from .tables import Table, build_tables


@dataclass
class BenchmarkReport:
    """The benchmark tables of some work dirs.

    Attributes:
        roots (List[str]): The work dirs' names (their basenames), as the outputs name them.
        paper (PaperResults): The paper's reference numbers.
        found (List[Run]): Every run read, those that never trained included.
        runs (List[Run]): The runs that trained (the ones the tables are built from).
        tables (List[Table]): One table per benchmark, in output order.
        unplaced (List[Run]): Runs that belong to no table.
        markdown (str): The tables as markdown.
    """
    roots: List[str]
    paper: PaperResults
    found: List[Run]
    runs: List[Run]
    tables: List[Table]
    unplaced: List[Run]
    markdown: str

    @property
    def never_trained(self) -> List[Run]:
        """List[Run]: The runs left out: every launch failed before its first iteration."""
        return [run for run in self.found if run.status == NEVER_TRAINED]

    def csv(self) -> str:
        """str: The tables' rows as CSV (:func:`~.export.render_csv`)."""
        return render_csv(self.tables)

    def json(self) -> str:
        """str: The tables, the unplaced runs and the sources as JSON
        (:func:`~.export.render_json`)."""
        return render_json(self.tables, self.unplaced, self.roots, self.paper.source)


def build_report(work_dirs: Sequence[str], paper: PaperResults,
                 measured_only: bool = False) -> BenchmarkReport:
    """Read the runs under ``work_dirs`` and build their tables.

    Args:
        work_dirs (Sequence[str]): Directories holding one MMEngine work dir per run.
        paper (PaperResults): The paper's numbers (:func:`~.paper_results.load_paper_results`).
        measured_only (bool): Only the benchmarks our runs measured, not every paper table.
            Defaults to False.

    Returns:
        BenchmarkReport: The runs, the tables and their markdown.
    """
    found = read_runs(list(work_dirs))
    runs = [run for run in found if run.status != NEVER_TRAINED]
    tables, unplaced = build_tables(runs, paper, measured_only=measured_only)
    roots = [osp.basename(osp.abspath(w)) for w in work_dirs]
    return BenchmarkReport(roots, paper, found, runs, tables, unplaced,
                           render_markdown(tables, unplaced, len(runs), roots))
