"""Read fine-tune runs from MMEngine work dirs: setting, state and final evaluation.

What MMEngine 0.10 writes (each ``Runner`` start is a *launch*, named by its start second)::

    <work_dir>/<config name>.py                    config of the latest training launch
    <work_dir>/iter_N.pth, last_checkpoint          checkpoints
    <work_dir>/<ts>/<ts>.log                         text log (env, full config, every log line)
    <work_dir>/<ts>/vis_data/config.py               the launch's merged config
    <work_dir>/<ts>/vis_data/scalars.json            one JSON object per line: training records
    <work_dir>/<ts>/vis_data/<ts>.json               (with ``iter``) and evaluation records
                                                     (metric keys such as ``coco/bbox_mAP``)
    <work_dir>/<ts>/<ts>.json                        test launches (``tools/test.py``,
                                                     ``mim test``): the test metrics, one object

Rules (documented in the README section the tool writes):

- A *run* is a work dir; several runs of the same setting are trials (what makes the setting:
  :mod:`.tables`).
- A training launch is *finished* when it reached the configured ``max_iters`` (or
  ``max_epochs``) -- seen in ``scalars.json``, ``Iter(train) [n/N]`` log lines or the
  ``Saving checkpoint at N iterations`` line -- and an evaluation was logged after its last
  training record. That evaluation is the run's result. Evaluations logged before the end of
  training (e.g. every 10k iterations) are never reported.
- A test launch is finished when it logged test metrics, unless the checkpoint it tested is
  ``iter_N.pth`` / ``epoch_N.pth`` with N short of the schedule.
- Resumed runs have several launches: the result is the last evaluation of the newest
  finished launch (a resumed launch that completes the schedule, or a later ``tools/test.py``
  of the final checkpoint). If no launch finished, the newest launch says why: crashed (its log
  holds a traceback after the last training record), unfinished (still running, or killed
  without a logged error), or trained but never evaluated.
- A launch that *never trained* -- it logged no training iteration and no evaluation: it
  failed before its first iteration (missing data or checkpoint, bad config) or is still
  starting -- says nothing about the run and is passed over (listed in
  :attr:`Run.never_trained`). A run all of whose launches never trained has the status
  :data:`NEVER_TRAINED`: it belongs in no table, and the caller lists it instead.
- Metrics come from ``scalars.json`` (else ``vis_data/<ts>.json``, ``<ts>.json``); if the
  final evaluation is not there (e.g. the file was truncated), from the text log, whose values
  have 4 decimals.
"""
import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .config_reader import ConfigReadError, parse_config, read_config
from .recognise import Setting, recognise

TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
_LOG_LINE = re.compile(r'^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} - \S+ - [A-Z]+ - ')
_ITER_TRAIN = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')
_EPOCH_TRAIN = re.compile(r'Epoch\(train\)\s*\[\s*(\d+)\]\s*\[\s*(\d+)/(\d+)\]')
_SAVING = re.compile(r'Saving checkpoint at (\d+) (iterations|epochs)')
_EVAL = re.compile(r'(?:Iter|Epoch)\((val|test)\)\s*(?:\[\s*\d+\])?\s*\[\s*\d+/\d+\]\s*(.*)$')
_WORLD = re.compile(r'^\s*GPU number: (\d+)\s*$')
_ERROR = re.compile(r' - \S+ - ERROR - (.*)$')
_CHECKPOINT_STEP = re.compile(r'(iter|epoch)_(\d+)\.pth$')

FINISHED = 'finished'
UNFINISHED = 'unfinished'
CRASHED = 'crashed'
NOT_EVALUATED = 'not evaluated'
EMPTY = 'empty'
NO_LOGS = 'no logs'
UNREADABLE = 'unreadable'
NO_CONFIG = 'no config'
NEVER_TRAINED = 'never trained'


@dataclass
class Evaluation:
    metrics: Dict[str, float]  # metric key -> value as logged (a fraction for AP)
    source: str  # file it was read from, relative to the launch directory


