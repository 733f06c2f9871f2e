"""The steps of ``tools/gpu_check.py``: one prepared pass over everything that needs a GPU.

Each step runs the project's own command line in a subprocess (``tools/check_env.py``,
``tools/train.py``, ``tools/dist_train.sh CFG 1``, ``tools/model_converters/
export_backbone.py``), with its whole output in ``WORK_DIR/logs/<step>.log``, and reports one
line: ok / failed / skipped, seconds, figures. Steps:

1. ``env``: imports, mmcv ops variant and (with a GPU) nms / RoIAlign / sigmoid_focal_loss on
   CUDA against CPU (:mod:`detco_mm.install.ops_check`);
2. ``data``: pre-training crops of scikit-image's bundled photographs
   (:mod:`detco_mm.demo.crops`) and tiny COCO / VOC / Cityscapes sets
   (:mod:`.detection_sets`), nothing downloaded;
3. ``pretrain-*``: the flagship ``configs/detco/detco_r50_8xb32.py`` (batch 32, bf16 AMP,
   channels-last) and ``configs/detco/mocov2_r50_8xb32.py`` with the *same* optimizer settings,
   N iterations each through ``tools/train.py`` and ``tools/dist_train.sh CFG 1`` (NCCL on a GPU);
   figures from MMEngine's ``scalars.json``: median step time, data_time share, images/s, peak
   memory; then the DetCo / MoCo v2 step-time ratio;
4. ``export``: the query encoder's ResNet of the DetCo run's checkpoint, for MMDetection;
5. ``finetune-*``: Mask R-CNN FPN and C4, RetinaNet (COCO), Faster R-CNN C4 (VOC) and Mask
   R-CNN (Cityscapes) from that backbone, M iterations each plus their evaluation.

``dry_run`` (or a CPU device) shrinks every size (batch, iterations, images, no AMP) so that
the same path runs on a CPU in a few minutes.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PRETRAIN_CONFIGS = {
    'detco': 'configs/detco/detco_r50_8xb32.py',
    'mocov2': 'configs/detco/mocov2_r50_8xb32.py',
}
#: step suffix -> (fine-tune config, data set, metric keys reported)
FINETUNE_FAMILIES = {
    'mask-rcnn-fpn': ('configs/finetune/mask_rcnn_detco.py', 'coco',
                      ('coco/bbox_mAP', 'coco/segm_mAP')),
    'mask-rcnn-c4': ('configs/finetune/mask_rcnn_c4_detco.py', 'coco',
                     ('coco/bbox_mAP', 'coco/segm_mAP')),
    'retinanet': ('configs/finetune/retinanet_detco.py', 'coco', ('coco/bbox_mAP',)),
    'faster-rcnn-c4-voc': ('configs/finetune/faster_rcnn_c4_detco_voc.py', 'voc',
                           ('pascal_voc/mAP',)),
    'mask-rcnn-cityscapes': ('configs/finetune/mask_rcnn_detco_cityscapes.py', 'cityscapes',
                             ('coco/bbox_mAP', 'cityscapes/mAP')),
}


class GpuCheckError(Exception):
    """Bad settings of the check itself (not a failed step)."""


@dataclass(frozen=True)
class Sizes:
    """How big each step is.

    Attributes:
        pretrain_iters: Iterations of each pre-training run.
        pretrain_batch: Images per GPU (per process) of pre-training.
        amp: ``'bf16'``, ``'fp16'`` or ``'none'`` (AMP needs CUDA).
        channels_last: Train pre-training models in channels-last layout.
        crops: Pre-training images written; ``crop_size`` their side in pixels.
        workers: Dataloader workers of pre-training.
        finetune_iters: Training iterations of each fine-tuning run (then one evaluation).
        val_images: Images of each evaluation split.
        finetune_scale: ``(w, h)`` to resize fine-tuning images to, ``None`` for the configs'
            own (1333x800-class) scales.
        bn: Use BN instead of the configs' SyncBN (a CPU has no SyncBN).
        step_timeout: Seconds before a step is killed.
    """

    pretrain_iters: int = 50
    pretrain_batch: int = 32
    amp: str = 'bf16'
    channels_last: bool = True
    crops: int = 256
    crop_size: int = 160
    workers: int = 8
    finetune_iters: int = 20
    val_images: int = 8
    finetune_scale: Optional[tuple] = None
    bn: bool = False
    step_timeout: int = 600

    def __post_init__(self) -> None:
        if self.amp not in ('bf16', 'fp16', 'none'):
            raise GpuCheckError(f"amp={self.amp!r}: use 'bf16', 'fp16' or 'none'")
        for name in ('pretrain_iters', 'pretrain_batch', 'crops', 'finetune_iters',
                     'val_images', 'step_timeout'):
            if getattr(self, name) < 1:
                raise GpuCheckError(f'{name}={getattr(self, name)} must be at least 1')
        if self.crops < self.pretrain_batch:
            raise GpuCheckError(f'crops={self.crops} is fewer than one batch '
                                f'(pretrain_batch={self.pretrain_batch})')


GPU_SIZES = Sizes()
DRY_RUN_SIZES = Sizes(pretrain_iters=3, pretrain_batch=4, amp='none', channels_last=True,
                      crops=16, crop_size=96, workers=0, finetune_iters=2, val_images=2,
                      finetune_scale=(256, 128), bn=True, step_timeout=900)


@dataclass
class StepResult:
    """One line of the report.

    Attributes:
        name: Step name, e.g. ``'pretrain-detco-dist'``.
        status: ``'ok'``, ``'failed'`` or ``'skipped'``.
        seconds: Wall time of the step.
        figures: What it measured (step time, images/s, mAP, ...).
        log: The step's full output.
        error: Why it failed or was skipped (last lines of its output).
    """

    name: str
    status: str
    seconds: float
    figures: Dict[str, object] = field(default_factory=dict)
    log: str = ''
    error: str = ''

    def line(self) -> str:
        """``ok      pretrain-detco   42.1 s  step 0.210 s, ...``."""
        figs = ', '.join(f'{k} {_fmt(v)}' for k, v in self.figures.items())
        tail = figs if self.status == 'ok' else (self.error.splitlines() or [''])[-1][:160]
        return f'{self.status:<8}{self.name:<30}{self.seconds:7.1f} s  {tail}'


def _fmt(v) -> str:
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)


# ------------------------------------------------------------------------------- figures
def read_scalars(work_dir: str) -> List[dict]:
    """The records of MMEngine's ``<work_dir>/<timestamp>/vis_data/scalars.json`` (newest run).

    Raises:
        FileNotFoundError: The run wrote no scalars.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}')
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def train_figures(records: Sequence[dict], images_per_step: int) -> Dict[str, object]:
    """Median step time, data_time share, images/s and peak memory of a training run.

    The first third of the iterations (at most 10) is warm-up and left out.

    Args:
        records: :func:`read_scalars` output.
        images_per_step: Global batch (per-process batch x processes).

    Returns:
        ``step_s``, ``data_share``, ``img_per_s``, ``iters`` and, on CUDA, ``peak_mem_gib``
        (MMEngine logs ``memory`` as max allocated MiB).

    Raises:
        ValueError: No training record has a ``time``.
    """
    train = [r for r in records if 'time' in r and 'data_time' in r]
    if not train:
        raise ValueError('no training iteration was logged (no "time" in scalars.json)')
    timed = train[min(10, len(train) // 3):] or train
    step = statistics.median(r['time'] for r in timed)
    data = statistics.median(r['data_time'] for r in timed)
    out = dict(step_s=round(step, 4), data_share=round(data / step, 3) if step else None,
               img_per_s=float(f'{images_per_step / step:.3g}') if step else None,
               iters=max(int(r.get('iter', r.get('step', 0))) for r in train))
    mem = [r['memory'] for r in train if 'memory' in r]
    if mem:
        out['peak_mem_gib'] = round(max(mem) / 1024, 2)
    return out


def val_figures(records: Sequence[dict], keys: Sequence[str]) -> Dict[str, object]:
    """The last evaluation's ``keys`` (e.g. ``coco/bbox_mAP``) from :func:`read_scalars`.

    Raises:
        ValueError: No record holds the first key (the evaluation did not run).
    """
    vals = [r for r in records if keys[0] in r]
    if not vals:
        raise ValueError(f'no evaluation record with {keys[0]!r} in scalars.json')
    return {k.split('/')[-1] if k.startswith('coco/') else k.replace('/', '_'): vals[-1][k]
            for k in keys if k in vals[-1]}


# ---------------------------------------------------------------------------- configs
def pretrain_config(name: str, sizes: Sizes, data_root: str, device: str, out_path: str,
                    optimizer: Optional[dict] = None) -> dict:
    """Write the pre-training config of a check run (a standalone dump of the repo config).

    Args:
        name: ``'detco'`` or ``'mocov2'`` (:data:`PRETRAIN_CONFIGS`).
        sizes: Check sizes.
        data_root: Folder in MMSelfSup's ImageNet layout.
        device: ``'cuda'`` or ``'cpu'``; AMP only on CUDA.
        out_path: Where the ``.py`` config goes.
        optimizer: Optimizer settings to use instead of the config's (the MoCo v2 run gets
            DetCo's, so that the ratio compares like with like).

    Returns:
        The optimizer settings used (for the report).
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, PRETRAIN_CONFIGS[name]))
    n = sizes.pretrain_iters
    cfg.train_dataloader.batch_size = sizes.pretrain_batch
    cfg.train_dataloader.num_workers = sizes.workers
    cfg.train_dataloader.persistent_workers = sizes.workers > 0
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=n)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=n, by_epoch=False, begin=0,
                                end=n)]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=n,
                                        max_keep_ckpts=1)
    cfg.log_processor = dict(window_size=1, by_epoch=False)
    if optimizer is not None:
        cfg.optim_wrapper.optimizer = optimizer
    if sizes.amp != 'none' and device.startswith('cuda'):
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = dict(bf16='bfloat16', fp16='float16')[sizes.amp]
    imports = list(cfg.get('custom_imports', {}).get('imports', ['detco_mm']))
    hooks = list(cfg.get('custom_hooks', []))
    if sizes.channels_last:
        imports.append('detco_mm.gpu_check.hooks')
        hooks.append(dict(type='ChannelsLastHook'))
    cfg.custom_imports = dict(imports=imports, allow_failed_imports=False)
    cfg.custom_hooks = hooks
    os.makedirs(osp.dirname(out_path), exist_ok=True)
    cfg.dump(out_path)
    return dict(cfg.optim_wrapper.optimizer)


def finetune_options(config: str, sizes: Sizes, data_root: str, pretrained: str,
                     work_dir: str) -> List[str]:
    """``--cfg-options`` of a check fine-tuning run of ``config``.

    Only sizes change: iterations, evaluation after the last one, no checkpoints, score
    threshold 0 (an barely trained detector still gives detections to evaluate), and with
    ``sizes.finetune_scale`` / ``sizes.bn`` smaller images and BN. ``pretrained`` and
    ``data_root`` reach every field through :mod:`detco_mm.engine.runner.finetune_runner`.

    Args:
        config: Path of a ``configs/finetune`` config.
        sizes: Check sizes.
        data_root: The data set's root.
        pretrained: Exported backbone.
        work_dir: The run's work dir (Cityscapes results go there).

    Returns:
        ``key=value`` strings.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    n = sizes.finetune_iters
    opts = [f'pretrained={pretrained}', f'data_root={data_root}',
            'default_hooks.logger.interval=1', 'default_hooks.checkpoint=None',
            'log_processor.window_size=1']
    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{part}.num_workers=2', f'{part}.persistent_workers=False']
    if cfg.train_cfg.type == 'IterBasedTrainLoop':
        opts += [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}']
    else:  # the train split holds n batches: one epoch is n iterations
        opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    if 'rpn_head' in cfg.model:
        opts += ['model.test_cfg.rcnn.score_thr=0.0']
    else:
        opts += ['model.test_cfg.score_thr=0.0']
    if sizes.bn:
        opts.append('norm_cfg.type=BN')
    if sizes.finetune_scale is not None:
        w, h = sizes.finetune_scale
        for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            for path, node in _pipeline_transforms(cfg[part].dataset, f'{part}.dataset'):
                if node.get('type') == 'Resize':
                    opts.append(f'{path}.scale=({w},{h})')
                elif node.get('type') == 'RandomChoiceResize':
                    opts.append(f'{path}.scales=[({w},{h})]')
        if 'rpn_head' in cfg.model:
            opts += ['model.train_cfg.rpn_proposal.nms_pre=256',
                     'model.train_cfg.rpn_proposal.max_per_img=64',
                     'model.train_cfg.rcnn.sampler.num=32', 'model.test_cfg.rpn.nms_pre=256',
                     'model.test_cfg.rpn.max_per_img=32', 'model.test_cfg.rcnn.max_per_img=10']
    evaluators = cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else [cfg.val_evaluator]
    for i, metric in enumerate(evaluators):
        if metric.type == 'CityScapesMetric':
            prefix = osp.join(work_dir, 'cityscapes_results')
            for part in ('val_evaluator', 'test_evaluator'):
                opts.append(f'{part}.{i}.outfile_prefix={prefix}')
    return opts


def _pipeline_transforms(dataset, path: str):
    """(cfg-options path, transform) of every transform in ``dataset``'s pipeline(s)."""
    if 'pipeline' in dataset:
        for i, t in enumerate(dataset.pipeline):
            yield f'{path}.pipeline.{i}', t
    if 'dataset' in dataset:  # RepeatDataset
        yield from _pipeline_transforms(dataset.dataset, f'{path}.dataset')
    for i, d in enumerate(dataset.get('datasets', []) or []):  # ConcatDataset
        yield from _pipeline_transforms(d, f'{path}.datasets.{i}')


# -------------------------------------------------------------------------------- runner
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class GpuCheck:
    """Runs the steps and collects their results.

    Args:
        work_dir: Where data, runs, logs and the report go.
        device: ``'cuda'`` or ``'cpu'``.
        sizes: Step sizes (:data:`GPU_SIZES`, :data:`DRY_RUN_SIZES`).
        python: Interpreter for the steps (default: this one).
        only: Steps to run (default: all): names, or prefixes of names (``'pretrain'``);
            the steps they need are not added, but their outputs from an earlier call in
            the same work dir are used.
        echo: Called with each report line as it is made.
    """

    def __init__(self, work_dir: str, device: str = 'cuda', sizes: Sizes = GPU_SIZES,
                 python: str = sys.executable, only: Optional[Sequence[str]] = None,
                 echo: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
        if device not in ('cuda', 'cpu'):
            raise GpuCheckError(f"device={device!r}: use 'cuda' or 'cpu'")
        if device == 'cuda':
            import torch
            if not torch.cuda.is_available():
                raise GpuCheckError('device=cuda, but torch sees no CUDA GPU; use --dry-run '
                                    '(CPU, tiny sizes) on a machine without one')
        self.work_dir = osp.abspath(work_dir)
        self.device, self.sizes, self.python, self.echo = device, sizes, python, echo
        self.only = list(only) if only else None
        self.results: List[StepResult] = []
        data = osp.join(self.work_dir, 'data')
        # Fixed places, so that a later call with --only finds what an earlier one made.
        self.paths: Dict[str, str] = dict(
            pretrain=osp.join(data, 'pretrain', ''), coco=osp.join(data, 'coco', ''),
            voc=osp.join(data, 'VOCdevkit', ''), cityscapes=osp.join(data, 'cityscapes', ''),
            backbone=osp.join(self.work_dir, 'backbone_mmdet.pth'),
            **{f'ckpt-{n}': osp.join(self.work_dir, f'pretrain-{n}',
                                     f'iter_{sizes.pretrain_iters}.pth')
               for n in PRETRAIN_CONFIGS})
        self.optimizers: Dict[str, dict] = {}
        os.makedirs(osp.join(self.work_dir, 'logs'), exist_ok=True)

    def _have(self, *keys: str) -> bool:
        return all(osp.exists(self.paths[k]) for k in keys)

    # -- step plumbing
    def _wanted(self, name: str) -> bool:
        """A step name in ``only`` selects that step; any other entry is a prefix
        (``pretrain`` selects every pre-training run, ``ratio`` the ratio step)."""
        if self.only is None:
            return True
        names = self.step_names()
        return any(name == p or (p not in names and name.startswith(p)) for p in self.only)

    def _record(self, result: StepResult) -> StepResult:
        self.results.append(result)
        self.echo(result.line())
        return result

    def skip(self, name: str, why: str) -> StepResult:
        """Record a step that cannot run (a step it needs failed)."""
        return self._record(StepResult(name, 'skipped', 0.0, error=why))

    def run_python(self, name: str, fn: Callable[[], Dict[str, object]]) -> StepResult:
        """A step done in this process; ``fn`` returns its figures."""
        t0 = time.time()
        try:
            figures = fn()
            return self._record(StepResult(name, 'ok', time.time() - t0, figures))
        except Exception as e:  # a failed step is reported, the next ones still run
            return self._record(StepResult(name, 'failed', time.time() - t0,
                                           error=f'{type(e).__name__}: {e}'))

    def run_command(self, name: str, cmd: List[str], figures: Callable[[], Dict] = dict,
                    env: Optional[dict] = None) -> StepResult:
        """A step that runs ``cmd`` in the repo; its output goes to ``logs/<name>.log``."""
        log = osp.join(self.work_dir, 'logs', f'{name}.log')
        t0 = time.time()
        run_env = dict(os.environ, PYTHONPATH=REPO_ROOT + (
            ':' + os.environ['PYTHONPATH'] if os.environ.get('PYTHONPATH') else ''))
        run_env.update(env or {})
        if self.device == 'cpu':
            run_env['CUDA_VISIBLE_DEVICES'] = ''
        with open(log, 'w') as f:
            f.write('$ ' + ' '.join(cmd) + '\n')
            f.flush()
            try:
                rc = subprocess.run(cmd, cwd=REPO_ROOT, env=run_env, stdout=f,
                                    stderr=subprocess.STDOUT,
                                    timeout=self.sizes.step_timeout).returncode
            except subprocess.TimeoutExpired:
                rc = f'timeout after {self.sizes.step_timeout} s'
        seconds = time.time() - t0
        if rc != 0:
            with open(log) as f:
                tail = ''.join(f.readlines()[-25:])
            return self._record(StepResult(name, 'failed', seconds, log=log,
                                           error=f'exit {rc}; {log}:\n{tail}'))
        try:
            figs = figures()
        except Exception as e:
            return self._record(StepResult(name, 'failed', seconds, log=log,
                                           error=f'ran, but no figures: {type(e).__name__}: {e}'))
        return self._record(StepResult(name, 'ok', seconds, figs, log=log))

    # -- the steps
    def step_env(self) -> None:
        def figures():
            with open(osp.join(self.work_dir, 'logs', 'env.log')) as f:
                lines = [ln.strip() for ln in f if 'mmcv ops variant' in ln or ' cuda ' in ln]
            return {'mmcv': lines[0].split('variant', 1)[1].strip().split('  [')[0]} \
                if lines else {}
        self.run_command('env', [self.python, 'tools/check_env.py'], figures)

    def step_data(self) -> None:
        def make():
            from detco_mm.demo.crops import write_crops
            from detco_mm.demo.photos import load_photos

            from .detection_sets import write_cityscapes, write_coco, write_voc
            s, p = self.sizes, self.paths
            write_crops(p['pretrain'], load_photos(), s.crops, s.crop_size, 0)
            train = s.finetune_iters * 2  # two images per batch in every COCO config
            write_coco(p['coco'], {'train2017': train, 'val2017': s.val_images})
            write_voc(p['voc'], {('VOC2007', 'trainval'): 4, ('VOC2012', 'trainval'): 4,
                                 ('VOC2007', 'test'): s.val_images})
            write_cityscapes(p['cityscapes'], {'train': 4, 'val': s.val_images})
            return dict(crops=s.crops, coco_train=train, val_images=s.val_images)
        self.run_python('data', make)

    def step_pretrain(self, name: str, dist: bool) -> StepResult:
        step = f'pretrain-{name}' + ('-dist' if dist else '')
        if not self._have('pretrain'):
            return self.skip(step, 'needs the data step')
        run_dir = osp.join(self.work_dir, step)
        cfg_path = osp.join(self.work_dir, 'configs', f'{name}.py')
        if name not in self.optimizers:
            try:
                # MoCo v2 gets DetCo's optimizer settings: the ratio compares like with like
                for n in ('detco', name) if name != 'detco' else (name,):
                    if n not in self.optimizers:
                        self.optimizers[n] = pretrain_config(
                            n, self.sizes, self.paths['pretrain'], self.device,
                            osp.join(self.work_dir, 'configs', f'{n}.py'),
                            self.optimizers.get('detco'))
            except Exception as e:
                return self._record(StepResult(step, 'failed', 0.0,
                                               error=f'config: {type(e).__name__}: {e}'))
        if dist:
            cmd = ['bash', 'tools/dist_train.sh', cfg_path, '1', '--work-dir', run_dir]
            env = dict(PYTHON=self.python, PORT=str(_free_port()))
        else:
            cmd, env = [self.python, 'tools/train.py', cfg_path, '--work-dir', run_dir], None
        return self.run_command(
            step, cmd, lambda: train_figures(read_scalars(run_dir), self.sizes.pretrain_batch),
            env)

    def step_ratio(self) -> None:
        """DetCo / MoCo v2 step time and memory, from the runs' logs on disk (so that runs of
        an earlier ``--only`` call in the same work dir count too)."""
        def figures(step: str) -> Optional[dict]:
            try:
                return train_figures(read_scalars(osp.join(self.work_dir, step)),
                                     self.sizes.pretrain_batch)
            except (FileNotFoundError, ValueError):
                return None
        figs = {}
        for suffix in ('', '-dist'):
            d, m = figures(f'pretrain-detco{suffix}'), figures(f'pretrain-mocov2{suffix}')
            if d and m:
                key = suffix.replace('-', '_')
                figs['ratio' + key] = round(d['step_s'] / m['step_s'], 2)
                if 'peak_mem_gib' in d and 'peak_mem_gib' in m:
                    figs['mem_ratio' + key] = round(d['peak_mem_gib'] / m['peak_mem_gib'], 2)
        if not figs:
            self.skip('ratio-detco/mocov2', 'needs a DetCo and a MoCo v2 run')
            return
        opts = {}
        for n in PRETRAIN_CONFIGS:
            path = osp.join(self.work_dir, 'configs', f'{n}.py')
            if osp.exists(path):
                from mmengine.config import Config
                opts[n] = dict(Config.fromfile(path).optim_wrapper.optimizer)
        same = len(opts) == 2 and opts['detco'] == opts['mocov2']
        figs['optimizer'] = ('same: ' if same else 'DIFFERENT: ') + json.dumps(opts, sort_keys=True)
        self._record(StepResult('ratio-detco/mocov2', 'ok', 0.0, figs))

    def step_export(self) -> None:
        ckpt, out = self.paths['ckpt-detco'], self.paths['backbone']
        if not self._have('ckpt-detco'):
            self.skip('export', f'needs a finished DetCo pre-training run ({ckpt})')
            return
        if osp.exists(out):
            os.remove(out)  # never fine-tune from an older export

        def figures():
            import torch
            state = torch.load(out, map_location='cpu', weights_only=True)['state_dict']
            return {'tensors': len(state), 'from': osp.basename(ckpt)}
        self.run_command('export', [self.python, 'tools/model_converters/export_backbone.py',
                                    ckpt, out], figures)

    def step_finetune(self, family: str) -> None:
        step = f'finetune-{family}'
        config, data, keys = FINETUNE_FAMILIES[family]
        if not self._have('backbone', data):
            self.skip(step, 'needs the data and export steps')
            return
        run_dir = osp.join(self.work_dir, step)
        try:
            opts = finetune_options(osp.join(REPO_ROOT, config), self.sizes, self.paths[data],
                                    self.paths['backbone'], run_dir)
        except Exception as e:
            self._record(StepResult(step, 'failed', 0.0, error=f'config: {type(e).__name__}: {e}'))
            return

        def figures():
            records = read_scalars(run_dir)
            figs = train_figures(records, 1)
            figs.pop('img_per_s')
            figs.pop('data_share')
            figs.update(val_figures(records, keys))
            return figs
        self.run_command(step, [self.python, 'tools/train.py', config, '--work-dir', run_dir,
                                '--cfg-options'] + opts, figures)

    def run(self) -> List[StepResult]:
        """All wanted steps in order; returns their results."""
        plan = [('env', self.step_env), ('data', self.step_data)]
        for name in PRETRAIN_CONFIGS:
            plan += [(f'pretrain-{name}', lambda n=name: self.step_pretrain(n, False)),
                     (f'pretrain-{name}-dist', lambda n=name: self.step_pretrain(n, True))]
        plan += [('ratio-detco/mocov2', self.step_ratio), ('export', self.step_export)]
        plan += [(f'finetune-{f}', lambda f=f: self.step_finetune(f)) for f in FINETUNE_FAMILIES]
        for name, fn in plan:
            if self._wanted(name):
                fn()
        return self.results

    # -- report
    def report(self) -> dict:
        """JSON-friendly report; also written to ``WORK_DIR/gpu_check.json`` and ``.md``.

        Steps of an earlier call in the same work dir (``--only``) that this call did not run
        are kept (same device and sizes only), so that the files describe the whole check.
        """
        import torch
        dev = torch.cuda.get_device_name(0) if self.device == 'cuda' else 'cpu'
        path = osp.join(self.work_dir, 'gpu_check.json')
        steps = {r.name: r for r in self.results}
        if self.only is not None and osp.exists(path):
            with open(path) as f:
                old = json.load(f)
            if old.get('device') == dev and old.get('sizes') == json.loads(
                    json.dumps(asdict(self.sizes))):
                for st in old.get('steps', []):
                    steps.setdefault(st['name'], StepResult(**st))
        order = self.step_names()
        results = sorted(steps.values(), key=lambda r: order.index(r.name)
                         if r.name in order else len(order))
        rep = dict(device=dev, torch=torch.__version__, torch_cuda=torch.version.cuda,
                   python=sys.version.split()[0], sizes=asdict(self.sizes),
                   ok=all(r.status == 'ok' for r in results),
                   steps=[asdict(r) for r in results])
        with open(path, 'w') as f:
            json.dump(rep, f, indent=1, default=str)
        with open(osp.join(self.work_dir, 'gpu_check.md'), 'w') as f:
            f.write(markdown_table(results, dev))
        return rep

    @staticmethod
    def step_names() -> List[str]:
        """Every step's name, in the order :meth:`run` runs them."""
        names = ['env', 'data']
        for n in PRETRAIN_CONFIGS:
            names += [f'pretrain-{n}', f'pretrain-{n}-dist']
        names += ['ratio-detco/mocov2', 'export']
        return names + [f'finetune-{f}' for f in FINETUNE_FAMILIES]


def markdown_table(results: Sequence[StepResult], device: str) -> str:
    """The report as a Markdown table (for the README's Speed section)."""
    rows = [f'| step ({device}) | result | seconds | figures |', '|---|---|---|---|']
    for r in results:
        figs = ', '.join(f'{k} {_fmt(v)}' for k, v in r.figures.items() if k != 'optimizer')
        rows.append(f'| {r.name} | {r.status} | {r.seconds:.1f} | {figs or r.error[:80]} |')
    return '\n'.join(rows) + '\n'
