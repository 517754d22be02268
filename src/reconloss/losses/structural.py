r"""Structural losses: SSIM, MS-SSIM and Zhao et al.'s MS-SSIM + L1 "mix".

The losses derive from the metrics (:func:`reconloss.metrics.fidelity.ssim`,
:func:`~reconloss.metrics.fidelity.ms_ssim`): ``ssim_loss = 1 - ssim`` per image, then reduced.
They share the metrics' fused implementation and its hand-written backward.

Per-image values, shape (N,), are reduced by ``reduction``: ``'mean'`` (mean over the images),
``'sum'`` or ``'none'`` (the (N,) vector).

Value range. The metrics check that both images lie in ``[0, data_range]``. The losses check
only ``target``: during training ``generated`` often leaves ``[0, 1]`` slightly (no final
sigmoid, or early in training), SSIM's formula stays well defined there, and clamping it would
zero the gradient of every out-of-range pixel, which is exactly where the network must be
corrected. So ``generated`` is neither checked nor clamped (it must still be finite when value
checks are on). Keep it near the range: SSIM's constants assume it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
import torch  # noqa: F401  (used by the doctests)
from torch import Tensor, nn

from .._checks import check_min_size, check_pair, check_param, check_range, check_reduction
from .._reduction import EmptyMask, Reduction
from ..metrics._ssim import gaussian_window
from ..metrics.fidelity import _ms_ssim, _ssim

__all__ = [
    "ssim_loss",
    "ms_ssim_loss",
    "mix_loss",
    "SSIMLoss",
    "MSSSIMLoss",
    "MixLoss",
]

_NAMES = ("generated", "target")


def _reduce(per_image: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_image.mean()
    if reduction == "sum":
        return per_image.sum()
    return per_image


def ssim_loss(
    generated: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    reduction: Reduction = "mean",
    win_size: int = 11,
    sigma: float = 1.5,
    mask: Tensor | None = None,
    empty: EmptyMask = "raise",
) -> Tensor:
    r"""SSIM loss: one minus the per-image SSIM.

    .. math:: \mathcal{L}_n = 1 - \mathrm{SSIM}(\hat x_n, x_n)

    Args:
        generated: images (N, C, H, W), H and W >= ``win_size``; not range-checked (see module).
        target: images of the same shape, dtype and device, values in ``[0, data_range]``.
        data_range: span of the pixel values (> 0), sets SSIM's constants.
        reduction: ``'mean' | 'sum' | 'none'``; ``'none'`` gives shape (N,).
        win_size: Gaussian window taps (odd).
        sigma: Gaussian standard deviation.
        mask: optional (N, 1 | C, H, W) weights (see :func:`reconloss.metrics.fidelity.ssim`).
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'``.

    Returns:
        Scalar, or (N,) for ``reduction='none'``; 0 for a perfect prediction, at most 2.

    Reference:
        Wang et al., IEEE TIP 2004; Zhao et al., "Loss Functions for Image Restoration with
        Neural Networks", IEEE TCI 2017.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> round(float(ssim_loss(x, x)), 5)
        0.0
    """
    check_reduction(reduction)
    s = _ssim(generated, target, data_range, mask, win_size, sigma, empty, "fused", _NAMES, False)
    return _reduce(1.0 - s, reduction)


def ms_ssim_loss(
    generated: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    reduction: Reduction = "mean",
    scales: int | None = None,
    weights: Sequence[float] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    mask: Tensor | None = None,
    empty: EmptyMask = "raise",
) -> Tensor:
    r"""MS-SSIM loss: one minus the per-image MS-SSIM.

    .. math:: \mathcal{L}_n = 1 - \mathrm{MS\text{-}SSIM}(\hat x_n, x_n) \in [0, 1]

    Five scales need images of at least 161 px; for 32-64 px patches pass ``scales=2`` (21 px)
    or ``scales=3`` (41 px), see :func:`reconloss.metrics.fidelity.ms_ssim`.

    Args:
        generated: images (N, C, H, W); not range-checked (see module).
        target: images of the same shape, dtype and device, values in ``[0, data_range]``.
        data_range: span of the pixel values (> 0).
        reduction: ``'mean' | 'sum' | 'none'``; ``'none'`` gives shape (N,).
        scales: number of scales 1..5 (first standard weights, renormalised); default 5.
        weights: explicit per-scale weights, finest first (used as given).
        win_size: Gaussian window taps (odd).
        sigma: Gaussian standard deviation.
        mask: optional (N, 1 | C, H, W) weights (see :func:`reconloss.metrics.fidelity.ms_ssim`).
        empty: all-zero-mask policy, ``'raise' | 'zero' | 'nan'``.

    Returns:
        Scalar, or (N,) for ``reduction='none'``.

    Reference:
        Wang, Simoncelli, Bovik, Asilomar 2003.

    Example:
        >>> x = torch.rand(2, 3, 64, 64)
        >>> round(float(ms_ssim_loss(x, x, scales=3)), 5)
        0.0
    """
    check_reduction(reduction)
    v = _ms_ssim(generated, target, data_range, mask, scales, weights, win_size, sigma, empty, "fused", _NAMES, False)
    return _reduce(1.0 - v, reduction)


def _window_taps(sigma: float) -> int:
    """Taps of a Gaussian truncated at 3.5 sigma (scipy/scikit-image rule): 11 for sigma 1.5."""
    return 2 * int(3.5 * sigma + 0.5) + 1


def _gaussian_l1(generated: Tensor, target: Tensor, sigma: float, data_range: float) -> Tensor:
    """Mean over all window centres of the Gaussian-weighted L1 of each window, per image (N,).

    Equals a weighted mean of ``|generated - target|`` whose weights are the window coverage
    of each pixel (1 inside, falling off in a border band of ``taps // 2`` pixels).
    """
    k = _window_taps(sigma)
    h, w = generated.shape[-2:]
    g = gaussian_window(k, sigma, generated.dtype, generated.device).view(1, 1, -1)
    ch = F.conv1d(generated.new_ones((1, 1, h - k + 1)), g, padding=k - 1).view(h, 1)
    cw = F.conv1d(generated.new_ones((1, 1, w - k + 1)), g, padding=k - 1).view(1, w)
    cover = ch * cw  # sums to (h-k+1)(w-k+1)
    per = ((generated - target).abs() * cover).sum(dim=(2, 3)).mean(dim=1)
    return per / (float((h - k + 1) * (w - k + 1)) * data_range)


def mix_loss(
    generated: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.84,
    data_range: float = 1.0,
    reduction: Reduction = "mean",
    sigma_l1: float = 1.5,
    scales: int | None = None,
    weights: Sequence[float] | None = None,
) -> Tensor:
    r"""Zhao et al.'s "Mix" loss: MS-SSIM plus a Gaussian-weighted L1.

    .. math::
        \mathcal{L}^{Mix}_n = \alpha\,(1 - \mathrm{MS\text{-}SSIM}_n)
        + (1 - \alpha)\, \frac{1}{|P|\,C\,L}\sum_{p \in P}\sum_{c} \sum_q G_{\sigma}(q - p)\,
        |\hat x_{c,q} - x_{c,q}|

    where :math:`P` is the set of window centres (valid region), :math:`G_\sigma` the normalised
    Gaussian window of ``sigma_l1`` (truncated at 3.5 sigma) and :math:`L` the data range, so
    both terms are unit-free and the L1 term is the paper's :math:`G_{\sigma_G^M} \cdot \ell_1`
    averaged over every patch centre. That average is a plain L1 whose weights only fall off in
    a border band of ``3.5 * sigma_l1`` pixels.

    About ``alpha``. The paper sets :math:`\alpha = 0.84`, the default here. Public code uses
    0.025: the reference implementation released with the paper (NVlabs/PL4NN ``MSSSIML1``),
    kornia's ``MS_SSIMLoss`` (which also multiplies by a ``compensation`` of 200 taken from a
    third-party repository) and code derived from them. In those implementations MS-SSIM is the
    paper's full-resolution variant (one Gaussian per scale, sigmas 0.5..8, no downsampling) and
    the L1 term is filtered with the coarsest Gaussian, so their terms have other scales than
    here and their 0.025 is not comparable with the paper's 0.84; we know of no published
    rationale for 0.025. Here MS-SSIM is Wang et al.'s dyadic pyramid, the same as
    :func:`ms_ssim_loss`.

    About ``sigma_l1``. The paper weights the L1 term with the Gaussian of its coarsest scale
    (sigma 8 at full resolution). Because the weighting, averaged over all patch centres, only
    changes border weights, the default is the SSIM window (1.5, 11 taps), which keeps 32 px
    patches usable; ``sigma_l1=8.0`` (57 taps, images >= 57 px) follows the paper.

    Args:
        generated: images (N, C, H, W); not range-checked (see module).
        target: images of the same shape, dtype and device, values in ``[0, data_range]``.
        alpha: weight of the MS-SSIM term, in ``[0, 1]``.
        data_range: span of the pixel values (> 0); also divides the L1 term.
        reduction: ``'mean' | 'sum' | 'none'``; ``'none'`` gives shape (N,).
        sigma_l1: standard deviation of the L1 term's Gaussian (> 0).
        scales: MS-SSIM scales (see :func:`ms_ssim_loss`); pass 3 for 64 px patches.
        weights: explicit MS-SSIM scale weights.

    Returns:
        Scalar, or (N,) for ``reduction='none'``; 0 for a perfect prediction.

    Reference:
        H. Zhao, O. Gallo, I. Frosio, J. Kautz, "Loss Functions for Image Restoration with Neural
        Networks", IEEE TCI 3(1), 2017 (Eq. 12 and Sec. 3.3).

    Example:
        >>> x = torch.rand(2, 3, 64, 64)
        >>> round(float(mix_loss(x, x, scales=3)), 5)
        0.0
    """
    check_reduction(reduction)
    a = check_param(alpha, "alpha", low=0.0, high=1.0)
    s = check_param(sigma_l1, "sigma_l1", low=0, low_inclusive=False)
    r = check_param(data_range, "data_range", low=0, low_inclusive=False)
    check_pair(generated, target, names=_NAMES, ndim=4)
    check_min_size(generated, _window_taps(s), f"the L1 term's Gaussian window (sigma_l1={s:g})", name="generated")
    check_range(target.detach(), "target", 0.0, r)
    ms = _ms_ssim(generated, target, r, None, scales, weights, 11, 1.5, "raise", "fused", _NAMES, False)
    l1 = _gaussian_l1(generated, target, s, r)
    return _reduce(a * (1.0 - ms) + (1.0 - a) * l1, reduction)


class SSIMLoss(nn.Module):
    """Module form of :func:`ssim_loss` (stores the settings).

    Example:
        >>> loss = SSIMLoss(reduction="none")
        >>> loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)).shape
        torch.Size([2])
    """

    def __init__(
        self, data_range: float = 1.0, reduction: Reduction = "mean", win_size: int = 11, sigma: float = 1.5
    ) -> None:
        super().__init__()
        self.data_range = check_param(data_range, "data_range", low=0, low_inclusive=False)
        self.reduction: Reduction = check_reduction(reduction)  # type: ignore[assignment]
        self.win_size = win_size
        self.sigma = sigma

    def forward(self, generated: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return ssim_loss(
            generated,
            target,
            data_range=self.data_range,
            reduction=self.reduction,
            win_size=self.win_size,
            sigma=self.sigma,
            mask=mask,
        )

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, reduction={self.reduction!r}, win_size={self.win_size}, sigma={self.sigma}"


class MSSSIMLoss(nn.Module):
    """Module form of :func:`ms_ssim_loss` (stores the settings).

    Example:
        >>> loss = MSSSIMLoss(scales=3)
        >>> x = torch.rand(2, 3, 64, 64)
        >>> round(float(loss(x, x)), 5)
        0.0
    """

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: Reduction = "mean",
        scales: int | None = None,
        weights: Sequence[float] | None = None,
        win_size: int = 11,
        sigma: float = 1.5,
    ) -> None:
        super().__init__()
        self.data_range = check_param(data_range, "data_range", low=0, low_inclusive=False)
        self.reduction: Reduction = check_reduction(reduction)  # type: ignore[assignment]
        self.scales = scales
        self.weights = None if weights is None else tuple(float(w) for w in weights)
        self.win_size = win_size
        self.sigma = sigma

    def forward(self, generated: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return ms_ssim_loss(
            generated,
            target,
            data_range=self.data_range,
            reduction=self.reduction,
            scales=self.scales,
            weights=self.weights,
            win_size=self.win_size,
            sigma=self.sigma,
            mask=mask,
        )

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, reduction={self.reduction!r}, scales={self.scales}, weights={self.weights}"


class MixLoss(nn.Module):
    """Module form of :func:`mix_loss` (stores the settings).

    Example:
        >>> loss = MixLoss(scales=3)
        >>> x = torch.rand(2, 3, 64, 64)
        >>> round(float(loss(x, x)), 5)
        0.0
    """

    def __init__(
        self,
        alpha: float = 0.84,
        data_range: float = 1.0,
        reduction: Reduction = "mean",
        sigma_l1: float = 1.5,
        scales: int | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.alpha = check_param(alpha, "alpha", low=0.0, high=1.0)
        self.data_range = check_param(data_range, "data_range", low=0, low_inclusive=False)
        self.reduction: Reduction = check_reduction(reduction)  # type: ignore[assignment]
        self.sigma_l1 = check_param(sigma_l1, "sigma_l1", low=0, low_inclusive=False)
        self.scales = scales
        self.weights = None if weights is None else tuple(float(w) for w in weights)

    def forward(self, generated: Tensor, target: Tensor) -> Tensor:
        return mix_loss(
            generated,
            target,
            alpha=self.alpha,
            data_range=self.data_range,
            reduction=self.reduction,
            sigma_l1=self.sigma_l1,
            scales=self.scales,
            weights=self.weights,
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, data_range={self.data_range}, reduction={self.reduction!r}, scales={self.scales}"
