"""DetCo: Unsupervised Contrastive Learning for Object Detection.

Xie, Ding, Wang, Zhan, Xu, Sun, Li, Luo, ICCV 2021 (arXiv 2102.04803), sec. 3 and fig. 2(b).
The authors never released their pre-training code; this follows the paper and MoCo v2, on
which DetCo builds; the README's component table lists where each part lives.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.dist import get_world_size
from mmselfsup.models.algorithms.base import BaseModel
from mmselfsup.registry import MODELS
from mmselfsup.structures import SelfSupDataSample

from ..utils import MomentumEncoder, batch_shuffle_ddp, batch_unshuffle_gather


def stage_names_of(out_indices: Sequence[int]) -> Tuple[str, ...]:
    """ResNet stage names of MMSelfSup ``out_indices`` (0 = stem, 1..4 = res2..res5)."""
    return tuple('stem' if i == 0 else f'res{i + 1}' for i in out_indices)


@MODELS.register_module()
class DetCo(BaseModel):
    """DetCo (paper fig. 2(b)): MoCo v2 with multi-level, global and local contrast.

    Per image the model gets two global views x1, x2 and two jigsaw patch sets p3, p4
    (``inputs = [x1, x2, p3, p4]``, see :class:`PackDetCoInputs`). The query encoder
    (backbone + :class:`DetCoNeck`, trained by SGD) embeds x1 and p3 at every backbone stage;
    the key encoder, an exponential moving average of it
    (``theta_k <- m * theta_k + (1 - m) * theta_q``), embeds x2 and p4 with shuffled BN. The
    :class:`HierarchicalContrastiveHead` contrasts them against one global and one local queue
    per stage (``L = sum_i w_i (L_g2g + L_l2l + L_l2g)``); then the key encoder's embeddings of
    x2 and p4 are enqueued. Patches go through each encoder as one (9B, 3, h, w) batch.

    Queues are buffers, saved and resumed with the model: ``global_queue`` and
    ``local_queue`` of shape (S, D, K), row ``i`` being stage ``i``'s queue of K
    L2-normalised D-dim keys, and one FIFO pointer ``queue_ptr`` shared by all of them.

    Args:
        backbone (dict): Config of the backbone; ``out_indices`` picks the stages
            (MMSelfSup ResNet: 1..4 = res2..res5).
        neck (dict): Config of the :class:`DetCoNeck`.
        head (dict): Config of the :class:`HierarchicalContrastiveHead`. Its ``stage_names``
            default to the backbone's stages (``res2`` ... ``res5``).
        queue_len (int): Keys per queue, K. Must be divisible by the global batch
            (batch per process x processes). Defaults to 65536.
        feat_dim (int): Embedding dimension D. Defaults to 128.
        momentum (float): Momentum m of the key encoder. Defaults to 0.999.
        pretrained (str, optional): Checkpoint to initialise from. Defaults to None.
        data_preprocessor (dict, optional): Defaults to :class:`DetCoDataPreprocessor`.
        init_cfg (dict or list[dict], optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.999,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        stages = stage_names_of(backbone.get('out_indices', (4, )))
        head = dict(head)
        head.setdefault('stage_names', stages)
        # given loss weights must fit the backbone's stages; the head's own defaults are checked
        # (against stage_names) by the head
        weights = head.get('loss_weights')
        if weights is not None and len(weights) != len(stages):
            raise ValueError(
                f'DetCo: model.head.loss_weights has {len(weights)} entries {tuple(weights)} '
                f'but model.backbone.out_indices selects {len(stages)} stages {stages}; give '
                f'one loss weight per stage (the paper uses (0.1, 0.4, 0.7, 1.0) for '
                f'res2..res5).')
        if queue_len < 1:
            raise ValueError(f'DetCo: model.queue_len must be positive, got {queue_len}')
        if not 0 < momentum < 1:
            raise ValueError(f'DetCo: model.momentum must be in (0, 1), got {momentum}')
        if data_preprocessor is None:
            data_preprocessor = dict(type='mmselfsup.DetCoDataPreprocessor')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)

        self._check_parts_fit(stages, feat_dim)

        # The key (momentum) encoder: an EMA whose update weight is 1 - m.
        self.encoder_k = MomentumEncoder(nn.Sequential(self.backbone, self.neck), 1 - momentum)

        self.queue_len = queue_len
        self.register_buffer(
            'global_queue',
            nn.functional.normalize(torch.randn(len(stages), feat_dim, queue_len), dim=1))
        self.register_buffer(
            'local_queue',
            nn.functional.normalize(torch.randn(len(stages), feat_dim, queue_len), dim=1))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    def _check_parts_fit(self, stages: Tuple[str, ...], feat_dim: int) -> None:
        """Raise a ValueError unless the built neck fits the backbone's stages and the queues.

        Checked once here, from the constructor's arguments; a mismatch would otherwise
        surface only in the first training step, as a shape error of the neck or the head.

        Args:
            stages (Tuple[str, ...]): The backbone's selected stages (``res2`` ...).
            feat_dim (int): The queues' key width D.
        """
        neck_stages = getattr(self.neck, 'num_stages', len(stages))
        if neck_stages != len(stages):
            in_channels = getattr(self.neck, 'in_channels', None)  # a custom neck may lack it
            raise ValueError(
                f'DetCo: model.neck.in_channels='
                f'{"?" if in_channels is None else tuple(in_channels)} lists {neck_stages} '
                f'stages but model.backbone.out_indices selects {len(stages)} stages {stages}; '
                f'give the neck the channels of each selected stage.')
        out = getattr(self.neck, 'out_channels', feat_dim)
        if out != feat_dim:
            raise ValueError(
                f'DetCo: model.feat_dim={feat_dim} but model.neck.out_channels={out}: the '
                f'queues hold feat_dim-wide keys of the neck\'s embeddings. Set both to the '
                f'same value (e.g. model.feat_dim={out}).')

    def extract_feat(self, inputs: List[torch.Tensor],
                     **kwargs) -> Tuple[torch.Tensor, ...]:
        """Backbone features of the first view at every selected stage.

        Args:
            inputs (List[torch.Tensor]): ``[x1, ...]`` with x1 of shape (B, 3, H, W).

        Returns:
            Tuple[torch.Tensor, ...]: One (B, C_i, H_i, W_i) map per stage.
        """
        return self.backbone(inputs[0])

    def _embed(self, backbone: nn.Module, neck: nn.Module, images: torch.Tensor,
               patches: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Global embeddings of ``images`` (B, 3, H, W) and local embeddings of ``patches``
        (B, P, 3, h, w), each a per-stage list of (B, D).

        The patches of the whole batch form one (P*B, 3, h, w) batch in channels-last layout:
        for many small images, NCHW convolutions (oneDNN on CPU) spend more time converting
        layouts than computing, and the patch pass then costs 1.7x the global pass instead of
        its 0.73x share of the pixels.
        """
        global_emb = neck.forward_global(backbone(images))
        patches = patches.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        local_emb = neck.forward_local(backbone(patches))
        return global_emb, local_emb

    def _check_inputs(self, inputs: List[torch.Tensor]) -> None:
        """Clear errors for inputs that are not DetCo's four views, or a queue/batch clash."""
        if len(inputs) != 4 or [x.dim() for x in inputs] != [4, 4, 5, 5]:
            shapes = [tuple(x.shape) for x in inputs]
            raise ValueError(
                'DetCo expects inputs [x1, x2, p3, p4]: two global views (B, 3, H, W) and two '
                f'patch sets (B, 9, 3, h, w), got shapes {shapes}. Build the pipeline with '
                "MultiView(num_views=[2, 2], ...) and PackDetCoInputs (see configs/detco/).")
        global_batch = inputs[0].shape[0] * get_world_size()
        if self.queue_len % global_batch:
            raise ValueError(
                f'DetCo: model.queue_len={self.queue_len} is not divisible by the global batch '
                f'{global_batch} ({inputs[0].shape[0]} per process x {get_world_size()} '
                f'processes); set model.queue_len to a multiple of {global_batch} or change '
                'train_dataloader.batch_size (keep drop_last=True).')

    def loss(self, inputs: List[torch.Tensor], data_samples: List[SelfSupDataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """The DetCo loss of a batch, then the queue update (paper fig. 2(b)).

        Args:
            inputs (List[torch.Tensor]): ``[x1, x2, p3, p4]``: global views (B, 3, H, W)
                and patch sets (B, 9, 3, h, w), normalised.
            data_samples (List[SelfSupDataSample]): Unused.

        Returns:
            Dict[str, torch.Tensor]: ``loss_{g2g,l2l,l2g}_{stage}``, each weighted by its
            stage weight; MMEngine sums them into the total ``loss``.
        """
        self._check_inputs(inputs)
        x1, x2, p3, p4 = inputs

        # Query encoder: global embeddings of x1, local embeddings of p3.
        global_q, local_q = self._embed(self.backbone, self.neck, x1, p3)

        with torch.no_grad():
            self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
            # Shuffle BN: one permutation of the images; patches move with their image.
            (x2, p4), idx_unshuffle = batch_shuffle_ddp(x2, p4)
            global_k, local_k = self._embed(*self.encoder_k.module, x2, p4)
            # All 2S key sets are unshuffled and gathered in one collective.
            keys = torch.stack(global_k + local_k, dim=1)  # (B, 2S, D)
            keys, keys_all = batch_unshuffle_gather(keys, idx_unshuffle)
            num_stages = len(global_k)
            global_k = list(keys[:, :num_stages].unbind(1))
            local_k = list(keys[:, num_stages:].unbind(1))

        losses = self.head(global_q, local_q, global_k, local_k,
                           list(self.global_queue.unbind(0)), list(self.local_queue.unbind(0)))
        self._dequeue_and_enqueue(keys_all)
        return losses

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys_all: torch.Tensor) -> None:
        """Write every process's keys over the oldest ones of each queue, in place.

        Args:
            keys_all (torch.Tensor): (N, 2S, D) keys of the global batch: the key encoder's
                global embeddings of x2 (first S) and local embeddings of p4 (last S).
        """
        num_keys = keys_all.shape[0]
        num_stages = self.global_queue.shape[0]
        ptr = self.queue_ptr  # stays on the device: no host sync
        cols = (ptr + torch.arange(num_keys, device=ptr.device)) % self.queue_len
        keys = keys_all.to(self.global_queue.dtype).permute(1, 2, 0)  # (2S, D, N)
        self.global_queue.index_copy_(2, cols, keys[:num_stages])
        self.local_queue.index_copy_(2, cols, keys[num_stages:])
        self.queue_ptr.copy_((ptr + num_keys) % self.queue_len)
