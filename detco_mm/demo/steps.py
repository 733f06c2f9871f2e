"""Running the project's own tools as steps, the way a user would, with logs and progress.

Used by ``tools/demo.py`` (``make demo``) and ``tools/analysis/init_study.py``: each step is a
subprocess in the checkout (``tools/train.py``, ``mim train mmdet``, ...) whose whole output
goes to a log file and whose progress lines go to the console.
"""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Pattern

#: The checkout: the steps run here and custom_imports find detco_mm here.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Console lines worth showing from the runners' output (everything is in the step's log).
SHOW = re.compile(r'(Epoch|Iter)\((train|val|test)\)|Average (Precision|Recall)|'
                  r'coco/bbox_mAP|load model from|DetCoFinetuneRunner:|Saving checkpoint|'
                  r'Training command is|LinearScalingRuleHook: |'
                  r'^exported |benchmark_table\.py: |plot_loss_curves\.py: |Traceback|Error')


class StepFailed(RuntimeError):
    """A step exited non-zero, or did not leave what the next step needs."""


class Console:
    """Where the steps' progress goes (``verbose``: the runners' whole output)."""

    def __init__(self, verbose: bool = False, total_steps: int = 0):
        self.verbose = verbose
        self.total_steps = total_steps

    def say(self, text: str = '') -> None:
        print(text, flush=True)

    def step(self, number: int, title: str) -> None:
        self.say(f'\n=== [{number}/{self.total_steps}] {title}')


def rel(path: str) -> str:
    """``path`` relative to the checkout when inside it (the steps run there), else absolute."""
    path = osp.abspath(path)
    inside = osp.commonpath([path, ROOT]) == ROOT
    return osp.relpath(path, ROOT) if inside else path


def resolve_device(requested: str) -> str:
    """``'cuda'`` or ``'cpu'`` for ``auto`` / ``cpu`` / ``cuda`` (SystemExit: no GPU)."""
    import torch
    available = torch.cuda.is_available()
    if requested == 'cuda' and not available:
        raise SystemExit('--device cuda, but torch sees no CUDA device '
                         f'(torch {torch.__version__}); use --device cpu')
    return 'cuda' if requested == 'cuda' or (requested == 'auto' and available) else 'cpu'


def child_env(device: str) -> Dict[str, str]:
    """The environment of a step: detco_mm importable, unbuffered output, the device."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')  # custom_imports
    env['PYTHONUNBUFFERED'] = '1'  # progress lines as they happen
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''  # the runners take a visible GPU by themselves
    return env


def mim_command() -> str:
    """The ``mim`` next to this Python (openmim), else the one on PATH."""
    mim = shutil.which('mim', path=osp.dirname(sys.executable)) or shutil.which('mim')
    if mim is None:
        raise StepFailed('`mim` (openmim) is not installed next to this python; run make install')
    return mim


def run_step(cmd: List[str], log_path: str, env: Dict[str, str], console: Console,
             show: Optional[Pattern] = None) -> str:
    """Run ``cmd`` in the checkout, its output into ``log_path`` (relative to the checkout or
    absolute), the lines matching ``show`` (default :data:`SHOW`; all with ``verbose``) onto the
    console. Returns the output; raises :class:`StepFailed` with its last lines."""
    show = show or SHOW
    log_file = osp.join(ROOT, log_path)
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    console.say('$ ' + ' '.join(cmd))
    lines = []
    with open(log_file, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1,
                                errors='replace')
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if console.verbose or show.search(line):
                console.say('  ' + line.rstrip('\n'))
        code = proc.wait()
    if code != 0:
        tail = ''.join(lines[-40:])
        raise StepFailed(f'{" ".join(cmd[:3])} ... exited with {code}; its last lines:\n{tail}'
                         f'\nfull output: {log_path}')
    return ''.join(lines)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint MMEngine saved last in ``work_dir`` (its ``last_checkpoint`` file)."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise StepFailed(f'{work_dir} has no last_checkpoint: the pre-training saved nothing')
    with open(marker) as f:
        path = f.read().strip()
    if not osp.isabs(path):
        # relative to the work dir (a moved work dir), else to the checkout (older runs)
        in_dir = osp.join(work_dir, osp.basename(path))
        path = in_dir if osp.isfile(in_dir) else osp.join(ROOT, path)
    return path


def fmt_time(seconds: float) -> str:
    """``'3 min 05 s'`` / ``'42 s'``."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f'{minutes} min {seconds:02d} s' if minutes else f'{seconds} s'
