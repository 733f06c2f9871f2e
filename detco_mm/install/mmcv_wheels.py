"""mmcv ops variants, the wheel cache's keys and the classification of ready mmcv wheels.

mmcv 2.0.1 has no wheel for the torch releases detco-mm runs on, so ``tools/install.sh`` builds
one from the sdist, once per *variant*, and caches it. A wheel only works with the Python and
the torch it was built against, and its compiled ops are either CPU-only or CUDA ops for one
CUDA version and a set of GPU architectures. This module

* chooses the variant an environment needs (:func:`choose_variant`): CUDA ops when torch is a
  CUDA build and a GPU is visible, or when asked (``DETCO_MMCV_CUDA=1`` or
  ``TORCH_CUDA_ARCH_LIST``); CPU ops otherwise; a CPU-ops wheel on a machine with a visible
  GPU only when asked (``DETCO_MMCV_CPU=1``);
* keys the cache by Python tag, torch version and variant (:func:`cache_key`), one
  subdirectory per key, e.g. ``cp311-torch2.14.1+cu130-cu130-sm90``;
* classifies a wheel by *inspection*, not by its name (:func:`inspect_wheel`): the ``NEEDED``
  entries of its ``mmcv/_ext*.so`` (``libcudart`` / ``libc10_cuda`` mean CUDA ops) and the GPU
  architectures of the cubins in its ``.nv_fatbin`` section; a sidecar ``<wheel>.detco.json``
  written next to every wheel the install builds adds the torch version;
* picks the first acceptable wheel from flat directories (``DETCO_EXTRA_WHEELS``) and the
  cache (:func:`find_wheel`), saying on stderr why each other candidate was skipped.

Standard library only: the install runs it as a script before anything else is installed::

    python detco_mm/install/mmcv_wheels.py plan            # shell assignments for install.sh
    python detco_mm/install/mmcv_wheels.py classify WHEEL  # what a wheel really holds (JSON)
    python detco_mm/install/mmcv_wheels.py installed       # the variant of the installed mmcv

Only ``plan`` and ``installed`` need torch / mmcv in the running interpreter, imported lazily.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

MMCV_VERSION = '2.0.1'
SIDECAR_SUFFIX = '.detco.json'
_ARCH_RE = re.compile(r'^(\d+)\.(\d+)(a?)(\+PTX)?$')
_EXT_RE = re.compile(r'^mmcv/_ext[^/]*\.so$')
_CUDA_LIBS = ('libcudart', 'libc10_cuda', 'libtorch_cuda')


class InstallError(Exception):
    """A problem the user has to fix; its message says what and how."""


# --------------------------------------------------------------------------------------------
# Variants and cache keys
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """The ops an mmcv build carries.

    Attributes:
        kind: ``'cpu'`` or ``'cuda'``.
        cuda: CUDA version as ``'MAJOR.MINOR'`` (``'13.0'``), or only ``'MAJOR'`` when read
            from a wheel's ``libcudart.so.MAJOR``; ``None`` for CPU ops.
        archs: GPU architectures in ``TORCH_CUDA_ARCH_LIST`` form (``('8.0', '9.0+PTX')``),
            sorted; empty for CPU ops, or when a CUDA wheel's architectures cannot be read.
    """

    kind: str
    cuda: str | None = None
    archs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ('cpu', 'cuda'):
            raise ValueError(f"Variant.kind must be 'cpu' or 'cuda', got {self.kind!r}")
        if self.kind == 'cuda' and not self.cuda:
            raise ValueError('Variant(kind="cuda") needs its CUDA version (cuda="13.0")')

    @property
    def tag(self) -> str:
        """Short, file-name-safe name: ``cpu``, ``cu130-sm90``, ``cu130-sm80_sm90ptx``."""
        if self.kind == 'cpu':
            return 'cpu'
        cu = 'cu' + self.cuda.replace('.', '')
        if not self.archs:
            return cu
        sms = '_'.join('sm' + a.replace('.', '').replace('+PTX', 'ptx') for a in self.archs)
        return f'{cu}-{sms}'

    @property
    def arch_list(self) -> str:
        """The architectures as a ``TORCH_CUDA_ARCH_LIST`` value (``'8.0;9.0'``)."""
        return ';'.join(self.archs)

    @classmethod
    def from_tag(cls, tag: str) -> 'Variant':
        """Inverse of :attr:`tag`.

        Args:
            tag: ``cpu`` or ``cuXY[-smAB[_smCD...]]`` as :attr:`tag` writes it.

        Returns:
            The variant.

        Raises:
            InstallError: ``tag`` is not of that form.
        """
        if tag == 'cpu':
            return cls('cpu')
        m = re.fullmatch(r'cu(\d+)(\d)(?:-(sm\d+a?(?:ptx)?(?:_sm\d+a?(?:ptx)?)*))?', tag)
        if not m:
            raise InstallError(f"variant tag {tag!r} is neither 'cpu' nor like 'cu130-sm90'")
        archs = []
        for sm in (m.group(3) or '').split('_'):
            if sm:
                s = re.fullmatch(r'sm(\d+)(\d)(a?)(ptx)?', sm)
                archs.append(f'{s.group(1)}.{s.group(2)}{s.group(3)}'
                             + ('+PTX' if s.group(4) else ''))
        return cls('cuda', f'{m.group(1)}.{m.group(2)}', normalize_arch_list(' '.join(archs)))


def normalize_arch_list(value: str, name: str = 'TORCH_CUDA_ARCH_LIST') -> tuple[str, ...]:
    """Parse a ``TORCH_CUDA_ARCH_LIST``-style value into sorted, unique architectures.

    Args:
        value: Architectures separated by spaces, ``;`` or ``,``, e.g. ``'8.0 9.0+PTX'``.
        name: What the value came from, for the error message.

    Returns:
        Sorted tuple such as ``('8.0', '9.0+PTX')``.

    Raises:
        InstallError: A token is not of the form ``MAJOR.MINOR[a][+PTX]``.
    """
    archs = set()
    for tok in re.split(r'[\s;,]+', value.strip()):
        if not tok:
            continue
        if not _ARCH_RE.match(tok):
            raise InstallError(
                f'{name}={value!r}: {tok!r} is not a GPU architecture; write numbers such as '
                f"'9.0' (H100/H200), '8.0' (A100) or '8.6+PTX', separated by spaces or ';'")
        archs.add(tok)

    def order(a: str) -> tuple:
        m = _ARCH_RE.match(a)
        return int(m.group(1)), int(m.group(2)), m.group(3), bool(m.group(4))
    return tuple(sorted(archs, key=order))


def cuda_major_minor(version: str) -> str:
    """``'13.0.88'`` / ``'13.0'`` -> ``'13.0'``.

    Raises:
        InstallError: ``version`` does not start with ``MAJOR.MINOR``.
    """
    m = re.match(r'^(\d+)\.(\d+)', version.strip())
    if not m:
        raise InstallError(f'CUDA version {version!r} does not start with MAJOR.MINOR')
    return f'{m.group(1)}.{m.group(2)}'


def cache_key(python_tag: str, torch_version: str, variant: Variant) -> str:
    """The wheel cache subdirectory for one build: ``cp311-torch2.14.1+cu130-cu130-sm90``.

    Args:
        python_tag: CPython tag of the interpreter, ``cp311``.
        torch_version: ``torch.__version__`` as installed (local part included).
        variant: The ops variant.

    Returns:
        A file-name-safe key; different inputs give different keys.

    Raises:
        InstallError: ``python_tag`` or ``torch_version`` holds characters unsafe in a path.
    """
    for name, value in (('python_tag', python_tag), ('torch_version', torch_version)):
        if not re.fullmatch(r'[A-Za-z0-9._+]+', value or ''):
            raise InstallError(f'{name}={value!r} cannot be part of a wheel cache key')
    return f'{python_tag}-torch{torch_version}-{variant.tag}'


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, '').strip()
    if value not in ('', '0', '1'):
        raise InstallError(f'{name}={value!r}: set it to 1 (or 0 / unset)')
    return value == '1'


def choose_variant(torch_cuda: str | None, gpu_archs: Sequence[str],
                   env: Mapping[str, str]) -> Variant:
    """Decide which mmcv ops this environment needs.

    Args:
        torch_cuda: ``torch.version.cuda`` (``None`` for a CPU-only torch build).
        gpu_archs: Architectures of the GPUs visible now (``['9.0']``), empty without a GPU.
        env: Environment variables; reads ``DETCO_MMCV_CPU``, ``DETCO_MMCV_CUDA`` and
            ``TORCH_CUDA_ARCH_LIST``.

    Returns:
        CUDA ops for ``torch_cuda`` and the requested (else the visible) architectures when a
        GPU is visible or CUDA ops are asked for; CPU ops otherwise or with ``DETCO_MMCV_CPU=1``.

    Raises:
        InstallError: Contradicting requests, CUDA ops asked of a CPU-only torch, a GPU visible
            with a CPU-only torch, or CUDA ops asked without a GPU or an architecture list.
    """
    want_cpu = _flag(env, 'DETCO_MMCV_CPU')
    want_cuda = _flag(env, 'DETCO_MMCV_CUDA')
    arch_env = env.get('TORCH_CUDA_ARCH_LIST', '').strip()
    if want_cpu and want_cuda:
        raise InstallError('DETCO_MMCV_CPU=1 and DETCO_MMCV_CUDA=1 contradict each other; '
                           'unset one of them')
    if want_cpu:
        return Variant('cpu')
    asked = want_cuda or bool(arch_env)
    visible = normalize_arch_list(' '.join(gpu_archs), 'the visible GPUs') if gpu_archs else ()
    if not asked and not visible:
        return Variant('cpu')
    why = ('DETCO_MMCV_CUDA=1' if want_cuda else f'TORCH_CUDA_ARCH_LIST={arch_env!r}') \
        if asked else f'a GPU is visible (compute capability {", ".join(visible)})'
    if not torch_cuda:
        raise InstallError(
            f'{why} calls for mmcv with CUDA ops, but the installed torch is a CPU-only build '
            f'(torch.version.cuda is None). Install a CUDA build of torch, or set '
            f'DETCO_MMCV_CPU=1 to build CPU ops only (MMDetection then fails on CUDA tensors).')
    archs = normalize_arch_list(arch_env) if arch_env else visible
    if not archs:
        raise InstallError(
            'DETCO_MMCV_CUDA=1 but no GPU is visible to read the architectures from: set '
            "TORCH_CUDA_ARCH_LIST as well, e.g. TORCH_CUDA_ARCH_LIST=9.0 for H100/H200")
    return Variant('cuda', cuda_major_minor(torch_cuda), archs)


def wheel_name(python_tag: str) -> str:
    """File name of the mmcv wheel ``pip wheel`` builds for ``python_tag`` on Linux x86_64."""
    return f'mmcv-{MMCV_VERSION}-{python_tag}-{python_tag}-linux_x86_64.whl'


# --------------------------------------------------------------------------------------------
# Inspecting compiled extensions
# --------------------------------------------------------------------------------------------
def _section_table(data: bytes) -> list[tuple[str, int, int, int, int]]:
    """ELF64 little-endian section headers in index order: (name, type, offset, size, link)."""
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise InstallError('not a 64-bit little-endian ELF shared object')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    raw = [struct.unpack_from('<IIQQQQI', data, shoff + i * shentsize) for i in range(shnum)]
    str_off = raw[shstrndx][4]
    table = []
    for name, typ, _flags, _addr, off, size, link in raw:
        end = data.index(b'\0', str_off + name)
        table.append((data[str_off + name:end].decode(), typ, off, size, link))
    return table


def _cstr(data: bytes, pos: int) -> str:
    return data[pos:data.index(b'\0', pos)].decode()


def elf_needed(data: bytes) -> list[str]:
    """The ``DT_NEEDED`` libraries of an ELF64 shared object.

    Args:
        data: The whole file.

    Returns:
        Sonames in the order the dynamic section lists them.

    Raises:
        InstallError: ``data`` is not an ELF64 little-endian file.
    """
    table = _section_table(data)
    needed = []
    for _name, typ, off, size, link in table:
        if typ != 6:  # SHT_DYNAMIC; its sh_link is the index of its string table
            continue
        str_off = table[link][2]
        for pos in range(off, off + size, 16):
            tag, val = struct.unpack_from('<qQ', data, pos)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                needed.append(_cstr(data, str_off + val))
    return needed


def fatbin_archs(data: bytes) -> tuple[str, ...]:
    """GPU architectures of the device code in an ELF's ``.nv_fatbin`` section.

    A fat binary is a sequence of blobs (magic ``0xBA55ED50``, header size, payload size),
    each a list of entries (kind 1 = PTX, 2 = cubin) whose header carries the SM number.

    Args:
        data: The whole ELF file.

    Returns:
        Sorted architectures in ``TORCH_CUDA_ARCH_LIST`` form: a cubin for sm_90 gives
        ``'9.0'``, PTX only for compute_90 gives ``'9.0+PTX'``; empty without device code.
    """
    secs = {name: (off, size) for name, _typ, off, size, _link in _section_table(data)}
    if '.nv_fatbin' not in secs:
        return ()
    off, size = secs['.nv_fatbin']
    cubins, ptx = set(), set()
    pos, end = off, off + size
    while pos + 16 <= end:
        magic, _ver, hsize, fsize = struct.unpack_from('<IHHQ', data, pos)
        if magic != 0xBA55ED50:
            pos += 8  # blobs are 8-byte aligned, padding in between
            continue
        entry, blob_end = pos + hsize, pos + hsize + fsize
        while entry + 32 <= blob_end:
            kind, _v, ehsize, esize = struct.unpack_from('<HHIQ', data, entry)
            arch, = struct.unpack_from('<I', data, entry + 28)
            if ehsize == 0:
                break
            name = f'{arch // 10}.{arch % 10}'
            (cubins if kind == 2 else ptx).add(name)
            entry += ehsize + esize
        pos = blob_end
    archs = set(cubins) | {a + '+PTX' for a in ptx if a not in cubins}
    return normalize_arch_list(' '.join(archs), '.nv_fatbin') if archs else ()


def classify_extension(data: bytes) -> Variant:
    """The ops variant of a compiled ``mmcv/_ext*.so``, from its contents alone.

    Args:
        data: The shared object's bytes.

    Returns:
        ``Variant('cpu')`` when it links no CUDA library; otherwise ``Variant('cuda', MAJOR
        from libcudart.so.MAJOR (or '?'), archs from its fat binary)``.
    """
    needed = elf_needed(data)
    if not any(n.startswith(_CUDA_LIBS) for n in needed):
        return Variant('cpu')
    major = next((n.split('.so.')[1].split('.')[0] for n in needed
                  if n.startswith('libcudart') and '.so.' in n), '?')
    return Variant('cuda', major, fatbin_archs(data))


@dataclass
class WheelInfo:
    """What a ready mmcv wheel holds.

    Attributes:
        path: The wheel file.
        python_tag: CPython tag from its ``WHEEL`` metadata (``cp311``).
        variant: Ops variant read from its extension, ``None`` for a wheel without ops.
        torch_version: torch it was built against, from the sidecar; ``None`` if unknown.
        sidecar: Contents of ``<wheel>.detco.json`` when present.
    """

    path: str
    python_tag: str
    variant: Variant | None
    torch_version: str | None = None
    sidecar: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-friendly view."""
        v = self.variant
        return dict(path=self.path, python_tag=self.python_tag,
                    variant=v.tag if v else None, kind=v.kind if v else None,
                    cuda=v.cuda if v else None, archs=list(v.archs) if v else [],
                    torch_version=self.torch_version, sidecar=bool(self.sidecar))


