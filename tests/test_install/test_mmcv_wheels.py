"""mmcv ops variants, wheel cache keys and wheel classification (detco_mm/install/mmcv_wheels.py).

The compiled fixtures in ``tests/data/mmcv_wheels/`` are real ELF shared objects, built from
the sources next to them:

- ``ext_cpu.so``: ``gcc -shared -fPIC c.c -Wl,--no-as-needed -lc10 -ltorch_cpu`` (torch's libs),
  what a CPU-ops ``mmcv/_ext*.so`` links;
- ``ext_cuda130_sm80_sm90.so``: ``nvcc -shared k.cu -lcudart`` (CUDA 13.0) with cubins for
  sm_80 and sm_90 plus compute_90 PTX;
- ``ext_cuda130_ptx90.so``: the same with compute_90 PTX only.

Test wheels are zip files holding one of them as ``mmcv/_ext...so`` plus a ``WHEEL`` file.
"""
import itertools
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

from detco_mm.install import mmcv_wheels as mw

from conftest import REPO_ROOT

FIXTURES = osp.join(REPO_ROOT, 'tests', 'data', 'mmcv_wheels')
# A prebuilt CPU-ops mmcv wheel in the directories of DETCO_EXTRA_WHEELS, where a machine has one
# (CI's .ci/run names its copy); the test that classifies a real wheel needs it
CPU_WHEEL = next((path for path in (
    osp.join(d, 'mmcv-2.0.1-cp311-cp311-linux_x86_64.whl')
    for d in os.environ.get('DETCO_EXTRA_WHEELS', '').split(os.pathsep) if d)
    if osp.isfile(path)), '')
SCRIPT = osp.join(REPO_ROOT, 'detco_mm', 'install', 'mmcv_wheels.py')
INSTALL_SH = osp.join(REPO_ROOT, 'tools', 'install.sh')


def make_wheel(directory: str, ext_fixture: str, python_tag: str = 'cp311') -> str:
    """A minimal mmcv wheel whose compiled extension is ``ext_fixture``."""
    os.makedirs(directory, exist_ok=True)
    path = osp.join(directory, mw.wheel_name(python_tag))
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('mmcv-2.0.1.dist-info/WHEEL',
                    f'Wheel-Version: 1.0\nRoot-Is-Purelib: false\n'
                    f'Tag: {python_tag}-{python_tag}-linux_x86_64\n')
        zf.writestr('mmcv/__init__.py', '')
        with open(osp.join(FIXTURES, ext_fixture), 'rb') as f:
            zf.writestr(f'mmcv/_ext.cpython-{python_tag[2:]}-x86_64-linux-gnu.so', f.read())
    return path


# ------------------------------------------------------------------------------ cache keys
def test_cache_keys_never_collide_and_tags_round_trip():
    variants = [mw.Variant('cpu'), mw.Variant('cuda', '13.0', ('9.0',)),
                mw.Variant('cuda', '13.0', ('8.0', '9.0')), mw.Variant('cuda', '12.8', ('9.0',)),
                mw.Variant('cuda', '13.0', ('9.0+PTX',)), mw.Variant('cuda', '13.0', ('9.0a',))]
    keys = {}
    for py, torch_v, var in itertools.product(['cp311', 'cp312'],
                                              ['2.14.1+cu130', '2.14.1', '2.11.0+cu130'],
                                              variants):
        key = mw.cache_key(py, torch_v, var)
        assert key not in keys, f'{key} for both {keys.get(key)} and {(py, torch_v, var)}'
        keys[key] = (py, torch_v, var)
        assert mw.Variant.from_tag(var.tag) == var
        assert '/' not in key and ' ' not in key
    assert (mw.cache_key('cp311', '2.14.1+cu130', variants[1])
            == 'cp311-torch2.14.1+cu130-cu130-sm90')


def test_cache_key_rejects_path_characters():
    with pytest.raises(mw.InstallError, match='torch_version'):
        mw.cache_key('cp311', '../2.14', mw.Variant('cpu'))


@pytest.mark.parametrize('value,expected', [
    ('9.0', ('9.0',)), ('9.0;8.0', ('8.0', '9.0')), ('8.6+PTX 8.0,8.0', ('8.0', '8.6+PTX')),
    (' 10.0 9.0a ', ('9.0a', '10.0'))])
def test_arch_lists_are_normalised(value, expected):
    assert mw.normalize_arch_list(value) == expected


