"""PNG bar chart of a benchmark table: one group of bars per metric column.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend switch), the
paper's rows hatched and ours solid with the sample std as error bar. Only numbers of the table
are drawn: runs without a result have no bar. The PNG carries no date, so equal tables give
equal files.
"""
import io
from typing import Optional

from .tables import Table


def _short(weights: str) -> str:
    if '://' in weights:
        return weights
    parts = weights.replace('\\', '/').split('/')
    return '/'.join(parts[-2:])


def render_png(table: Table, dpi: int = 100) -> Optional[bytes]:
    """The chart as PNG bytes, or ``None`` when the table has no number to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [c.name for c in table.columns]
    series = []  # (label, heights, errors, is_paper)
    for paper in table.paper_lines:
        heights = [paper.values[n] for n in names]
        series.append((paper.label, heights, None, True))
    for row in table.our_rows:
        heights = [float(row.mean[n]) for n in names]
        errors = [float(row.std[n]) if row.std[n] is not None else 0.0 for n in names]
        series.append((f'ours: {_short(row.weights)} (n={row.trials})', heights,
                       errors if row.trials > 1 else None, False))
    if not series:
        return None

    width = max(6.0, 1.2 * len(names) + 3.0)
    figure = Figure(figsize=(width, 4.5), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    bar_width = 0.8 / len(series)
    colors = [f'C{i % 10}' for i in range(len(series))]
    for index, (label, heights, errors, is_paper) in enumerate(series):
        xs = [c + (index - (len(series) - 1) / 2) * bar_width for c in range(len(names))]
        values = [float('nan') if h is None else h for h in heights]
        axes.bar(xs, values, bar_width, label=label, color=colors[index],
                 alpha=0.55 if is_paper else 1.0, hatch='//' if is_paper else None,
                 yerr=errors, capsize=2 if errors else 0, edgecolor='black', linewidth=0.4)
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels(names)
    axes.set_ylabel('AP (%)')
    axes.set_title(table.benchmark.title)
    axes.grid(axis='y', linewidth=0.3)
    axes.set_axisbelow(True)
    axes.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', bbox_inches='tight', metadata={'Software': None})
    return buffer.getvalue()