def inspect_wheel(path: str) -> WheelInfo:
    """Classify an mmcv wheel by its contents (and its sidecar, when there is one).

    Args:
        path: An ``mmcv-*.whl`` file.

    Returns:
        Its :class:`WheelInfo`. A sidecar's CUDA version and architectures replace the
        inspected ones only where the inspection could not tell (``'13'`` -> ``'13.0'``).

    Raises:
        InstallError: The file is no wheel, holds no ``mmcv`` distribution, or its sidecar
            contradicts what the extension links.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise InstallError(f'{path} is not a readable wheel: {e}') from e
    with zf:
        names = zf.namelist()
        wheel_meta = [n for n in names if re.fullmatch(r'mmcv-[^/]+\.dist-info/WHEEL', n)]
        if not wheel_meta:
            raise InstallError(f'{path} holds no mmcv-*.dist-info/WHEEL: not an mmcv wheel')
        tags = re.findall(r'^Tag: (\S+)', zf.read(wheel_meta[0]).decode(), re.M)
        python_tag = tags[0].split('-')[0] if tags else '?'
        exts = [n for n in names if _EXT_RE.match(n)]
        variant = classify_extension(zf.read(exts[0])) if exts else None
    sidecar = {}
    side_path = path + SIDECAR_SUFFIX
    if os.path.isfile(side_path):
        try:
            with open(side_path) as f:
                sidecar = json.load(f)
        except (OSError, ValueError) as e:
            raise InstallError(f'{side_path} is not valid JSON ({e}); delete it') from e
        if variant is not None and sidecar.get('kind') != variant.kind:
            raise InstallError(
                f"{side_path} says {sidecar.get('kind')} ops but the wheel's extension is "
                f'{variant.kind} ops; delete the wheel and its sidecar')
        if variant is not None and variant.kind == 'cuda':
            cuda = variant.cuda
            if sidecar.get('cuda') and str(sidecar['cuda']).split('.')[0] == cuda.split('.')[0]:
                cuda = sidecar['cuda']
            archs = variant.archs or normalize_arch_list(' '.join(sidecar.get('archs', [])))
            variant = Variant('cuda', cuda, archs)
    return WheelInfo(path, python_tag, variant, sidecar.get('torch_version'), sidecar)


def write_sidecar(wheel: str, python_tag: str, torch_version: str, variant: Variant,
                  build_seconds: float | None = None) -> str:
    """Record next to ``wheel`` what it was built for (``<wheel>.detco.json``).

    Args:
        wheel: The built wheel.
        python_tag: Interpreter tag it was built with.
        torch_version: ``torch.__version__`` it was built against.
        variant: The ops variant requested for the build.
        build_seconds: Wall time of the build, kept for the record.

    Returns:
        The sidecar's path.

    Raises:
        InstallError: The built extension is not the requested variant (e.g. CUDA ops were
            asked for but nvcc was not used).
    """
    info = inspect_wheel(wheel)
    if info.variant is None or info.variant.kind != variant.kind:
        got = info.variant.tag if info.variant else 'no compiled ops'
        raise InstallError(f'{wheel}: built {got}, but {variant.tag} was asked for')
    data = dict(mmcv_version=MMCV_VERSION, python_tag=python_tag, torch_version=torch_version,
                kind=variant.kind, cuda=variant.cuda, archs=list(variant.archs),
                variant=variant.tag, build_seconds=build_seconds,
                built_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    tmp = wheel + SIDECAR_SUFFIX + '.part'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, wheel + SIDECAR_SUFFIX)
    return wheel + SIDECAR_SUFFIX


def wheel_fits(info: WheelInfo, python_tag: str, torch_version: str,
               variant: Variant) -> str | None:
    """Why ``info`` cannot serve this environment, or ``None`` when it can.

    Args:
        info: The candidate.
        python_tag: The environment's interpreter tag.
        torch_version: Its ``torch.__version__``.
        variant: The ops it needs.

    Returns:
        A one-line reason, or ``None``. A wheel whose torch version is not recorded (a foreign
        flat wheel) is accepted on the other criteria; the install then imports its ops.
    """
    if info.variant is None:
        return 'has no compiled ops (mmcv-lite)'
    if info.python_tag != python_tag:
        return f'built for {info.python_tag}, this interpreter is {python_tag}'
    if info.torch_version and info.torch_version != torch_version:
        return f'built against torch {info.torch_version}, this environment has {torch_version}'
    have = info.variant
    if have.kind != variant.kind:
        if variant.kind == 'cuda':
            return ('has CPU ops only, CUDA ops are needed here (set DETCO_MMCV_CPU=1 to use '
                    'a CPU-ops wheel anyway)')
        return 'has CUDA ops; this environment asks for CPU ops'
    if variant.kind == 'cuda':
        want = variant.cuda
        if have.cuda != want and not (have.cuda == want.split('.')[0]):
            return f'has CUDA {have.cuda} ops, torch uses CUDA {want}'
        if not have.archs:
            return 'CUDA ops for architectures that cannot be read from it'
        covered = {a.split('+')[0] for a in have.archs}
        missing = [a for a in variant.archs if a.split('+')[0] not in covered]
        if missing:
            return f'CUDA ops for {have.arch_list}, not for {";".join(missing)}'
    return None


def find_wheel(flat_dirs: Iterable[str], cache_root: str, key: str, python_tag: str,
               torch_version: str, variant: Variant, log=sys.stderr) -> str | None:
    """The first mmcv wheel that fits, searched in ``flat_dirs``, ``cache_root/key`` and
    ``cache_root`` (flat wheels of installs older than the keyed cache).

    Args:
        flat_dirs: Directories holding wheels directly (``DETCO_EXTRA_WHEELS``).
        cache_root: ``DETCO_WHEEL_CACHE``.
        key: :func:`cache_key` of this environment.
        python_tag: Interpreter tag.
        torch_version: ``torch.__version__``.
        variant: Needed ops.
        log: Where the reasons for skipped candidates go.

    Returns:
        A wheel path, or ``None``.
    """
    dirs = [d for d in flat_dirs if d] + [os.path.join(cache_root, key), cache_root]
    seen = set()
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not re.fullmatch(rf'mmcv-{re.escape(MMCV_VERSION)}-.+\.whl', name) \
                    or os.path.realpath(path) in seen:
                continue
            seen.add(os.path.realpath(path))
            try:
                info = inspect_wheel(path)
            except InstallError as e:
                print(f'  skipping {path}: {e}', file=log)
                continue
            why = wheel_fits(info, python_tag, torch_version, variant)
            if why is None:
                return path
            print(f'  skipping {path}: {why}', file=log)
    return None


# --------------------------------------------------------------------------------------------
# Probing the running interpreter
# --------------------------------------------------------------------------------------------
def visible_gpu_archs() -> list[str]:
    """Compute capabilities of the visible GPUs (``['9.0']``), through torch or nvidia-smi."""
    try:
        import torch
        if torch.cuda.is_available():
            return [f'{a}.{b}' for a, b in (torch.cuda.get_device_capability(i)
                                            for i in range(torch.cuda.device_count()))]
    except ImportError:
        pass
    smi = shutil.which('nvidia-smi')
    if not smi:
        return []
    try:
        out = subprocess.run([smi, '--query-gpu=compute_cap', '--format=csv,noheader'],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines()
            if out.returncode == 0 and _ARCH_RE.match(line.strip())]


def torch_toolkit_pin() -> str | None:
    """The ``cuda-toolkit`` version torch's metadata pins (``'13.0.3'``), if any."""
    from importlib.metadata import PackageNotFoundError, requires
    try:
        reqs = requires('torch') or []
    except PackageNotFoundError:
        return None
    for r in reqs:
        m = re.match(r'^cuda-toolkit(?:\[[^\]]*\])?\s*==\s*([0-9.]+)', r)
        if m:
            return m.group(1)
    return None


