"""DetCo's multi-level neck: a global and a local MLP head per backbone stage.

Xie et al., "DetCo: Unsupervised Contrastive Learning for Object Detection", ICCV 2021,
sec. 3.2 and fig. 2(b).
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmselfsup.registry import MODELS


def _mlp(in_channels: int, hid_channels: int, out_channels: int) -> nn.Sequential:
    """fc-relu-fc, the MoCo v2 projection MLP."""
    return nn.Sequential(
        nn.Linear(in_channels, hid_channels), nn.ReLU(inplace=True),
        nn.Linear(hid_channels, out_channels))


@MODELS.register_module()
class DetCoNeck(BaseModule):
    """The multi-level neck of DetCo (paper sec. 3.2, fig. 2(b)).

    For every backbone stage ``i`` (res2..res5 for ``in_channels=(256, 512, 1024, 2048)``)
    the neck holds two MoCo v2 style MLPs, 2 x ``len(in_channels)`` heads in all:

    - global head: global average pool -> Linear(C_i, H_i) -> ReLU -> Linear(H_i, out);
    - local head: each of the ``num_patches`` jigsaw patches of an image is average-pooled
      to C_i, the vectors are concatenated in patch order (num_patches * C_i)
      -> Linear(num_patches * C_i, H_i) -> ReLU -> Linear(H_i, out).

    Every embedding is L2-normalised along dim 1.

    The default initialisation is MMSelfSup's for :class:`MoCoV2Neck` (``init_cfg=None``:
    PyTorch's default ``nn.Linear`` init, Kaiming-uniform); pass e.g.
    ``init_cfg=dict(type='Normal', std=0.01, layer='Linear')`` to change it.

    Args:
        in_channels (Sequence[int]): Channels C_i of the backbone's output stages, in
            the order the backbone returns them. Defaults to ResNet-50's res2..res5,
            ``(256, 512, 1024, 2048)``.
        hid_channels (int | Sequence[int], optional): Hidden width H_i of the MLPs:
            ``None`` for H_i = C_i (the paper's choice), an int for all stages or one
            int per stage. Defaults to None.
        out_channels (int): Embedding dimension. Defaults to 128.
        num_patches (int): Patches per image in the local branch (3 x 3 jigsaw).
            Defaults to 9.
        init_cfg (dict or list[dict], optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 hid_channels: Optional[Union[int, Sequence[int]]] = None,
                 out_channels: int = 128,
                 num_patches: int = 9,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        if isinstance(in_channels, int):
            in_channels = (in_channels, )
        self.in_channels = tuple(int(c) for c in in_channels)
        if not self.in_channels or min(self.in_channels) <= 0:
            raise ValueError('DetCoNeck: in_channels must list the positive channel count '
                             f'of each backbone stage, got {in_channels!r}')
        num_stages = len(self.in_channels)
        if hid_channels is None:
            hid = self.in_channels
        elif isinstance(hid_channels, int):
            hid = (hid_channels, ) * num_stages
        else:
            hid = tuple(int(h) for h in hid_channels)
            if len(hid) != num_stages:
                raise ValueError(
                    f'DetCoNeck: hid_channels has {len(hid)} entries but in_channels has '
                    f'{num_stages} stages {self.in_channels}: give one hidden width per '
                    'stage, a single int, or None (hidden width = stage channels)')
        if min(hid) <= 0:
            raise ValueError(f'DetCoNeck: hid_channels must be positive, got {hid_channels!r}')
        if out_channels <= 0:
            raise ValueError(f'DetCoNeck: out_channels must be positive, got {out_channels}')
        if num_patches <= 0:
            raise ValueError(f'DetCoNeck: num_patches must be positive, got {num_patches}')
        self.hid_channels = hid
        self.out_channels = out_channels
        self.num_patches = num_patches

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.global_mlps = nn.ModuleList(
            _mlp(c, h, out_channels) for c, h in zip(self.in_channels, hid))
        self.local_mlps = nn.ModuleList(
            _mlp(num_patches * c, h, out_channels) for c, h in zip(self.in_channels, hid))

    @property
    def num_stages(self) -> int:
        """int: Number of backbone stages (and of global / local head pairs)."""
        return len(self.in_channels)

    def _check_feats(self, feats: Sequence[torch.Tensor], name: str) -> None:
        """Raise a ValueError unless ``feats`` holds one (N, C_i, H, W) map per stage."""
        if not isinstance(feats, (tuple, list)):
            raise ValueError(f'DetCoNeck.{name}: expected a tuple of per-stage feature maps, '
                             f'got {type(feats).__name__}')
        if len(feats) != self.num_stages:
            raise ValueError(
                f'DetCoNeck.{name}: got {len(feats)} feature maps, expected '
                f'{self.num_stages} (one per stage, in_channels={self.in_channels}); check '
                "the backbone's out_indices")
        for i, (x, c) in enumerate(zip(feats, self.in_channels)):
            if x.dim() != 4 or x.size(1) != c:
                raise ValueError(
                    f'DetCoNeck.{name}: stage {i} expects {c} channels (in_channels[{i}]), '
                    f'got a feature map of shape {tuple(x.shape)}, i.e. '
                    f'{x.size(1) if x.dim() > 1 else "no"} channels; a (N, {c}, H, W) map '
                    'is expected')
            if x.size(0) != feats[0].size(0):
                raise ValueError(
                    f'DetCoNeck.{name}: stage {i} has batch size {x.size(0)} but stage 0 '
                    f'has {feats[0].size(0)}')

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C) global average pool."""
        return torch.flatten(self.avgpool(x), 1)

    @staticmethod
    def _embed(mlp: nn.Module, pooled: torch.Tensor) -> torch.Tensor:
        """``normalize(mlp(pooled))`` in fp32, also under autocast.

        In fp16 the local MLP's sums over 9 x C inputs and the squared norm can overflow
        (seen as NaN in every loss term a few iterations into an fp16 AMP run); the MLPs are a
        small part of the step, so they run in fp32 while the backbone keeps AMP.

        Args:
            mlp (nn.Module): A global or local head.
            pooled (torch.Tensor): (B, C_in) pooled features.

        Returns:
            torch.Tensor: (B, out_channels) fp32 L2-normalised embeddings.
        """
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            return F.normalize(mlp(pooled.float()), dim=1)

    def forward_global(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Global embeddings of whole views, one per stage.

        Args:
            feats (Sequence[torch.Tensor]): The backbone's per-stage maps of a batch of
                views, each (B, C_i, H_i, W_i).

        Returns:
            List[torch.Tensor]: One L2-normalised (B, out_channels) embedding per stage.
        """
        self._check_feats(feats, 'forward_global')
        return [self._embed(mlp, self._pool(x)) for mlp, x in zip(self.global_mlps, feats)]

    def forward_local(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Local embeddings of jigsaw patch sets, one per stage.

        Args:
            feats (Sequence[torch.Tensor]): The backbone's per-stage maps of the patch
                batch, each (num_patches * B, C_i, h_i, w_i); the patches of image ``b``
                are rows ``b * num_patches .. b * num_patches + num_patches - 1``, in
                patch order.

        Returns:
            List[torch.Tensor]: One L2-normalised (B, out_channels) embedding per stage.
        """
        self._check_feats(feats, 'forward_local')
        rows = feats[0].size(0)
        if rows % self.num_patches != 0:
            raise ValueError(
                f'DetCoNeck.forward_local: the patch batch has {rows} rows, not a multiple '
                f'of num_patches={self.num_patches}; it must hold the num_patches patches of '
                'each image as consecutive rows (image b: rows b*num_patches .. '
                '(b+1)*num_patches-1)')
        batch = rows // self.num_patches
        outs = []
        for mlp, x in zip(self.local_mlps, feats):
            # (P * B, C) -> (B, P * C): row b holds patches 0..P-1 of image b, concatenated.
            outs.append(self._embed(mlp, self._pool(x).reshape(batch, -1)))
        return outs

    def forward(
        self,
        global_feats: Sequence[torch.Tensor],
        local_feats: Optional[Sequence[torch.Tensor]] = None
    ) -> Tuple[List[torch.Tensor], Optional[List[torch.Tensor]]]:
        """Global and (optionally) local embeddings.

        Args:
            global_feats (Sequence[torch.Tensor]): Per-stage maps of the views,
                each (B, C_i, H, W); see :meth:`forward_global`.
            local_feats (Sequence[torch.Tensor], optional): Per-stage maps of the patch
                batch, each (num_patches * B, C_i, h, w); see :meth:`forward_local`.
                Defaults to None.

        Returns:
            Tuple[List[torch.Tensor], Optional[List[torch.Tensor]]]: The per-stage global
            (B, out_channels) embeddings and the per-stage local ones (None without
            ``local_feats``).
        """
        global_embs = self.forward_global(global_feats)
        local_embs = None if local_feats is None else self.forward_local(local_feats)
        return global_embs, local_embs
