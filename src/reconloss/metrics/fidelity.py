r"""Per-image fidelity metrics: PSNR, SSIM, MS-SSIM, MAE, MSE. Every function returns shape (N,).

All take ``(output, target)`` images of shape (N, C, H, W) with the same dtype and device,
``data_range`` (the span of the pixel values, 1.0 for images in ``[0, 1]``) and an optional
``mask`` of shape (N, 1, H, W) or (N, C, H, W) (non-negative weights; bool allowed).

Masks:

- ``mae``, ``mse``, ``psnr``: weighted mean of the per-pixel error per image, dividing by the
  mask sum expanded to the channels (:func:`reconloss._reduction.per_image_mean`).
- ``ssim``: the SSIM map is only defined on window centres (the valid region), so the mask is
  cropped by ``win_size // 2`` on every side and the result is the weighted mean of the SSIM map
  over the positions it selects (a window centred on a selected pixel still reads its
  unselected neighbours). An all-ones mask gives exactly the unmasked value.
- ``ms_ssim``: the mask is average-pooled with the images and cropped at every scale; each
  channel's value at each scale is the weighted mean over that scale's cropped mask.

An image whose mask selects nothing follows ``empty``: ``'raise'`` (default,
:class:`~reconloss.MaskError`), ``'zero'`` or ``'nan'``.

Validation: 4-D tensors of the same shape, dtype and device, finite values (value checks can
be switched off, see :mod:`reconloss._checks`); the SSIM family also demands values in
``[0, data_range]`` for both images and images large enough for the window (the error says the
minimum).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._checks import (
    MaskError,
    ParameterError,
    check_choice,
    check_min_size,
    check_pair,
    check_param,
    check_range,
    check_weight,
    value_checks_enabled,
)
from .._reduction import EMPTY_MASK_CHOICES, EmptyMask, per_image_mean
from ._ssim import (
    Impl,
    crop_mask,
    ms_ssim_max_scales,
    ms_ssim_min_size,
    ms_ssim_per_channel,
    ms_ssim_weights,
    ssim_per_channel,
)

__all__ = ["psnr", "ssim", "ms_ssim", "mae", "mse"]


def _check_images(
    output: Tensor, target: Tensor, data_range: float, names: tuple[str, str] = ("output", "target")
) -> float:
    check_pair(output, target, names=names, ndim=4)
    return check_param(data_range, "data_range", low=0, low_inclusive=False)


def _check_window(win_size: int, sigma: float) -> tuple[int, float]:
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
        raise ParameterError(f"win_size must be an odd integer >= 3, got {win_size!r}")
    return win_size, check_param(sigma, "sigma", low=0, low_inclusive=False)


def _check_ssim_args(
    output: Tensor,
    target: Tensor,
    data_range: float,
    win_size: int,
    sigma: float,
    empty: str,
    impl: str,
    names: tuple[str, str],
) -> tuple[float, int, float]:
    """The checks SSIM and MS-SSIM share, in their order; returns ``(data_range, win_size, sigma)``."""
    r = _check_images(output, target, data_range, names)
    win_size, sigma = _check_window(win_size, sigma)
    check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    check_choice(impl, "impl", ("fused", "eager"))
    return r, win_size, sigma


def _check_ranges(output: Tensor, target: Tensor, r: float, names: tuple[str, str], check_first: bool) -> None:
    """Both images in ``[0, r]`` (the first only when ``check_first``)."""
    if check_first:
        check_range(output.detach(), names[0], 0.0, r)
    check_range(target.detach(), names[1], 0.0, r)


def _apply_empty(values: Tensor, empty_rows: Tensor | None, empty: str, name: str = "mask") -> Tensor:
    """Apply the all-zero-mask policy to per-image ``values`` (N,) given the empty images."""
    if empty_rows is None:
        return values
    if empty == "raise":
        if value_checks_enabled() and bool(empty_rows.any()):
            idx = empty_rows.nonzero().flatten().tolist()
            raise MaskError(
                f"{name} must select at least one SSIM window centre in every image, got none in images {idx} "
                f"(the mask is cropped by win_size // 2 on every side); pass empty='zero' or empty='nan' instead"
            )
        return values
    fill = 0.0 if empty == "zero" else math.nan
    return torch.where(empty_rows, torch.full_like(values, fill), values)


def mse(output: Tensor, target: Tensor, mask: Tensor | None = None, empty: EmptyMask = "raise") -> Tensor:
    r"""Mean squared error per image.

    .. math:: \mathrm{MSE}_n = \frac{\sum_{c,h,w} m\,(\hat x - x)^2}{\sum_{c,h,w} m}

    Args:
        output: images (N, C, H, W).
        target: images of the same shape, dtype and device.
        mask: optional (N, 1 | C, H, W) weights; the mean divides by their sum over the channels.
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'``.

    Returns:
        Tensor of shape (N,).

    Example:
        >>> mse(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4))
        tensor([1., 1.])
    """
    check_pair(output, target, names=("output", "target"), ndim=4)
    check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    w = None if mask is None else check_weight(mask, output, "mask")
    return per_image_mean((output - target).square(), w, empty)


def mae(output: Tensor, target: Tensor, mask: Tensor | None = None, empty: EmptyMask = "raise") -> Tensor:
    r"""Mean absolute error per image.

    .. math:: \mathrm{MAE}_n = \frac{\sum_{c,h,w} m\,|\hat x - x|}{\sum_{c,h,w} m}

    Args:
        output: images (N, C, H, W).
        target: images of the same shape, dtype and device.
        mask: optional (N, 1 | C, H, W) weights; the mean divides by their sum over the channels.
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'``.

    Returns:
        Tensor of shape (N,).

    Example:
        >>> mae(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5))
        tensor([0.5000])
    """
    check_pair(output, target, names=("output", "target"), ndim=4)
    check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    w = None if mask is None else check_weight(mask, output, "mask")
    return per_image_mean((output - target).abs(), w, empty)


def psnr(
    output: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    mask: Tensor | None = None,
    empty: EmptyMask = "raise",
) -> Tensor:
    r"""Peak signal-to-noise ratio per image, in dB.

    .. math:: \mathrm{PSNR}_n = 10 \log_{10} \frac{L^2}{\mathrm{MSE}_n}

    Identical images (MSE = 0) give ``+inf``, as in scikit-image and torchmetrics: no cap is
    applied, because any cap (e.g. 100 dB) is an arbitrary number that silently enters means.
    Average PSNR over a set with care (an ``inf`` dominates); a mean of MSE converted once is
    the usual alternative. Values are not range-checked (PSNR is defined for any values).

    Args:
        output: images (N, C, H, W).
        target: images of the same shape, dtype and device.
        data_range: :math:`L`, the span of the pixel values (> 0).
        mask: optional (N, 1 | C, H, W) weights for the MSE (see :func:`mse`).
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'`` (applied to the MSE).

    Returns:
        Tensor of shape (N,), in dB; ``+inf`` where the images are identical.

    Reference:
        scikit-image ``skimage.metrics.peak_signal_noise_ratio``.

    Example:
        >>> round(float(psnr(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.1))), 4)
        20.0
    """
    r = _check_images(output, target, data_range)
    err = mse(output, target, mask, empty)
    return 10.0 * torch.log10(r * r / err)


def ssim(
    output: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    mask: Tensor | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    empty: EmptyMask = "raise",
    impl: Impl = "fused",
) -> Tensor:
    r"""Structural similarity per image (Gaussian window, valid region, mean over channels).

    .. math::
        \mathrm{SSIM}(p) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
        {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},\qquad
        C_1 = (0.01 L)^2,\ C_2 = (0.03 L)^2

    averaged over the channels and the window centres of the valid region. Matches
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=L, channel_axis=...)`` and ``pytorch_msssim.ssim``.
    Differentiable (fast hand-written backward, see :mod:`reconloss.metrics._ssim`).

    Args:
        output: images (N, C, H, W) with values in ``[0, data_range]``, H and W >= ``win_size``.
        target: images of the same shape, dtype and device, values in ``[0, data_range]``.
        data_range: :math:`L` (> 0).
        mask: optional (N, 1 | C, H, W) weights; cropped to the window centres, then a weighted
            mean of the SSIM map (see the module docstring).
        win_size: Gaussian window taps (odd, >= 3).
        sigma: Gaussian standard deviation (> 0).
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'``.
        impl: ``'fused'`` (default) or ``'eager'`` (autograd reference, slower).

    Returns:
        Tensor of shape (N,), in ``[-1, 1]`` (1 for identical images).

    Reference:
        Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
        structural similarity", IEEE TIP 2004.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> bool(torch.allclose(ssim(x, x), torch.ones(2)))
        True
    """
    return _ssim(output, target, data_range, mask, win_size, sigma, empty, impl)


def _ssim(
    output: Tensor,
    target: Tensor,
    data_range: float,
    mask: Tensor | None,
    win_size: int,
    sigma: float,
    empty: str,
    impl: str,
    names: tuple[str, str] = ("output", "target"),
    check_first_range: bool = True,
) -> Tensor:
    """:func:`ssim` with the argument names and the range check of the first image configurable."""
    r, win_size, sigma = _check_ssim_args(output, target, data_range, win_size, sigma, empty, impl, names)
    check_min_size(output, win_size, f"SSIM with a {win_size}-tap window", name=names[0])
    _check_ranges(output, target, r, names, check_first_range)
    if mask is None:
        s, _ = ssim_per_channel(output, target, r, win_size=win_size, sigma=sigma, impl=impl)  # type: ignore[arg-type]
        return s.mean(dim=1)
    w = crop_mask(check_weight(mask, output, "mask"), win_size)
    c = output.shape[1]
    den = w.flatten(1).sum(dim=1)
    if w.shape[1] == 1:
        den = den * c
    wn = w / den.clamp_min(torch.finfo(w.dtype).tiny)[:, None, None, None]
    s, _ = ssim_per_channel(output, target, r, weight=wn, win_size=win_size, sigma=sigma, impl=impl)  # type: ignore[arg-type]
    return _apply_empty(s.sum(dim=1), den == 0, empty)


def ms_ssim(
    output: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    mask: Tensor | None = None,
    scales: int | None = None,
    weights: Sequence[float] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    empty: EmptyMask = "raise",
    impl: Impl = "fused",
) -> Tensor:
    r"""Multi-scale structural similarity per image.

    .. math::
        \mathrm{MS\text{-}SSIM} = \frac{1}{C}\sum_c \max(\mathrm{SSIM}_{M,c}, 0)^{w_M}
        \prod_{j=1}^{M-1} \max(cs_{j,c}, 0)^{w_j}

    with scales halved by 2x2 average pooling, :math:`w = (0.0448, 0.2856, 0.3001, 0.2363,
    0.1333)` and per-channel products averaged over the channels (as pytorch-msssim). The
    ``max(., 0)`` (relu) keeps anti-correlated images finite and the result in ``[0, 1]``.

    Small images. Five scales need sides of at least ``(win_size - 1) * 16 + 1`` = 161 px; a
    smaller image raises :class:`~reconloss.ShapeError` naming the minimum and the largest
    ``scales`` that fits. Nothing is dropped silently: pass ``scales=3`` (41 px, fits 64 px
    patches) or ``scales=2`` (21 px) to use the first scales' weights renormalised to sum 1,
    or your own ``weights`` (used as given, one per scale).

    Args:
        output: images (N, C, H, W), values in ``[0, data_range]``.
        target: images of the same shape, dtype and device, values in ``[0, data_range]``.
        data_range: :math:`L` (> 0).
        mask: optional (N, 1 | C, H, W) weights, pooled with the images (see module docstring).
        scales: number of scales, 1..5 (first weights, renormalised); default 5.
        weights: explicit per-scale weights, finest first (override ``scales``).
        win_size: Gaussian window taps (odd, >= 3).
        sigma: Gaussian standard deviation (> 0).
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'``.
        impl: ``'fused'`` (default) or ``'eager'``.

    Returns:
        Tensor of shape (N,), in ``[0, 1]``.

    Reference:
        Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality
        assessment", Asilomar 2003.

    Example:
        >>> x = torch.rand(1, 3, 64, 64)
        >>> round(float(ms_ssim(x, x, scales=3)), 5)
        1.0
    """
    return _ms_ssim(output, target, data_range, mask, scales, weights, win_size, sigma, empty, impl)


def _ms_ssim(
    output: Tensor,
    target: Tensor,
    data_range: float,
    mask: Tensor | None,
    scales: int | None,
    weights: Sequence[float] | None,
    win_size: int,
    sigma: float,
    empty: str,
    impl: str,
    names: tuple[str, str] = ("output", "target"),
    check_first_range: bool = True,
) -> Tensor:
    """:func:`ms_ssim` with the argument names and the range check of the first image configurable."""
    r, win_size, sigma = _check_ssim_args(output, target, data_range, win_size, sigma, empty, impl, names)
    ws = ms_ssim_weights(scales, weights)
    need = ms_ssim_min_size(win_size, len(ws))
    side = min(int(output.shape[-2]), int(output.shape[-1]))
    if side < need:
        fit = ms_ssim_max_scales(side, win_size)
        hint = (
            f"; pass scales={fit} (renormalised weights) for images this size"
            if fit >= 1
            else f"; SSIM itself needs {win_size} px"
        )
        check_min_size(output, need, f"MS-SSIM with {len(ws)} scales and a {win_size}-tap window" + hint, name=names[0])
    _check_ranges(output, target, r, names, check_first_range)
    w = None if mask is None else check_weight(mask, output, "mask")
    vals, empty_rows = ms_ssim_per_channel(
        output, target, r, weights=ws, mask=w, win_size=win_size, sigma=sigma, impl=impl  # type: ignore[arg-type]
    )
    return _apply_empty(vals.mean(dim=1), empty_rows, empty)