def nvcc_version(nvcc: str) -> str:
    """``MAJOR.MINOR`` of an nvcc (``release 13.0`` in its ``--version``).

    Raises:
        InstallError: ``nvcc`` does not run or prints no release.
    """
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InstallError(f'{nvcc} --version failed: {e}') from e
    m = re.search(r'release (\d+\.\d+)', out.stdout)
    if out.returncode != 0 or not m:
        raise InstallError(f'{nvcc} --version printed no "release X.Y": {out.stdout[-200:]}')
    return m.group(1)


def check_cuda_home(cuda_home: str, torch_cuda: str) -> str:
    """Check that ``cuda_home``'s nvcc matches torch's CUDA version.

    Args:
        cuda_home: ``CUDA_HOME`` as set by the user.
        torch_cuda: ``torch.version.cuda``.

    Returns:
        The nvcc version.

    Raises:
        InstallError: No ``bin/nvcc`` there, or a version other than torch's.
    """
    nvcc = os.path.join(cuda_home, 'bin', 'nvcc')
    if not os.access(nvcc, os.X_OK):
        raise InstallError(f'CUDA_HOME={cuda_home} has no bin/nvcc; point CUDA_HOME at a CUDA '
                           f'{torch_cuda} toolkit or unset it to get nvcc from the registry')
    ver = nvcc_version(nvcc)
    if ver != cuda_major_minor(torch_cuda):
        raise InstallError(
            f'CUDA_HOME={cuda_home} has nvcc {ver}, but torch was built with CUDA {torch_cuda}; '
            f'mmcv must be compiled with the same CUDA. Point CUDA_HOME at a CUDA {torch_cuda} '
            f'toolkit, or unset CUDA_HOME to install a matching nvcc from the package registry')
    return ver


