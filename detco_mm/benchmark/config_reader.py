"""Read the config an MMEngine run dumped, without executing it.

MMEngine writes the fully merged config of every launch to ``<work_dir>/<timestamp>/vis_data/
config.py`` (and of the latest launch to ``<work_dir>/<config name>.py``): one assignment per
top-level variable, built from ``dict(...)`` calls and literals. The benchmark table only needs a
few of those variables, and work dirs may come from other machines, so the file is parsed with
:mod:`ast` and only literals, ``dict(...)`` calls and names of earlier variables are evaluated.
A variable whose value uses anything else is left out (and reported by :func:`read_config` in
``skipped``) instead of running its code.
"""
import ast
from typing import Any, Dict, List, Tuple


class ConfigReadError(ValueError):
    """The file is not a readable Python config."""


class _Unsupported(Exception):
    pass


_BUILTIN_CALLS = {'dict': dict, 'list': list, 'tuple': tuple, 'set': set}


def _evaluate(node: ast.AST, names: Dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):  # {**other}
            raise _Unsupported('dict unpacking')
        return {_evaluate(k, names): _evaluate(v, names) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.List):
        return [_evaluate(e, names) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(e, names) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_evaluate(e, names) for e in node.elts}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, names)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Unsupported('unary operator on a non-number')
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _BUILTIN_CALLS and node.func.id not in names):
        if node.func.id == 'dict':
            if node.args or any(kw.arg is None for kw in node.keywords):
                raise _Unsupported('dict() with positional or ** arguments')
            return {kw.arg: _evaluate(kw.value, names) for kw in node.keywords}
        if node.keywords or len(node.args) > 1:
            raise _Unsupported(f'{node.func.id}() with several arguments')
        args = [_evaluate(a, names) for a in node.args]
        return _BUILTIN_CALLS[node.func.id](*args)
    raise _Unsupported(type(node).__name__)


def parse_config(text: str, filename: str = '<config>') -> Tuple[Dict[str, Any], List[str]]:
    """Top-level variables of a dumped config, and the names that could not be evaluated."""
    try:
        tree = ast.parse(text, filename=filename)
    except (SyntaxError, ValueError) as e:
        line = f' (line {e.lineno})' if getattr(e, 'lineno', None) else ''
        raise ConfigReadError(f'{filename} is not valid Python{line}') from None
    names: Dict[str, Any] = {}
    skipped: List[str] = []
    for statement in tree.body:
        if not isinstance(statement, ast.Assign):
            continue
        targets = [t.id for t in statement.targets if isinstance(t, ast.Name)]
        if len(targets) != len(statement.targets):
            continue
        try:
            value = _evaluate(statement.value, names)
        except (_Unsupported, TypeError, ValueError, RecursionError):
            skipped.extend(targets)
            for target in targets:
                names.pop(target, None)
            continue
        for target in targets:
            names[target] = value
    return names, skipped


def read_config(path: str, name: str = '') -> Tuple[Dict[str, Any], List[str]]:
    """:func:`parse_config` of a file (``ConfigReadError``, naming it ``name``, if unreadable)."""
    name = name or path
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigReadError(f'cannot read {name}: {type(e).__name__}') from None
    return parse_config(text, name)
