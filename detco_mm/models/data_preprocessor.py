"""Data preprocessor for DetCo inputs: global views and jigsaw patch sets.

DetCo (Xie et al., ICCV 2021), sec. 3.2 "local patch set": besides the ``(B, 3, H, W)`` global
views, the model gets ``(B, N, 3, h, w)`` patch sets (N = 9). MMSelfSup's
``SelfSupDataPreprocessor`` swaps channels with ``x[:, [2, 1, 0], ...]``, which on a 5-D
tensor indexes the patch axis; this preprocessor works on the channel axis (dim -3) instead.
"""
from typing import List, Optional, Tuple

import torch
from mmselfsup.models.utils import SelfSupDataPreprocessor
from mmselfsup.registry import MODELS


@MODELS.register_module()
class DetCoDataPreprocessor(SelfSupDataPreprocessor):
    """Move DetCo's views to the device, convert BGR to RGB, cast to float and normalise.

    DetCo sec. 3.2, "local patch set". Every tensor of ``data['inputs']`` (as collated by
    ``default_collate`` from :class:`~detco_mm.datasets.transforms.PackDetCoInputs`) is
    either a batch of global views ``(B, C, H, W)`` or a batch of patch sets
    ``(B, N, C, h, w)``. For each one, in a single op chain run on the target device:

    1. the uint8 tensor is moved to the device (4x less traffic than float);
    2. ``bgr_to_rgb`` / ``rgb_to_bgr`` reverses the channel axis (dim -3);
    3. it is cast to float32;
    4. ``(x - mean) / std`` with ``mean``/``std`` of shape ``(C, 1, 1)``, broadcast over the
       batch (and patch) axes, computed in place on the fresh float tensor.

    On 4-D inputs the result equals :class:`SelfSupDataPreprocessor`'s. No padding is done
    (``pad_size_divisor`` is ignored, as in the parent).

    Args:
        mean (Sequence[float | int], optional): Per-channel mean, 1 or 3 values, in the
            channel order after the conversion (RGB with ``bgr_to_rgb=True``). None disables
            normalisation. Defaults to None.
        std (Sequence[float | int], optional): Per-channel standard deviation, like ``mean``.
            Defaults to None.
        pad_size_divisor (int): Unused, kept for interface compatibility. Defaults to 1.
        pad_value (float | int): Unused, kept for interface compatibility. Defaults to 0.
        bgr_to_rgb (bool): Whether to convert BGR inputs to RGB. Defaults to False.
        rgb_to_bgr (bool): Whether to convert RGB inputs to BGR. Defaults to False.
        non_blocking (bool): Whether to copy to the device without blocking.
            Defaults to False.

    Example:
        >>> data_preprocessor = dict(
        ...     type='DetCoDataPreprocessor', mean=(123.675, 116.28, 103.53),
        ...     std=(58.395, 57.12, 57.375), bgr_to_rgb=True)
    """

    def _preprocess_view(self, inputs: torch.Tensor, index: int) -> torch.Tensor:
        """Convert, cast and normalise one batch of views already on the device.

        Args:
            inputs (torch.Tensor): ``(B, C, H, W)`` or ``(B, N, C, h, w)``, usually uint8.
            index (int): Position of the view, for error messages.

        Returns:
            torch.Tensor: float32 tensor of the same shape.
        """
        if not isinstance(inputs, torch.Tensor) or inputs.dim() not in (4, 5):
            shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs)
            raise ValueError(
                f'DetCoDataPreprocessor: input {index} must be a (B, C, H, W) or '
                f'(B, N, C, h, w) tensor, got {shape}; collate with default_collate')
        channels = inputs.size(-3)
        if self._channel_conversion and channels != 3:
            raise ValueError(
                f'DetCoDataPreprocessor: input {index} of shape {tuple(inputs.shape)} has '
                f'{channels} channels on dim -3; the BGR/RGB conversion needs 3')
        if self._enable_normalize and self.mean.size(0) == 3 and channels != 3:
            raise ValueError(
                f'DetCoDataPreprocessor: input {index} of shape {tuple(inputs.shape)} has '
                f'{channels} channels on dim -3, but mean/std have 3 values')
        # Channel flip on the uint8 tensor (cheaper than on float); it returns a new tensor.
        x = inputs.flip(-3) if self._channel_conversion else inputs
        fresh = self._channel_conversion or inputs.dtype != torch.float32
        x = x.float()
        if self._enable_normalize:
            if fresh:  # ``x`` is our own tensor: normalise in place, no extra allocation
                x = x.sub_(self.mean).div_(self.std)
            else:  # float input without flip: ``x`` is the caller's tensor
                x = (x - self.mean) / self.std
        return x

    def forward(self,
                data: dict,
                training: bool = False) -> Tuple[List[torch.Tensor], Optional[list]]:
        """Preprocess a batch collated by ``default_collate``.

        Args:
            data (dict): ``inputs`` (list of uint8 tensors ``(B, 3, H, W)`` and
                ``(B, N, 3, h, w)``) and optionally ``data_samples``.
            training (bool): Unused; the same processing is done in training and testing.

        Returns:
            tuple[list[torch.Tensor], list | None]: the float32 views, same shapes as the
            inputs, on the preprocessor's device, and the data samples.
        """
        if not isinstance(data, dict):
            raise TypeError('DetCoDataPreprocessor expects a dict of inputs and data_samples; '
                            'use default_collate in the dataloader, instead of pseudo_collate, '
                            f'got {type(data).__name__}')
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):
            inputs = [inputs]
        batch_inputs = [self._preprocess_view(x, i) for i, x in enumerate(inputs)]
        return batch_inputs, data.get('data_samples', None)