def plan(env: Mapping[str, str]) -> dict[str, str]:
    """Everything ``install.sh`` needs to know about the mmcv wheel of this interpreter.

    Args:
        env: Environment variables (see :func:`choose_variant`).

    Returns:
        Upper-case names -> values, printed by ``plan`` as shell assignments.

    Raises:
        InstallError: As :func:`choose_variant`, or torch does not import.
    """
    try:
        import torch
    except ImportError as e:
        raise InstallError(f'torch does not import in {sys.executable}: {e}') from e
    py_tag = f'cp{sys.version_info[0]}{sys.version_info[1]}'
    variant = choose_variant(torch.version.cuda, visible_gpu_archs(), env)
    return dict(PY_TAG=py_tag, TORCH_VERSION=torch.__version__,
                TORCH_CUDA=torch.version.cuda or '', MMCV_VARIANT=variant.tag,
                MMCV_KIND=variant.kind, MMCV_ARCHS=variant.arch_list,
                MMCV_KEY=cache_key(py_tag, torch.__version__, variant),
                MMCV_WHEEL=wheel_name(py_tag), CUDA_TOOLKIT_PIN=torch_toolkit_pin() or '')


def installed_extension() -> str | None:
    """Path of the installed ``mmcv/_ext*.so`` (found without importing mmcv), or ``None``."""
    import importlib.util
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        for name in sorted(os.listdir(d)):
            if name.startswith('_ext') and name.endswith('.so'):
                return os.path.join(d, name)
    return None


