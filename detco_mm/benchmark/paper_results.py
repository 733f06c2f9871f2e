"""The paper's reported numbers, loaded from the one data file that holds them.

``tools/benchmark_data/paper_results.json`` transcribes tables 3-7 and 13 of the paper
(arXiv v1): per table its title, the paper's column headers, one column id per metric column
and the rows (method, pre-training epochs where the table has them, values in percent; ``null``
where the paper prints '-'). :func:`load_paper_results` checks that shape, so a typo in the
data file is an error that names the table and row, not a wrong table.
"""
import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


class PaperDataError(ValueError):
    """The paper data file does not have the expected shape."""


@dataclass(frozen=True)
class PaperRow:
    method: str
    epochs: Optional[int]
    values: Dict[str, Optional[float]]  # column id -> percent


@dataclass(frozen=True)
class PaperTable:
    number: str
    title: str
    header: Tuple[str, ...]
    columns: Tuple[str, ...]
    rows: Tuple[PaperRow, ...]

    def find(self, method: str, epochs: Optional[int] = None) -> Optional[PaperRow]:
        for row in self.rows:
            if row.method == method and (epochs is None or row.epochs == epochs):
                return row
        return None

    def column_group(self, column_id: str) -> str:
        """The paper's header word for a column group, e.g. 'FPN' for 'fpn_bbox_AP'."""
        offset = len(self.header) - len(self.columns)
        return self.header[offset + self.columns.index(column_id)].split(' ')[0]


@dataclass(frozen=True)
class PaperResults:
    source: str
    tables: Dict[str, PaperTable]


def _number(value, where: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PaperDataError(f'{where}: {value!r} is not a number or null')
    if not 0 <= value <= 100:
        raise PaperDataError(f'{where}: {value!r} is not a percentage')
    return float(value)


def parse_paper_results(data: dict, name: str = 'paper data') -> PaperResults:
    if not isinstance(data, dict) or not isinstance(data.get('tables'), dict):
        raise PaperDataError(f'{name}: expected an object with "tables"')
    tables = {}
    for number, table in data['tables'].items():
        where = f'{name}, table {number}'
        try:
            columns = tuple(table['columns'])
            header = tuple(table['header'])
            rows: List[PaperRow] = []
            for i, row in enumerate(table['rows']):
                values = row['values']
                if len(values) != len(columns):
                    raise PaperDataError(f'{where}, row {i} ({row.get("method")}): '
                                         f'{len(values)} values for {len(columns)} columns')
                epochs = row.get('epochs')
                if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)):
                    raise PaperDataError(f'{where}, row {i}: epochs {epochs!r} is not an integer')
                rows.append(PaperRow(
                    str(row['method']), epochs,
                    {c: _number(v, f'{where}, row {i}, {c}') for c, v in zip(columns, values)}))
            if len(set(columns)) != len(columns):
                raise PaperDataError(f'{where}: duplicate column ids')
            if len(header) < len(columns):
                raise PaperDataError(f'{where}: fewer header cells than columns')
            tables[str(number)] = PaperTable(str(number), str(table['title']), header, columns,
                                             tuple(rows))
        except (KeyError, TypeError) as e:
            raise PaperDataError(f'{where}: malformed ({type(e).__name__}: {e})') from None
    return PaperResults(str(data.get('source', '')), tables)


def load_paper_results(path: str) -> PaperResults:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise PaperDataError(f'cannot read the paper data file {path}: {e}') from None
    return parse_paper_results(data, path)