def test_bad_arch_list_names_the_variable():
    with pytest.raises(mw.InstallError, match=r"TORCH_CUDA_ARCH_LIST=.*'Hopper'"):
        mw.normalize_arch_list('Hopper')


# -------------------------------------------------------------------------- variant choice
def test_cpu_ops_without_gpu_and_without_request():
    assert mw.choose_variant('13.0', [], {}) == mw.Variant('cpu')
    assert mw.choose_variant(None, [], {}) == mw.Variant('cpu')


def test_cuda_ops_for_a_visible_gpu_with_its_architectures():
    assert mw.choose_variant('13.0', ['9.0', '9.0'], {}) == mw.Variant('cuda', '13.0', ('9.0',))


def test_cuda_ops_when_asked_without_gpu():
    assert mw.choose_variant('13.0', [], {'TORCH_CUDA_ARCH_LIST': '9.0'}) == \
        mw.Variant('cuda', '13.0', ('9.0',))
    # the requested list wins over the visible GPUs
    assert mw.choose_variant('13.0', ['8.0'], {'DETCO_MMCV_CUDA': '1',
                                               'TORCH_CUDA_ARCH_LIST': '8.0 9.0'}).archs == \
        ('8.0', '9.0')
    with pytest.raises(mw.InstallError, match='set TORCH_CUDA_ARCH_LIST'):
        mw.choose_variant('13.0', [], {'DETCO_MMCV_CUDA': '1'})


def test_cpu_ops_on_a_gpu_machine_only_when_asked():
    assert mw.choose_variant('13.0', ['9.0'], {'DETCO_MMCV_CPU': '1'}) == mw.Variant('cpu')
    with pytest.raises(mw.InstallError, match='CPU-only build.*DETCO_MMCV_CPU=1'):
        mw.choose_variant(None, ['9.0'], {})  # GPU visible, torch without CUDA


@pytest.mark.parametrize('env,match', [
    ({'DETCO_MMCV_CPU': '1', 'DETCO_MMCV_CUDA': '1'}, 'contradict'),
    ({'DETCO_MMCV_CUDA': 'yes'}, "DETCO_MMCV_CUDA='yes'"),
    ({'TORCH_CUDA_ARCH_LIST': '9.0'}, 'CPU-only build'),
])
def test_contradicting_or_impossible_requests_are_refused(env, match):
    with pytest.raises(mw.InstallError, match=match):
        mw.choose_variant(None if 'TORCH_CUDA_ARCH_LIST' in env else '13.0', [], env)


# ---------------------------------------------------------------------- wheel inspection
def test_extension_classified_from_its_elf_contents():
    def read(name):
        with open(osp.join(FIXTURES, name), 'rb') as f:
            return f.read()
    cpu = read('ext_cpu.so')
    assert 'libc10.so' in mw.elf_needed(cpu)
    assert mw.classify_extension(cpu) == mw.Variant('cpu')
    cuda = read('ext_cuda130_sm80_sm90.so')
    assert 'libcudart.so.13' in mw.elf_needed(cuda)
    assert mw.classify_extension(cuda) == mw.Variant('cuda', '13', ('8.0', '9.0'))
    assert mw.classify_extension(read('ext_cuda130_ptx90.so')).archs == ('9.0+PTX',)
    with pytest.raises(mw.InstallError, match='ELF'):
        mw.elf_needed(b'not an elf at all, just some bytes')


def test_foreign_flat_wheel_is_classified_by_inspection_not_by_name(tmp_path):
    # Both wheels carry the same file name; only their contents differ.
    cpu = mw.inspect_wheel(make_wheel(str(tmp_path / 'a'), 'ext_cpu.so'))
    cuda = mw.inspect_wheel(make_wheel(str(tmp_path / 'b'), 'ext_cuda130_sm80_sm90.so'))
    assert osp.basename(cpu.path) == osp.basename(cuda.path)
    assert (cpu.python_tag, cpu.variant, cpu.torch_version) == ('cp311', mw.Variant('cpu'), None)
    assert cuda.variant.kind == 'cuda' and cuda.variant.archs == ('8.0', '9.0')


@pytest.mark.skipif(not CPU_WHEEL, reason='no prebuilt CPU-ops mmcv wheel in DETCO_EXTRA_WHEELS')
def test_prebuilt_cpu_wheel_is_recognised_as_cpu_ops():
    info = mw.inspect_wheel(CPU_WHEEL)
    assert info.python_tag == 'cp311' and info.variant == mw.Variant('cpu')
    gpu = mw.Variant('cuda', '13.0', ('9.0',))
    assert 'DETCO_MMCV_CPU=1' in mw.wheel_fits(info, 'cp311', '2.14.1+cu130', gpu)
    assert mw.wheel_fits(info, 'cp311', '2.14.1+cu130', mw.Variant('cpu')) is None