def installed_variant() -> Variant | None:
    """Ops variant of the installed mmcv, ``None`` when it has no compiled ops."""
    path = installed_extension()
    if path is None:
        return None
    with open(path, 'rb') as f:
        return classify_extension(f.read())


# --------------------------------------------------------------------------------------------
# CLI for tools/install.sh
# --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; see the module docstring. Errors print ``mmcv_wheels: ...`` and return 2."""
    p = argparse.ArgumentParser(prog='mmcv_wheels.py', description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('plan', help='shell assignments describing the wheel this env needs')
    c = sub.add_parser('classify', help='JSON description of a wheel')
    c.add_argument('wheel')
    sub.add_parser('installed', help="'KIND TAG' of the installed mmcv ('none': no ops)")
    f = sub.add_parser('find', help='path of the first wheel that fits (exit 1: none)')
    r = sub.add_parser('record', help='write the sidecar of a freshly built wheel')
    for q in (f, r):
        q.add_argument('--python-tag', required=True)
        q.add_argument('--torch-version', required=True)
        q.add_argument('--variant', required=True, help="tag, e.g. 'cpu' or 'cu130-sm90'")
    f.add_argument('--cache', required=True)
    f.add_argument('--flat', default='', help="':'-separated flat wheel directories")
    r.add_argument('wheel')
    r.add_argument('--build-seconds', type=float)
    h = sub.add_parser('check-cuda-home', help='refuse a CUDA_HOME whose nvcc is not torch\'s')
    h.add_argument('cuda_home')
    h.add_argument('--torch-cuda', required=True)
    a = p.parse_args(argv)
    try:
        if a.cmd == 'plan':
            for k, v in plan(os.environ).items():
                print(f'{k}={shlex.quote(v)}')
        elif a.cmd == 'classify':
            print(json.dumps(inspect_wheel(a.wheel).as_dict(), indent=1))
        elif a.cmd == 'installed':
            v = installed_variant()
            print(f'{v.kind} {v.tag}' if v else 'none')
        elif a.cmd == 'find':
            variant = Variant.from_tag(a.variant)
            key = cache_key(a.python_tag, a.torch_version, variant)
            path = find_wheel(a.flat.split(':'), a.cache, key, a.python_tag,
                              a.torch_version, variant)
            if path is None:
                return 1
            print(path)
        elif a.cmd == 'record':
            print(write_sidecar(a.wheel, a.python_tag, a.torch_version,
                                Variant.from_tag(a.variant), a.build_seconds))
        elif a.cmd == 'check-cuda-home':
            print(check_cuda_home(a.cuda_home, a.torch_cuda))
    except InstallError as e:
        print(f'mmcv_wheels: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