@dataclass
class Launch:
    """One ``<work_dir>/<timestamp>/`` directory."""
    name: str
    path: str
    config: Optional[dict] = None
    config_problem: str = ''
    reached_iter: Optional[int] = None
    logged_max_iters: Optional[int] = None
    completed_epochs: Optional[int] = None
    iters_per_epoch: Optional[int] = None
    train_records: int = 0
    final_eval: Optional[Evaluation] = None
    is_test: bool = False
    crash: str = ''
    logged_error: str = ''
    world_size: Optional[int] = None
    has_files: bool = False
    notes: List[str] = field(default_factory=list)
    setting: Optional[Setting] = None
    state: str = UNFINISHED
    reason: str = ''

    @property
    def never_trained(self) -> bool:
        """Has files, but no training record, iteration or evaluation."""
        return (self.has_files and self.train_records == 0 and not self.reached_iter
                and self.final_eval is None)


@dataclass
class Run:
    """One work dir: its setting and result (from the launch that decides its state)."""
    path: str
    name: str
    status: str
    reason: str = ''
    launch: Optional[Launch] = None
    launches: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    never_trained: List[str] = field(default_factory=list)  # launches passed over

    @property
    def setting(self) -> Optional[Setting]:
        return self.launch.setting if self.launch else None

    @property
    def metrics(self) -> Dict[str, float]:
        if self.launch and self.launch.final_eval:
            return self.launch.final_eval.metrics
        return {}

    @property
    def total_batch(self) -> Optional[int]:
        setting = self.setting
        if setting is None or not isinstance(setting.batch_per_process, int):
            return None
        world = self.launch.world_size if self.launch else None
        return setting.batch_per_process * world if world else None


# ----------------------------------------------------------------------------- file parsing
def _metric_items(record: dict) -> Dict[str, float]:
    metrics = {}
    for key, value in record.items():
        for prefix in ('val/', 'test/'):  # LogProcessor(log_with_hierarchy=True)
            if key.startswith(prefix) and key.count('/') > 1:
                key = key[len(prefix):]
        if '/' in key and isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key] = float(value)
    return metrics


def _read_json_lines(path: str, rel: str, notes: List[str]) -> List[dict]:
    records = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                notes.append(f'{rel} line {number} is not valid JSON (truncated?)')
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


@dataclass
class _LogFacts:
    reached_iter: Optional[int] = None
    max_iters: Optional[int] = None
    completed_epochs: Optional[int] = None
    iters_per_epoch: Optional[int] = None
    last_train_line: int = -1
    final_eval: Optional[Tuple[str, Dict[str, float]]] = None  # (mode, metrics)
    crash: str = ''
    logged_error: str = ''  # the last ERROR line after the last training line
    world_size: Optional[int] = None
    config_text: str = ''