def test_not_an_mmcv_wheel_is_a_clear_error(tmp_path):
    bad = tmp_path / 'mmcv-2.0.1-cp311-cp311-linux_x86_64.whl'
    bad.write_bytes(b'truncated download')
    with pytest.raises(mw.InstallError, match='not a readable wheel'):
        mw.inspect_wheel(str(bad))


# ------------------------------------------------------------------------ choosing a wheel
def test_cpu_wheel_refused_on_gpu_unless_asked(tmp_path, capsys):
    flat = str(tmp_path / 'shared')
    make_wheel(flat, 'ext_cpu.so')
    gpu = mw.choose_variant('13.0', ['9.0'], {})
    key = mw.cache_key('cp311', '2.14.1+cu130', gpu)
    assert mw.find_wheel([flat], str(tmp_path / 'cache'), key, 'cp311', '2.14.1+cu130',
                         gpu, log=sys.stdout) is None
    assert 'has CPU ops only' in capsys.readouterr().out
    asked = mw.choose_variant('13.0', ['9.0'], {'DETCO_MMCV_CPU': '1'})
    key = mw.cache_key('cp311', '2.14.1+cu130', asked)
    assert mw.find_wheel([flat], str(tmp_path / 'cache'), key, 'cp311', '2.14.1+cu130',
                         asked) == osp.join(flat, mw.wheel_name('cp311'))


def test_cuda_wheel_must_cover_the_architectures(tmp_path):
    flat = str(tmp_path / 'w')
    make_wheel(flat, 'ext_cuda130_sm80_sm90.so')
    for archs, found in ((('9.0',), True), (('8.0', '9.0'), True), (('8.6',), False)):
        v = mw.Variant('cuda', '13.0', archs)
        got = mw.find_wheel([flat], str(tmp_path / 'c'), mw.cache_key('cp311', '2.14.1', v),
                            'cp311', '2.14.1', v)
        assert (got is not None) == found, archs
    v12 = mw.Variant('cuda', '12.8', ('9.0',))
    assert mw.find_wheel([flat], str(tmp_path / 'c'), 'k', 'cp311', '2.14.1', v12) is None


def test_keyed_cache_separates_python_and_torch(tmp_path):
    cache = str(tmp_path / 'cache')
    cpu = mw.Variant('cpu')
    key311 = mw.cache_key('cp311', '2.14.1+cu130', cpu)
    wheel = make_wheel(osp.join(cache, key311), 'ext_cpu.so')
    mw.write_sidecar(wheel, 'cp311', '2.14.1+cu130', cpu, build_seconds=12.5)
    with open(wheel + mw.SIDECAR_SUFFIX) as f:
        assert json.load(f)['torch_version'] == '2.14.1+cu130'
    assert mw.find_wheel([], cache, key311, 'cp311', '2.14.1+cu130', cpu) == wheel
    # another torch: the key differs and the wheel's sidecar refuses it even if found flat
    other = mw.cache_key('cp311', '2.11.0+cu130', cpu)
    assert other != key311
    assert mw.find_wheel([osp.join(cache, key311)], cache, other, 'cp311', '2.11.0+cu130',
                         cpu) is None
    # another Python: refused by the wheel's own tag
    assert mw.find_wheel([osp.join(cache, key311)], cache, 'x', 'cp312', '2.14.1+cu130',
                         cpu) is None


def test_sidecar_must_agree_with_the_extension(tmp_path):
    wheel = make_wheel(str(tmp_path), 'ext_cpu.so')
    with pytest.raises(mw.InstallError, match='built cpu, but cu130-sm90 was asked for'):
        mw.write_sidecar(wheel, 'cp311', '2.14.1', mw.Variant('cuda', '13.0', ('9.0',)))
    with open(wheel + mw.SIDECAR_SUFFIX, 'w') as f:
        json.dump(dict(kind='cuda', cuda='13.0', archs=['9.0'], torch_version='2.14.1'), f)
    with pytest.raises(mw.InstallError, match='says cuda ops but'):
        mw.inspect_wheel(wheel)


def test_sidecar_completes_the_cuda_version(tmp_path):
    wheel = make_wheel(str(tmp_path), 'ext_cuda130_sm80_sm90.so')
    v = mw.Variant('cuda', '13.0', ('8.0', '9.0'))
    mw.write_sidecar(wheel, 'cp311', '2.14.1+cu130', v)
    info = mw.inspect_wheel(wheel)
    assert info.variant == v and info.torch_version == '2.14.1+cu130'


