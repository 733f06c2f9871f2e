"""DetCo's hierarchical contrastive loss: global, local and cross-view terms at every stage.

Xie et al., "DetCo: Unsupervised Contrastive Learning for Object Detection", ICCV 2021,
sec. 3.2 (multi-level supervision, global and local contrastive learning) and fig. 2(b).
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from mmselfsup.models.heads import ContrastiveHead
from mmselfsup.registry import MODELS


@MODELS.register_module()
class HierarchicalContrastiveHead(BaseModule):
    r"""The DetCo objective (paper sec. 3.2, fig. 2(b)).

    With L2-normalised query q, positive key k+ and queue of negatives Q (D x K), the
    contrastive (InfoNCE) term is MoCo's

    .. math::
        \mathrm{ctr}(q, k_+, Q) = \mathrm{CE}\big([q \cdot k_+,\ q^\top Q] / \tau,\ 0\big)
        = -\log \frac{\exp(q \cdot k_+ / \tau)}
                     {\exp(q \cdot k_+ / \tau) + \sum_j \exp(q \cdot Q_j / \tau)},

    averaged over the batch (computed by MMSelfSup's :class:`ContrastiveHead`). With the
    global embeddings g of the views x1 (query encoder) / x2 (key encoder) and the local
    embeddings l of the patch sets p3 (query encoder) / p4 (key encoder), the loss of
    stage i with global queue G_i and local queue L_i is

    .. math::
        \mathcal{L}^i_{g2g} = \mathrm{ctr}(g^i_q, g^i_k, G_i), \quad
        \mathcal{L}^i_{l2l} = \mathrm{ctr}(l^i_q, l^i_k, L_i), \quad
        \mathcal{L}^i_{l2g} = \mathrm{ctr}(l^i_q, g^i_k, G_i)

    and DetCo minimises

    .. math::
        \mathcal{L} = \sum_i w_i \, (\mathcal{L}^i_{g2g} + \mathcal{L}^i_{l2l}
                                    + \mathcal{L}^i_{l2g}),
        \qquad w = (0.1, 0.4, 0.7, 1.0) \text{ for res2..res5}.

    ``with_g2l=True`` adds :math:`\mathcal{L}^i_{g2l} = \mathrm{ctr}(g^i_q, l^i_k, L_i)`
    (not in the paper's figure). One stage is computed by :meth:`stage_losses`, one term by
    :meth:`ctr`.

    The returned dict holds every weighted term separately (``loss_g2g_res2``, ...), so
    MMEngine's sum over all ``loss*`` keys is :math:`\mathcal{L}` and its log shows both
    the terms and the total (``loss``).

    Logits are computed in fp32 with autocast disabled, whatever the input dtype. Each
    queue is read (and copied, see :meth:`negatives`) once per call, for all the queries
    contrasted with it.

    Args:
        temperature (float): The temperature tau. Defaults to 0.2.
        loss_weights (Sequence[float]): The stage weights w_i, one per stage.
            Defaults to (0.1, 0.4, 0.7, 1.0).
        stage_names (Sequence[str]): Names of the stages used in the loss keys, one per
            stage. Defaults to ('res2', 'res3', 'res4', 'res5').
        with_g2l (bool): Whether to add the global-to-local term. Defaults to False.
        loss (dict): Config of the classification loss used by :class:`ContrastiveHead`.
            Defaults to ``dict(type='mmcls.CrossEntropyLoss')``.
        init_cfg (dict or list[dict], optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 temperature: float = 0.2,
                 loss_weights: Sequence[float] = (0.1, 0.4, 0.7, 1.0),
                 stage_names: Sequence[str] = ('res2', 'res3', 'res4', 'res5'),
                 with_g2l: bool = False,
                 loss: dict = dict(type='mmcls.CrossEntropyLoss'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        loss_weights = tuple(float(w) for w in loss_weights)
        stage_names = tuple(str(s) for s in stage_names)
        if len(loss_weights) != len(stage_names):
            raise ValueError(
                f'HierarchicalContrastiveHead: loss_weights has {len(loss_weights)} entries '
                f'{loss_weights} but stage_names has {len(stage_names)} {stage_names}; set '
                "loss_weights (and stage_names) with one entry for each of the backbone's "
                'out_indices')
        if not stage_names:
            raise ValueError('HierarchicalContrastiveHead: stage_names is empty; give one '
                             "name per backbone stage (the backbone's out_indices)")
        if len(set(stage_names)) != len(stage_names):
            raise ValueError('HierarchicalContrastiveHead: stage_names must be unique (they '
                             f'name the loss keys), got {stage_names}')
        if not temperature > 0:
            raise ValueError('HierarchicalContrastiveHead: temperature must be > 0, got '
                             f'{temperature}')
        self.temperature = float(temperature)
        self.loss_weights = loss_weights
        self.stage_names = stage_names
        self.with_g2l = with_g2l
        self.contrastive = ContrastiveHead(loss=copy.deepcopy(loss), temperature=temperature)

    @property
    def num_stages(self) -> int:
        """int: Number of stages the head expects in each argument."""
        return len(self.stage_names)

    def ctr(self, q: torch.Tensor, k: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """InfoNCE term ``CE([q.k, q.Q] / tau, 0)``, batch mean, in fp32.

        Args:
            q (torch.Tensor): (N, D) L2-normalised queries.
            k (torch.Tensor): (N, D) L2-normalised positive keys.
            neg (torch.Tensor): (N, K) fp32 negative logits ``q.Q`` (see :meth:`negatives`).

        Returns:
            torch.Tensor: The scalar fp32 loss.
        """
        with torch.autocast(device_type=q.device.type, enabled=False):
            pos = (q.float() * k.float()).sum(dim=1, keepdim=True)  # (N, 1)
            return self.contrastive(pos, neg)

    @staticmethod
    def negatives(queue: torch.Tensor, *queries: torch.Tensor) -> List[torch.Tensor]:
        """Negative logits ``q.Q`` of several queries against one queue, in one product.

        The queue is read once for all queries that are contrasted with it (g2g and l2g share
        the global queue). It is copied once, in fp32 and without grad (as MoCo's
        ``queue.clone().detach()``): the algorithm enqueues new keys in place right after
        this call, before the backward pass that needs the negatives.

        Args:
            queue (torch.Tensor): (D, K) negatives.
            *queries (torch.Tensor): (N_j, D) queries.

        Returns:
            List[torch.Tensor]: (N_j, K) fp32 logits, one per query.
        """
        with torch.autocast(device_type=queue.device.type, enabled=False):
            neg_bank = queue.detach().to(torch.float32, copy=True)
            logits = torch.mm(torch.cat(queries).float(), neg_bank)
            return list(logits.split([q.shape[0] for q in queries]))

    def stage_losses(self, global_q: torch.Tensor, local_q: torch.Tensor,
                     global_k: torch.Tensor, local_k: torch.Tensor,
                     global_queue: torch.Tensor,
                     local_queue: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The unweighted DetCo terms of one stage (see the class docstring).

        Args:
            global_q (torch.Tensor): (B, D) global embeddings of x1, query encoder.
            local_q (torch.Tensor): (B, D) local embeddings of p3, query encoder.
            global_k (torch.Tensor): (B, D) global embeddings of x2, key encoder.
            local_k (torch.Tensor): (B, D) local embeddings of p4, key encoder.
            global_queue (torch.Tensor): (D, K) global negatives of this stage.
            local_queue (torch.Tensor): (D, K') local negatives of this stage.

        Returns:
            Dict[str, torch.Tensor]: Scalar fp32 losses ``g2g``, ``l2l``, ``l2g`` (and
            ``g2l`` when ``with_g2l``).
        """
        neg_g2g, neg_l2g = self.negatives(global_queue, global_q, local_q)
        neg_l2l, *neg_g2l = self.negatives(local_queue, local_q,
                                           *([global_q] if self.with_g2l else []))
        losses = dict(
            g2g=self.ctr(global_q, global_k, neg_g2g),
            l2l=self.ctr(local_q, local_k, neg_l2l),
            l2g=self.ctr(local_q, global_k, neg_l2g))
        if self.with_g2l:
            losses['g2l'] = self.ctr(global_q, local_k, neg_g2l[0])
        return losses

    def _check_inputs(self, **inputs: Sequence[torch.Tensor]) -> None:
        """Raise a ValueError unless each argument holds one tensor per stage."""
        for name, value in inputs.items():
            if not isinstance(value, (list, tuple)) or len(value) != self.num_stages:
                got = (f'{len(value)} entries' if isinstance(value, (list, tuple)) else
                       f'a {type(value).__name__}')
                raise ValueError(
                    f'HierarchicalContrastiveHead: {name} must be a list with one tensor '
                    f'per stage ({self.num_stages}: {self.stage_names}), got {got}')
        for i, stage in enumerate(self.stage_names):
            ref = tuple(inputs['global_q'][i].shape)
            for name in ('global_q', 'local_q', 'global_k', 'local_k'):
                t = inputs[name][i]
                if len(ref) != 2 or tuple(t.shape) != ref:
                    raise ValueError(
                        f'HierarchicalContrastiveHead: {name}[{i}] ({stage}) has shape '
                        f'{tuple(t.shape)}, expected (B, D) embeddings of the same shape as '
                        f'global_q[{i}] {ref}')
            dim = ref[1]
            for name in ('global_queues', 'local_queues'):
                t = inputs[name][i]
                if t.dim() != 2 or t.shape[0] != dim:
                    raise ValueError(
                        f'HierarchicalContrastiveHead: {name}[{i}] ({stage}) has shape '
                        f'{tuple(t.shape)}, expected (D, K) with D = {dim}')

    def forward(self, global_q: Sequence[torch.Tensor], local_q: Sequence[torch.Tensor],
                global_k: Sequence[torch.Tensor], local_k: Sequence[torch.Tensor],
                global_queues: Sequence[torch.Tensor],
                local_queues: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Weighted DetCo losses of all stages.

        Args:
            global_q (Sequence[torch.Tensor]): Per stage, (B, D) L2-normalised global
                embeddings of x1 from the query encoder.
            local_q (Sequence[torch.Tensor]): Per stage, (B, D) L2-normalised local
                embeddings of p3 from the query encoder.
            global_k (Sequence[torch.Tensor]): Per stage, (B, D) L2-normalised global
                embeddings of x2 from the key encoder.
            local_k (Sequence[torch.Tensor]): Per stage, (B, D) L2-normalised local
                embeddings of p4 from the key encoder.
            global_queues (Sequence[torch.Tensor]): Per stage, the (D, K) global queue.
            local_queues (Sequence[torch.Tensor]): Per stage, the (D, K) local queue.

        Returns:
            Dict[str, torch.Tensor]: ``loss_{term}_{stage}`` -> w_stage * term, scalar
            fp32, for term in g2g, l2l, l2g (and g2l when ``with_g2l``); their sum is the
            DetCo objective.
        """
        self._check_inputs(global_q=global_q, local_q=local_q, global_k=global_k,
                           local_k=local_k, global_queues=global_queues,
                           local_queues=local_queues)
        losses = dict()
        for i, (stage, weight) in enumerate(zip(self.stage_names, self.loss_weights)):
            terms = self.stage_losses(global_q[i], local_q[i], global_k[i], local_k[i],
                                      global_queues[i], local_queues[i])
            for term, value in terms.items():
                losses[f'loss_{term}_{stage}'] = weight * value
        return losses
