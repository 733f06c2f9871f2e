"""Shuffle BN across processes for several tensors that share one permutation.

MoCo (He et al., CVPR 2020, sec. 3.3) feeds the key encoder a batch whose samples were
permuted across processes, so that BatchNorm cannot use intra-process statistics to find the
positive key. DetCo's key encoder sees two tensors per image, the global view (B, 3, H, W)
and its patch set (B, 9, 3, h, w); the patches must move with their image, so both are
permuted by the same index. MMSelfSup's ``batch_shuffle_ddp`` draws a new permutation per
tensor; this one takes them all at once.

In a single process a permutation does not change BatchNorm's statistics, so both functions
are then identities and cost nothing.
"""
from typing import List, Optional, Tuple

import torch
from mmengine.dist import all_gather, broadcast, get_rank, get_world_size


@torch.no_grad()
def batch_shuffle_ddp(
        *tensors: torch.Tensor) -> Tuple[List[torch.Tensor], Optional[torch.Tensor]]:
    """Permute samples across all processes, one permutation for every tensor.

    Args:
        *tensors (torch.Tensor): Tensors of shape (B, ...) with the same B on every process.

    Returns:
        Tuple[List[torch.Tensor], Optional[torch.Tensor]]: This process's share of each
        permuted tensor (B, ...), and the index that undoes the permutation (world * B,), or
        None in a single process.
    """
    world_size = get_world_size()
    if world_size == 1:
        return list(tensors), None
    batch_size = tensors[0].shape[0]
    idx_shuffle = torch.randperm(batch_size * world_size, device=tensors[0].device)
    broadcast(idx_shuffle, src=0)
    idx_this = idx_shuffle.view(world_size, -1)[get_rank()]
    shuffled = [torch.cat(all_gather(t), dim=0)[idx_this] for t in tensors]
    return shuffled, torch.argsort(idx_shuffle)


@torch.no_grad()
def batch_unshuffle_gather(
        x: torch.Tensor,
        idx_unshuffle: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Undo :func:`batch_shuffle_ddp` and gather all processes' samples, with one all-gather.

    Args:
        x (torch.Tensor): (B, ...) outputs computed on the shuffled samples.
        idx_unshuffle (torch.Tensor, optional): The index returned by
            :func:`batch_shuffle_ddp`; None in a single process.

    Returns:
        Tuple[torch.Tensor, torch.Tensor]: This process's samples in their original order
        (B, ...), and every process's samples in rank order (world * B, ...), as the queue
        update needs them.
    """
    if idx_unshuffle is None:
        return x, x
    x_all = torch.cat(all_gather(x), dim=0)[idx_unshuffle]
    batch_size = x.shape[0]
    rank = get_rank()
    return x_all[rank * batch_size:(rank + 1) * batch_size], x_all
