"""One reduction contract for every loss and masked metric.

``reduction``: ``'mean' | 'sum' | 'none'``.

With a mask or per-pixel weight ``w`` (shape (N, 1, H, W) or (N, C, H, W)) and an element-wise
error ``e`` of shape (N, C, H, W):

- ``'none'``: ``w * e``, shape (N, C, H, W).
- ``'sum'``:  ``sum(w * e)``.
- ``'mean'``: ``sum(w * e) / sum(w expanded to the C channels)``, i.e. the mean over the
  selected elements. A (N, 1, H, W) mask of ones on k pixels divides by ``k * C``.

An all-zero mask (``sum(w) == 0``) raises :class:`~reconloss._checks.MaskError` by default;
``empty='zero'`` returns 0 instead (what MMagic does) and ``empty='nan'`` returns NaN (what
BasicSR does). The check reads one scalar, so it runs only with value checks on; with them off
``'raise'`` behaves like ``'nan'``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ._checks import MaskError, check_choice, check_reduction, value_checks_enabled

Reduction = Literal["mean", "sum", "none"]
EmptyMask = Literal["raise", "zero", "nan"]
EMPTY_MASK_CHOICES = ("raise", "zero", "nan")


def weight_denominator(weight: Tensor, channels: int) -> Tensor:
    """Sum of ``weight`` expanded to ``channels`` channels (the divisor of a masked mean)."""
    total = weight.sum()
    if weight.shape[1] == 1:
        total = total * channels
    return total


def masked_mean_denominator(weight: Tensor, channels: int, empty: str, name: str = "mask") -> Tensor:
    """Denominator of a masked mean, applying the all-zero-mask policy ``empty``."""
    check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    denom = weight_denominator(weight, channels)
    if empty == "raise" and value_checks_enabled() and float(denom.detach()) == 0.0:
        raise MaskError(
            f"{name} must select at least one element, got an all-zero {name} of shape {tuple(weight.shape)}; "
            "pass empty='zero' or empty='nan' to get 0 or NaN instead"
        )
    return denom


def reduce_elementwise(
    elem: Tensor,
    reduction: str = "mean",
    weight: Tensor | None = None,
    empty: str = "raise",
    name: str = "mask",
) -> Tensor:
    """Reduce an element-wise loss ``elem`` (N, C, H, W) under the contract above.

    ``weight`` must already have been validated with :func:`reconloss._checks.check_weight`.
    """
    check_reduction(reduction)
    if weight is None:
        if reduction == "mean":
            return elem.mean()
        if reduction == "sum":
            return elem.sum()
        return elem
    weighted = elem * weight
    if reduction == "none":
        return weighted
    total = weighted.sum()
    if reduction == "sum":
        return total
    denom = masked_mean_denominator(weight, elem.shape[1], empty, name)
    if empty == "zero":
        return torch.where(denom > 0, total / denom.clamp_min(torch.finfo(elem.dtype).tiny), torch.zeros_like(total))
    return total / denom


def per_image_mean(elem: Tensor, weight: Tensor | None = None, empty: str = "raise", name: str = "mask") -> Tensor:
    """Mean of ``elem`` (N, C, H, W) per image, shape (N,), optionally over a mask.

    With a mask, each image's mean divides by that image's weight sum expanded to the
    channels; an image whose mask is all zero follows ``empty`` ('raise' | 'zero' | 'nan').
    """
    if weight is None:
        return elem.flatten(1).mean(dim=1)
    check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    n, c = elem.shape[:2]
    num = (elem * weight).flatten(1).sum(dim=1)
    den = weight.flatten(1).sum(dim=1)
    if weight.shape[1] == 1:
        den = den * c
    if empty == "raise" and value_checks_enabled():
        zero = den == 0
        if bool(zero.any()):
            idx = zero.nonzero().flatten().tolist()
            raise MaskError(
                f"{name} must select at least one element in every image, got an all-zero {name} in images {idx}; "
                "pass empty='zero' or empty='nan' to get 0 or NaN for them instead"
            )
    if empty == "zero":
        return torch.where(den > 0, num / den.clamp_min(torch.finfo(elem.dtype).tiny), torch.zeros_like(num))
    return num / den


