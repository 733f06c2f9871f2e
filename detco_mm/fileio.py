"""Writing a local file whole or not at all.

A file is written to a temporary sibling (same directory, so the same file system) and renamed
over its final name with ``os.replace``, atomic on POSIX: a reader, or a run killed mid-write,
sees either the previous file or the complete new one, never a truncated one. With
``fsync=True`` the data and the rename also survive a crash of the machine.
"""
import contextlib
import itertools
import os
import os.path as osp
import stat
from typing import IO, Any, Iterator, Optional

_CALLS = itertools.count()  # tells apart the temporaries of concurrent writes in one process


def temporary_name(path: str) -> str:
    """A hidden sibling of ``path`` for this process: ``.<name>.tmp-<pid>``.

    No checkpoint glob (``*.pth``) or annotation glob (``*.json``) matches it.

    Args:
        path (str): The final name.

    Returns:
        str: The temporary name, absolute.
    """
    directory, name = osp.split(osp.abspath(path))
    return osp.join(directory, f'.{name}.tmp-{os.getpid()}')


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened).

    Args:
        directory (str): The directory that holds the renamed file.
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_durably(tmp: str, path: str) -> None:
    """fsync the written file ``tmp``, rename it over ``path``, fsync the directory.

    Args:
        tmp (str): The complete file, a sibling of ``path``.
        path (str): The final name.
    """
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(osp.dirname(osp.abspath(path)))


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb', *, fsync: bool = False,
                 tmp: Optional[str] = None, **open_kwargs: Any) -> Iterator[IO]:
    """Open ``path`` for writing; it gets the written contents only if the block succeeds.

    The file object writes to ``tmp``; when the ``with`` block ends without an exception,
    ``tmp`` is renamed over ``path``. When the block (or the rename) raises, ``tmp`` is deleted
    and ``path`` keeps what it had (or stays absent). A process killed mid-write leaves
    ``path`` as it was and ``tmp`` behind. A replaced file keeps its permission bits; a new one
    gets the umask's, as :func:`open` gives them.

    Args:
        path (str): The final name; its directory must exist.
        mode (str): A truncating write mode of :func:`open`: ``'w'`` or ``'wb'`` (``'x'``, which
            must not replace a file, cannot be had with a rename).
        fsync (bool): fsync the file before the rename and the directory after it.
        tmp (str, optional): The temporary name, a sibling of ``path``; default
            :func:`temporary_name` plus a number of this call, so that writes of the same
            path in one process do not share it.
        **open_kwargs: Passed to :func:`open` (``encoding=...``).

    Yields:
        IO: The open file.
    """
    if 'w' not in mode or any(c in mode for c in 'xa+'):
        raise ValueError(f'atomic_write: mode {mode!r} is not a truncating write mode (w, wb)')
    tmp = tmp or f'{temporary_name(path)}.{next(_CALLS)}'
    try:
        with open(tmp, mode, **open_kwargs) as f:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            yield f
        if fsync:
            replace_durably(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


__all__ = ['atomic_write', 'fsync_dir', 'replace_durably', 'temporary_name']