def _parse_log(path: str) -> _LogFacts:
    facts = _LogFacts()
    with open(path, encoding='utf-8', errors='replace') as f:
        lines = f.read().splitlines()
    evals: List[Tuple[int, str, Dict[str, float]]] = []
    tracebacks: List[Tuple[int, str]] = []
    errors: List[Tuple[int, str]] = []
    config_lines: Optional[List[str]] = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if config_lines is not None:
            if _LOG_LINE.match(line):
                facts.config_text = '\n'.join(config_lines)
                config_lines = None
            else:
                config_lines.append(line)
                i += 1
                continue
        if line.endswith(' - INFO - Config:') and not facts.config_text:
            config_lines = []
            i += 1
            continue
        if line.startswith('Traceback (most recent call last):'):
            start = i
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i][0].isspace()
                                      or lines[i].startswith(('During handling', 'The above',
                                                              'Traceback'))):
                i += 1
            message = lines[i].strip() if i < len(lines) else 'traceback without message'
            tracebacks.append((start, message))
            i += 1
            continue
        match = _WORLD.match(line)
        if match:
            facts.world_size = int(match.group(1))
        match = _ITER_TRAIN.search(line)
        if match:
            n, total = int(match.group(1)), int(match.group(2))
            facts.reached_iter = max(facts.reached_iter or 0, n)
            facts.max_iters = total
            facts.last_train_line = i
        match = _EPOCH_TRAIN.search(line)
        if match:
            epoch, k, length = (int(g) for g in match.groups())
            facts.iters_per_epoch = length
            if k == length:
                facts.completed_epochs = max(facts.completed_epochs or 0, epoch)
            facts.last_train_line = i
        match = _SAVING.search(line)
        if match:
            n = int(match.group(1))
            if match.group(2) == 'iterations':
                facts.reached_iter = max(facts.reached_iter or 0, n)
            else:
                facts.completed_epochs = max(facts.completed_epochs or 0, n)
        match = _EVAL.search(line)
        if match and 'eta:' not in match.group(2):
            metrics = {}
            for item in re.split(r'\s{2,}', match.group(2).strip()):
                key, _, value = item.partition(': ')
                if '/' in key:
                    try:
                        metrics[key.strip()] = float(value)
                    except ValueError:
                        pass
            evals.append((i, match.group(1), metrics))
        match = _ERROR.search(line)
        if match:
            # mmdet prefixes the source location: '<file> - <function> - <line> - <message>'
            errors.append((i, match.group(1).strip().split(' - ')[-1]))
        i += 1
    if config_lines:
        facts.config_text = '\n'.join(config_lines)
    later = [(n, mode, m) for n, mode, m in evals if n > facts.last_train_line]
    if later:
        facts.final_eval = (later[-1][1], later[-1][2])
    fatal = [message for n, message in tracebacks if n > facts.last_train_line]
    if fatal:
        facts.crash = fatal[-1]
    late_errors = [message for n, message in errors if n > facts.last_train_line]
    if late_errors:
        facts.logged_error = late_errors[-1]
    return facts


# ----------------------------------------------------------------------------- launches
def _read_launch(work_dir: str, name: str, fallback_config: Optional[str]) -> Launch:
    path = osp.join(work_dir, name)
    launch = Launch(name=name, path=path)
    vis = osp.join(path, 'vis_data')
    log_path = osp.join(path, f'{name}.log')
    facts = _parse_log(log_path) if osp.isfile(log_path) else None
    launch.has_files = bool(os.listdir(path))

    # config: the launch's own dump, else the copy in its log, else the work dir's dump
    candidates = []
    config_path = osp.join(vis, 'config.py')
    if osp.isfile(config_path):
        candidates.append(('', lambda: read_config(config_path, f'{name}/vis_data/config.py')))
    if facts and facts.config_text:
        candidates.append(('config read from the launch\'s text log',
                           lambda: parse_config(facts.config_text, f'{name}/{name}.log')))
    if fallback_config:
        fallback_name = osp.basename(fallback_config)
        candidates.append((f'config read from {fallback_name} of the work dir',
                           lambda: read_config(fallback_config, fallback_name)))
    for note, read in candidates:
        try:
            launch.config, _ = read()
        except ConfigReadError as e:
            launch.config_problem = launch.config_problem or str(e)
            continue
        if note:
            launch.notes.append(note)
        break

    # structured records
    records: List[dict] = []
    source = ''
    for candidate in ('scalars.json', f'{name}.json'):
        if osp.isfile(osp.join(vis, candidate)):
            source = f'vis_data/{candidate}'
            records = _read_json_lines(osp.join(vis, candidate), source, launch.notes)
            break
    last_train = -1
    for index, record in enumerate(records):
        if 'iter' in record:
            last_train = index
            launch.train_records += 1
            if isinstance(record['iter'], int):
                launch.reached_iter = max(launch.reached_iter or 0, record['iter'])
    final = None
    for record in records[last_train + 1:]:
        final = Evaluation(_metric_items(record), source)
    test_json = osp.join(path, f'{name}.json')
    if final is None and last_train < 0 and osp.isfile(test_json):
        try:
            with open(test_json, encoding='utf-8') as f:
                record = json.load(f)
            if isinstance(record, dict):
                final = Evaluation(_metric_items(record), f'{name}.json')
        except (json.JSONDecodeError, UnicodeDecodeError):
            launch.notes.append(f'the test results file {name}.json is not valid JSON '
                                '(truncated?)')

    if facts is not None:
        launch.crash = facts.crash
        launch.logged_error = facts.logged_error
        launch.world_size = facts.world_size
        launch.logged_max_iters = facts.max_iters
        launch.completed_epochs = facts.completed_epochs
        launch.iters_per_epoch = facts.iters_per_epoch
        if facts.reached_iter is not None:
            launch.reached_iter = max(launch.reached_iter or 0, facts.reached_iter)
        # the log's final evaluation when the structured files have none (or one without
        # metrics while the log has them)
        log_metrics = facts.final_eval[1] if facts.final_eval is not None else None
        if log_metrics is not None and (final is None or (log_metrics and not final.metrics)):
            if final is None and source and log_metrics:
                launch.notes.append(f'metrics read from the text log ({source} has no final '
                                    'evaluation)')
            final = Evaluation(log_metrics, f'{name}.log')
        if facts.last_train_line >= 0 and launch.train_records == 0:
            launch.train_records = 1
    launch.final_eval = final
    launch.is_test = launch.train_records == 0 and launch.reached_iter is None and final is not None
    return launch