# ---------------------------------------------------------------------- compiler and CLI
def fake_nvcc(tmp_path, release: str) -> str:
    home = tmp_path / f'cuda-{release}'
    (home / 'bin').mkdir(parents=True)
    nvcc = home / 'bin' / 'nvcc'
    nvcc.write_text('#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler driver"\n'
                    f'echo "Cuda compilation tools, release {release}, V{release}.88"\n')
    nvcc.chmod(0o755)
    return str(home)


def test_cuda_home_must_match_torch(tmp_path):
    assert mw.check_cuda_home(fake_nvcc(tmp_path, '13.0'), '13.0') == '13.0'
    with pytest.raises(mw.InstallError, match=r'nvcc 12\.8, but torch was built with CUDA 13\.0'):
        mw.check_cuda_home(fake_nvcc(tmp_path, '12.8'), '13.0')
    with pytest.raises(mw.InstallError, match='has no bin/nvcc'):
        mw.check_cuda_home(str(tmp_path), '13.0')


def test_cli_find_and_classify_run_as_a_stdlib_script(tmp_path):
    flat = str(tmp_path / 'w')
    wheel = make_wheel(flat, 'ext_cpu.so')
    # -I -S: no site-packages, as install.sh may run it before anything is installed
    base = [sys.executable, '-I', '-S', SCRIPT]
    out = subprocess.run(base + ['classify', wheel], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)['variant'] == 'cpu'
    args = ['find', '--python-tag', 'cp311', '--torch-version', '2.14.1',
            '--cache', str(tmp_path / 'c'), '--flat', flat]
    hit = subprocess.run(base + args + ['--variant', 'cpu'], capture_output=True, text=True)
    assert (hit.returncode, hit.stdout.strip()) == (0, wheel)
    miss = subprocess.run(base + args + ['--variant', 'cu130-sm90'], capture_output=True,
                          text=True)
    assert miss.returncode == 1 and 'has CPU ops only' in miss.stderr
    bad = subprocess.run(base + args + ['--variant', 'gpu'], capture_output=True, text=True)
    assert bad.returncode == 2 and "variant tag 'gpu'" in bad.stderr


def test_install_sh_refuses_bad_settings_before_doing_anything(tmp_path):
    env = dict(os.environ, DETCO_VENV=str(tmp_path / 'venv'))
    r = subprocess.run(['bash', INSTALL_SH], env=dict(env, DETCO_TORCH='conda'),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "DETCO_TORCH='conda'" in r.stderr
    r = subprocess.run(['bash', INSTALL_SH], env=dict(env, PYTHON=sys.executable + '-nope'),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and 'is not on PATH' in r.stderr
    assert not (tmp_path / 'venv').exists()


def test_plan_of_this_interpreter(tmp_path):
    """`plan` as install.sh evals it, with this environment's real torch."""
    import shlex

    import torch

    def plan(**env):
        base = {k: v for k, v in os.environ.items()
                if k not in ('TORCH_CUDA_ARCH_LIST', 'DETCO_MMCV_CPU', 'DETCO_MMCV_CUDA')}
        out = subprocess.run([sys.executable, SCRIPT, 'plan'], env=dict(base, **env),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return dict(shlex.split(line)[0].split('=', 1) for line in out.stdout.splitlines())
    py = f'cp{sys.version_info[0]}{sys.version_info[1]}'
    cpu = plan(DETCO_MMCV_CPU='1')
    assert cpu['MMCV_VARIANT'] == 'cpu' and cpu['PY_TAG'] == py
    assert cpu['MMCV_KEY'] == f'{py}-torch{torch.__version__}-cpu'
    assert cpu['MMCV_WHEEL'] == mw.wheel_name(py)
    if torch.version.cuda:
        cuda = plan(TORCH_CUDA_ARCH_LIST='9.0')
        tag = 'cu' + torch.version.cuda.replace('.', '') + '-sm90'
        assert (cuda['MMCV_VARIANT'], cuda['MMCV_ARCHS']) == (tag, '9.0')
        assert cuda['MMCV_KEY'] != cpu['MMCV_KEY']
        assert cuda['CUDA_TOOLKIT_PIN']  # torch's cuda-toolkit pin, where nvcc comes from
    if not torch.cuda.is_available():
        assert plan()['MMCV_VARIANT'] == 'cpu'
