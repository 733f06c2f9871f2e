"""Packing of DetCo's views: global images and jigsaw patch sets, as model inputs.

DetCo (Xie et al., ICCV 2021), sec. 3.2 "local patch set": each image gives two global views
(``(H, W, C)`` arrays) and two patch sets (``(N, h, w, C)`` arrays from
:class:`~detco_mm.datasets.transforms.JigsawPatches`). MMSelfSup's ``PackSelfSupInputs``
rejects 4-D arrays, so this packer converts the views itself and lets the parent build the
data sample.
"""
from typing import Dict, List, Optional

import numpy as np
import torch
from mmselfsup.datasets.transforms import PackSelfSupInputs
from mmselfsup.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackDetCoInputs(PackSelfSupInputs):
    """Pack DetCo's global views and local patch sets into model inputs.

    DetCo sec. 3.2, "local patch set". ``results[key]`` is the list of views made by
    ``MultiView(num_views=[2, 2], transforms=[global_pipeline, local_pipeline])``. Each view
    becomes one channel-first uint8 tensor, with one transpose + ``np.ascontiguousarray``
    copy and a zero-copy ``torch.from_numpy``:

    - ``(H, W, C)`` global view -> ``(C, H, W)``;
    - ``(H, W)`` grayscale view -> ``(1, H, W)`` (as in the parent);
    - ``(N, h, w, C)`` patch set -> ``(N, C, h, w)``.

    ``data_samples`` is built by :class:`PackSelfSupInputs` (``algorithm_keys``,
    ``pseudo_label_keys`` and ``meta_keys`` behave as there). After ``default_collate`` the
    model gets ``[(B, 3, 224, 224), (B, 3, 224, 224), (B, 9, 3, 64, 64), (B, 9, 3, 64, 64)]``
    for the flagship pipeline.

    Args:
        key (str): The key of the views in ``results``. Defaults to 'img'.
        algorithm_keys (List[str]): Keys set as algorithm attributes of the data sample
            (see :class:`PackSelfSupInputs`). Defaults to [].
        pseudo_label_keys (List[str]): Keys set as attributes of ``pseudo_label``.
            Defaults to [].
        meta_keys (List[str]): Keys of meta information. Defaults to [].
    """

    @staticmethod
    def _view_to_tensor(view: np.ndarray, index: int) -> torch.Tensor:
        """Convert one channel-last view into a contiguous channel-first tensor.

        Args:
            view (np.ndarray): ``(H, W)``, ``(H, W, C)`` or ``(N, h, w, C)`` array.
            index (int): Position of the view in the list, for error messages.

        Returns:
            torch.Tensor: ``(1, H, W)``, ``(C, H, W)`` or ``(N, C, h, w)``, same dtype.
        """
        if not isinstance(view, np.ndarray):
            raise TypeError(f'PackDetCoInputs: view {index} must be a numpy.ndarray, '
                            f'got {type(view).__name__}')
        if view.ndim == 2:
            view = view[None]
        elif view.ndim == 3:
            view = np.ascontiguousarray(view.transpose(2, 0, 1))
        elif view.ndim == 4:
            view = np.ascontiguousarray(view.transpose(0, 3, 1, 2))
        else:
            raise ValueError(
                f'PackDetCoInputs: view {index} has shape {view.shape} (ndim {view.ndim}); '
                'expected (H, W, C) for a global view or (N, h, w, C) for a patch set')
        return torch.from_numpy(view)

    def transform(self, results: Dict) -> Dict:
        """Pack the views and the data sample.

        Args:
            results (dict): Result dict of the pipeline; ``results[key]`` is a list of
                ``(H, W, C)`` and ``(N, h, w, C)`` arrays (or a single array).

        Returns:
            dict:
              - ``inputs`` (List[torch.Tensor]): one tensor per view, ``(C, H, W)`` for a
                global view and ``(N, C, h, w)`` for a patch set.
              - ``data_samples`` (SelfSupDataSample): built by :class:`PackSelfSupInputs`.
        """
        inputs: Optional[List[torch.Tensor]] = None
        if self.key in results:
            views = results[self.key]
            if not isinstance(views, (list, tuple)):
                views = [views]
            inputs = [
                self._view_to_tensor(view, i) for i, view in enumerate(views)
            ]
            # The parent packs only what it finds under ``key``: hand it the rest.
            results = {k: v for k, v in results.items() if k != self.key}
        packed = super().transform(results)
        if inputs is not None:
            packed['inputs'] = inputs
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(key={self.key}, '
                f'algorithm_keys={self.algorithm_keys}, '
                f'pseudo_label_keys={self.pseudo_label_keys}, '
                f'meta_keys={self.meta_keys})')