def _decide(launch: Launch) -> None:
    """Set ``launch.setting``, ``state`` and ``reason``."""
    config = launch.config or {}
    launch.setting = recognise(config, is_test=launch.is_test,
                               iters_per_epoch=launch.iters_per_epoch) if config else None
    setting = launch.setting
    error = f': {launch.crash}' if launch.crash else ''
    if launch.is_test:
        load_from = config.get('load_from') if isinstance(config, dict) else None
        match = _CHECKPOINT_STEP.search(str(load_from or ''))
        if match and setting is not None:
            kind, step = match.group(1), int(match.group(2))
            target = setting.max_iters if kind == 'iter' else setting.max_epochs
            if target is not None and step < target:
                launch.state = UNFINISHED
                launch.reason = (f'test of {osp.basename(str(load_from))}, not of the final '
                                 f'checkpoint ({kind} {target})')
                return
        launch.state = FINISHED
        launch.notes.append(f'result of a test launch of {osp.basename(str(load_from))}'
                            if load_from else 'result of a test launch')
        return
    max_iters = setting.max_iters if setting else launch.logged_max_iters
    max_epochs = setting.max_epochs if setting else None
    if max_epochs is not None:
        done = launch.completed_epochs or 0
        complete = done >= max_epochs
        progress = f'epoch {done} of {max_epochs}'
    elif max_iters is not None:
        complete = (launch.reached_iter or 0) >= max_iters
        progress = f'iteration {launch.reached_iter or 0} of {max_iters}'
    else:
        complete = False
        progress = 'an unknown schedule (no train_cfg in the config)'
    if launch.train_records == 0 and not launch.reached_iter:
        launch.state = CRASHED if launch.crash else UNFINISHED
        launch.reason = ('crashed before the first logged training iteration' + error
                         if launch.crash else 'no training iteration logged yet')
        if not launch.has_files:
            launch.reason = 'empty launch directory'
        return
    if not complete:
        launch.state = CRASHED if launch.crash else UNFINISHED
        launch.reason = (f'crashed at {progress}{error}' if launch.crash else
                         f'unfinished: reached {progress} (still running, or stopped without '
                         'a logged error)')
        return
    if launch.final_eval is None:
        launch.state = CRASHED if launch.crash else NOT_EVALUATED
        launch.reason = (f'crashed after training, in or before the final evaluation{error}'
                         if launch.crash else 'training finished but no evaluation was logged '
                         'after it (no val_evaluator, or the evaluation was cut off)')
        return
    launch.state = FINISHED


def read_run(work_dir: str, name: str) -> Run:
    """Read one work dir (never raises: unreadable content becomes the run's status)."""
    try:
        return _read_run(work_dir, name)
    except Exception as e:  # noqa: BLE001  (a broken run must not stop the table)
        return Run(work_dir, name, UNREADABLE, f'could not be read: {type(e).__name__}: {e}')


