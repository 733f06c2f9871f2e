"""A generated data set kept on disk: built once into a temporary directory, renamed into place,
and checked against its manifest every time it is used.

The directory ``ROOT`` is complete exactly when it holds :data:`MANIFEST`: the manifest is
written last, into ``.<name>.partial-<pid>/`` beside ``ROOT``, and that directory becomes
``ROOT`` with one rename. So an interrupted build leaves a ``.partial-`` directory (removed by
the next call, unless process ``<pid>`` still runs), never a half-written ``ROOT``. On every
use:

- ``ROOT`` with a manifest whose key (what was asked for: sizes, seed, generator version, the
  source pixels) and file checksums match: used as it is;
- a manifest with another key (other settings): rebuilt, then swapped in;
- a manifest whose files differ (missing, extra, changed): rebuilt, with a message naming them;
- ``ROOT`` without a (readable) manifest: refused with :class:`DemoDataError`. It is not
  something this module finished, and it is not deleted either: it may be the user's.

The manifest holds no time stamp and no absolute path, so the same data set gives the same
bytes, manifest included.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
from typing import Any, Callable, Dict, Mapping, Optional

MANIFEST = 'MANIFEST.json'
FORMAT = 'detco_mm.demo.cache/1'


class DemoDataError(RuntimeError):
    """A demo data directory that cannot be used and is not ours to replace."""


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def file_checksums(root: str) -> Dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` but the manifest, sorted."""
    sums = {}
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = osp.join(directory, name)
            rel = osp.relpath(path, root).replace(os.sep, '/')
            if rel != MANIFEST:
                sums[rel] = sha256_file(path)
    return dict(sorted(sums.items()))


def manifest_bytes(key: Mapping[str, Any], files: Mapping[str, str]) -> bytes:
    digest = hashlib.sha256(''.join(f'{k} {v}\n' for k, v in files.items()).encode())
    manifest = dict(format=FORMAT, key=dict(key), num_files=len(files),
                    digest=digest.hexdigest(), files=dict(files))
    return (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode()


def read_manifest(root: str) -> Optional[dict]:
    """The manifest of ``root``, or None when there is none or it is not one of ours."""
    path = osp.join(root, MANIFEST)
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT or not isinstance(
            manifest.get('files'), dict) or not isinstance(manifest.get('key'), dict):
        return None
    return manifest


def _normal(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, sort_keys=True))


def differences(root: str, manifest: Mapping[str, Any]) -> list:
    """How the files under ``root`` differ from ``manifest`` (empty: they match)."""
    found = file_checksums(root)
    expected = manifest['files']
    problems = [f'{rel}: missing' for rel in expected if rel not in found]
    problems += [f'{rel}: not in the manifest' for rel in found if rel not in expected]
    problems += [f'{rel}: changed' for rel, digest in found.items()
                 if rel in expected and expected[rel] != digest]
    return problems


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def _remove_leftovers(parent: str, name: str, log: Callable[[str], None]) -> None:
    """Remove what builds of ``name`` that were killed left beside it (a running build's
    directories stay)."""
    if not osp.isdir(parent):
        return
    for entry in sorted(os.listdir(parent)):
        for tag in (f'.{name}.partial-', f'.{name}.old-'):
            pid = entry[len(tag):]
            if not entry.startswith(tag) or not pid.isdigit():
                continue
            if int(pid) != os.getpid() and _alive(int(pid)):
                continue
            path = osp.join(parent, entry)
            log(f'removing {path}: left behind by an interrupted build')
            shutil.rmtree(path, ignore_errors=True)


def build_cached(root: str, key: Mapping[str, Any], build: Callable[[str], None],
                 log: Callable[[str], None] = print, what: str = 'data set') -> bool:
    """Make ``root`` hold the data set that ``build`` writes for ``key``; return whether it
    was built (False: the cached one was used).

    Args:
        root: The data set's directory.
        key: JSON-serialisable description of what is built (settings, versions, inputs).
        build: ``build(directory)`` writes the data set into an empty ``directory``.
        log: Where the messages go.
        what: Name of the data set in the messages.

    Raises:
        DemoDataError: ``root`` exists but holds no manifest of ours (see the module docs).
    """
    root = osp.normpath(root)
    parent, name = osp.dirname(root) or '.', osp.basename(root)
    key = _normal(key)
    _remove_leftovers(parent, name, log)
    if osp.lexists(root):
        manifest = read_manifest(root) if osp.isdir(root) else None
        if manifest is None:
            raise DemoDataError(
                f'{root} exists but is not a finished demo {what}: it has no valid {MANIFEST} '
                f'(an interrupted build of an older version, or other files). It is left as it '
                f'is; delete it to have it rebuilt (rm -rf {root}) or choose another data root.')
        if manifest['key'] != key:
            changed = sorted(k for k in set(key) | set(manifest['key'])
                             if key.get(k) != manifest['key'].get(k))
            log(f'{what} in {root} was made with other settings ({", ".join(changed)}); '
                f'rebuilding it')
        else:
            problems = differences(root, manifest)
            if not problems:
                log(f'{what}: using the cached {root} ({manifest["num_files"]} files, '
                    f'sha256 {manifest["digest"][:12]})')
                return False
            log(f'{what} in {root} does not match its manifest ({len(problems)} problem'
                f'{"s" if len(problems) > 1 else ""}, e.g. {problems[0]}); rebuilding it')

    tmp = osp.join(parent, f'.{name}.partial-{os.getpid()}')
    os.makedirs(tmp)
    try:
        build(tmp)
        files = file_checksums(tmp)
        with open(osp.join(tmp, MANIFEST), 'wb') as f:
            f.write(manifest_bytes(key, files))
            f.flush()
            os.fsync(f.fileno())
        old = None
        if osp.lexists(root):
            old = osp.join(parent, f'.{name}.old-{os.getpid()}')
            os.rename(root, old)
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)
    manifest = read_manifest(root)
    log(f'{what}: built {root} ({manifest["num_files"]} files, '
        f'sha256 {manifest["digest"][:12]})')
    return True
