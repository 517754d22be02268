"""reconloss: pixel reconstruction losses for image generative models, validated and fast."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ._checks import (
    DeviceError,
    DTypeError,
    InputTypeError,
    MaskError,
    NonFiniteError,
    ParameterError,
    RangeError,
    ReconlossError,
    ShapeError,
    UnknownNameError,
    set_value_checks,
    value_checks,
    value_checks_enabled,
)
from .losses import build_loss, get_loss, list_losses
from .losses.pixel import (
    CharbonnierLoss,
    HuberLoss,
    L1Loss,
    L2Loss,
    MSELoss,
    SmoothL1Loss,
    charbonnier_loss,
    huber_loss,
    l1_loss,
    l2_loss,
    mse_loss,
    smooth_l1_loss,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ReconlossError",
    "InputTypeError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "NonFiniteError",
    "RangeError",
    "MaskError",
    "ParameterError",
    "UnknownNameError",
    "set_value_checks",
    "value_checks",
    "value_checks_enabled",
    "calculate_loss",
    "get_loss",
    "list_losses",
    "build_loss",
    "l1_loss",
    "mse_loss",
    "l2_loss",
    "huber_loss",
    "smooth_l1_loss",
    "charbonnier_loss",
    "L1Loss",
    "MSELoss",
    "L2Loss",
    "HuberLoss",
    "SmoothL1Loss",
    "CharbonnierLoss",
]


_CALL_PARAMS = ("mask", "weight", "empty")
_PIXEL_LOSSES = ("l1", "l2", "huber", "smooth_l1", "charbonnier")


def calculate_loss(generated_images: Tensor, target_images: Tensor, loss_type: str = "L2", **params: Any) -> Tensor:
    r"""Reconstruction loss between generated and target images, by name.

    The classic entry point: ``'L1'`` gives exactly (bit for bit, float32 and float64)
    ``torch.nn.L1Loss()(generated, target)`` and ``'L2'`` exactly ``torch.nn.MSELoss()(...)``;
    pixel losses called from here use ``impl='native'`` unless ``impl=`` is passed or a
    mask/weight is given. Unlike ``torch.nn``, inputs are validated first: a shape mismatch is
    an error (never broadcasting), as are NaN/Inf (while value checks are on), integer dtypes,
    mixed dtypes and mixed devices.

    .. math:: \mathrm{L1} = \tfrac1n \sum_i |x_i - y_i|, \quad \mathrm{L2} = \tfrac1n \sum_i (x_i - y_i)^2

    Args:
        generated_images: prediction, e.g. (N, C, H, W); pixel losses take any shape.
        target_images: reference, same shape, dtype and device.
        loss_type: any registered name or alias, case-insensitive (``'L1'``, ``'mae'``,
            ``'L2'``, ``'mse'``, ``'huber'``, ``'charbonnier'``, ``'ssim'``...; see
            :func:`reconloss.losses.list_losses`).
        **params: constructor parameters of the loss (``reduction=``, ``delta=``, ``eps=``,
            ``impl=``...) and call parameters (``mask=``, ``weight=``, ``empty=``).

    Returns:
        The loss (a scalar for ``reduction='mean' | 'sum'``).

    Raises:
        UnknownNameError: (a ValueError) for an unknown ``loss_type``, listing valid names.
        ShapeError, DTypeError, DeviceError, NonFiniteError, MaskError, ParameterError: on
            invalid inputs.

    Reference:
        Zhao et al., "Loss Functions for Image Restoration with Neural Networks", IEEE TCI 2017.

    Example:
        >>> import torch
        >>> from reconloss import calculate_loss
        >>> generated_images = torch.randn(32, 3, 64, 64)  # batch of 32 RGB 64x64 images
        >>> target_images = torch.randn(32, 3, 64, 64)
        >>> l1 = calculate_loss(generated_images, target_images, "L1")
        >>> l2 = calculate_loss(generated_images, target_images, "L2")
        >>> print(f"L1 Loss: {l1.item():.2f}, L2 Loss: {l2.item():.2f}")  # doctest: +SKIP
        L1 Loss: 1.13, L2 Loss: 2.00
        >>> bool(l1 == torch.nn.L1Loss()(generated_images, target_images))
        True
    """
    from ._checks import check_pair
    from .losses import resolve_loss_name

    name = resolve_loss_name(loss_type)
    call = {k: params.pop(k) for k in _CALL_PARAMS if k in params}
    if name in _PIXEL_LOSSES:
        if "empty" in call and "mask" not in call and "weight" not in call:
            params.setdefault("empty", call.pop("empty"))
        if "impl" not in params and call.get("mask") is None and call.get("weight") is None:
            params["impl"] = "native"
    else:
        check_pair(generated_images, target_images, names=("generated_images", "target_images"))
    return get_loss(name, **params)(generated_images, target_images, **call)