def _read_run(work_dir: str, name: str) -> Run:
    entries = sorted(os.listdir(work_dir))
    stamps = sorted((e for e in entries if TIMESTAMP.match(e) and osp.isdir(osp.join(work_dir, e))),
                    reverse=True)
    if not entries:
        return Run(work_dir, name, EMPTY, 'empty directory')
    if not stamps:
        return Run(work_dir, name, NO_LOGS, 'no MMEngine launch in it (no <timestamp>/ '
                   'directory)')
    configs = [e for e in entries if e.endswith('.py') and osp.isfile(osp.join(work_dir, e))]
    fallback = osp.join(work_dir, configs[0]) if len(configs) == 1 else None
    launches = []
    for index, stamp in enumerate(stamps):
        launch = _read_launch(work_dir, stamp, fallback if index == 0 else None)
        _decide(launch)
        launches.append(launch)
    run = Run(work_dir, name, UNFINISHED, launches=[launch.name for launch in launches])
    if not any(launch.has_files for launch in launches):
        run.status, run.reason = NO_LOGS, 'its launch directories are empty'
        return run
    run.never_trained = [launch.name for launch in launches if launch.never_trained]
    considered = [launch for launch in launches
                  if launch.has_files and not launch.never_trained]
    if not considered:
        newest = next(launch for launch in launches if launch.has_files)
        run.launch = newest
        run.status = NEVER_TRAINED
        crash = next((launch.crash for launch in launches if launch.crash), '')
        run.reason = (f'no training iteration or evaluation logged in its '
                      f'{len(run.never_trained)} launch{"es" if len(run.never_trained) > 1 else ""}'
                      + (f' ({crash})' if crash else ''))
        return run
    finished = [launch for launch in considered if launch.state == FINISHED]
    if finished:
        chosen = finished[0]
        if considered.index(chosen) > 0:
            run.notes.append('a newer launch in this work dir is not finished; the newest '
                             'finished one is reported')
    else:
        chosen = considered[0]
    run.launch = chosen
    run.notes = chosen.notes + run.notes
    if chosen.config is None:
        run.status = NO_CONFIG
        run.reason = chosen.config_problem or ('no config found (neither vis_data/config.py, '
                                               'nor a config in its log, nor one *.py file in '
                                               'the work dir)')
    else:
        run.status, run.reason = chosen.state, chosen.reason
    return run


# ----------------------------------------------------------------------------- scanning
def _has_launch(path: str) -> bool:
    try:
        return any(TIMESTAMP.match(e) and osp.isdir(osp.join(path, e)) for e in os.listdir(path))
    except OSError:
        return False


def find_work_dirs(root: str, max_depth: int = 4) -> List[str]:
    """Work dirs under ``root``: ``root`` itself if it holds launches, else its sub-directories
    that do (searched ``max_depth`` levels down); a direct sub-directory with no launch
    anywhere below it is returned as well, so that it is reported (empty, no logs)."""
    if _has_launch(root):
        return [root]
    found = []
    for child in sorted(os.listdir(root)):
        path = osp.join(root, child)
        if child.startswith('.') or not osp.isdir(path):
            continue
        if _has_launch(path):
            found.append(path)
            continue
        nested = []
        for current, dirs, _ in os.walk(path):
            depth = osp.relpath(current, path).count(os.sep) + 1
            dirs.sort()
            if current != path and _has_launch(current):
                nested.append(current)
                dirs[:] = []
            elif depth >= max_depth:
                dirs[:] = []
        found.extend(nested if nested else [path])
    return found


def display_name(path: str, root: str) -> str:
    """``<root name>/<relative path>`` in POSIX form, independent of the current directory."""
    root = osp.abspath(root)
    rel = osp.relpath(osp.abspath(path), osp.dirname(root))
    return rel.replace(os.sep, '/')


def read_runs(roots: List[str]) -> List[Run]:
    """All runs under the given roots, sorted by display name (runs that never trained
    included, with the status :data:`NEVER_TRAINED`)."""
    runs = []
    for root in roots:
        for work_dir in find_work_dirs(root):
            runs.append(read_run(work_dir, display_name(work_dir, root)))
    return sorted(runs, key=lambda run: run.name)
