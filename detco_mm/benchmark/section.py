"""Rewrite the generated section of a markdown file in place, between two comment markers.

Only the text between the end of the start marker and the start of the end marker changes;
every byte outside (the markers included) stays as it is. The section is written as
``<start marker>\\n<text>\\n<end marker>``, with the file's own line ending (CRLF if it uses it).
"""
from typing import Tuple

START_MARKER = '<!-- detco-benchmark:start -->'
END_MARKER = '<!-- detco-benchmark:end -->'


class SectionError(ValueError):
    """The file has no usable marker pair."""


def replace_section(text: str, content: str, name: str = 'the file') -> str:
    starts, ends = text.count(START_MARKER), text.count(END_MARKER)
    if starts == 0 or ends == 0:
        missing = ' and '.join(m for m, n in ((START_MARKER, starts), (END_MARKER, ends)) if not n)
        raise SectionError(
            f'{name} has no {missing}. Add these two lines where the benchmark tables should '
            f'go:\n\n{START_MARKER}\n{END_MARKER}\n')
    if starts > 1 or ends > 1:
        raise SectionError(f'{name} has {starts} start and {ends} end markers; keep exactly one '
                           f'{START_MARKER} and one {END_MARKER}')
    begin = text.index(START_MARKER) + len(START_MARKER)
    end = text.index(END_MARKER)
    if end < begin:
        raise SectionError(f'{name}: {END_MARKER} comes before {START_MARKER}')
    newline = '\r\n' if '\r\n' in text else '\n'
    body = content.rstrip('\n').replace('\r\n', '\n')
    block = newline + body.replace('\n', newline) + newline
    return text[:begin] + block + text[end:]


def update_file(path: str, content: str) -> Tuple[bool, str]:
    """Rewrite the section of ``path``; return (changed, new text). Writes only on change."""
    with open(path, encoding='utf-8', newline='') as f:
        text = f.read()
    new = replace_section(text, content, path)
    if new == text:
        return False, text
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write(new)
    return True, new
