"""Losses users reach for when L2 blurs: image-gradient L1, FFT L1 and the focal frequency loss.

All three compare structure rather than raw intensities: the gradient loss penalises wrong
edges, the frequency losses penalise missing (usually high-frequency) spectral content.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .._checks import (
    check_choice,
    check_mask_or_weight,
    check_min_size,
    check_pair,
    check_param,
    check_reduction,
)
from .._reduction import EMPTY_MASK_CHOICES, reduce_elementwise

__all__ = [
    "gradient_loss",
    "frequency_loss",
    "focal_frequency_loss",
    "GradientLoss",
    "FrequencyLoss",
    "FocalFrequencyLoss",
]

Reduction = Literal["mean", "sum", "none"]
EmptyMask = Literal["raise", "zero", "nan"]
FFTNorm = Literal["ortho", "backward", "forward"]
FFT_NORMS = ("ortho", "backward", "forward")


def _spectrum(x: Tensor, norm: str) -> Tensor:
    """Full 2-D FFT over the last two dims; float16/bfloat16 are computed in float32."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return torch.fft.fft2(x, norm=norm)


def gradient_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    empty: EmptyMask = "raise",
) -> Tensor:
    """L1 distance between the finite-difference gradients of two image batches (edge loss).

    Forward differences ``dx[h, w] = I[h, w+1] - I[h, w]`` (shape (N, C, H, W-1)) and
    ``dy[h, w] = I[h+1, w] - I[h, w]`` (shape (N, C, H-1, W)) of ``generated - target`` (by
    linearity equal to the difference of the two images' gradients).

    Args:
        generated: predictions, shape (N, C, H, W) with H, W >= 2, floating point.
        target: ground truth, same shape, dtype and device.
        reduction: ``'mean'``: the mean absolute difference over all N*C*(H*(W-1) + (H-1)*W)
            gradient entries of both directions pooled; ``'sum'``: their sum; ``'none'``: a map of
            shape (N, C, H, W) holding ``|dx| + |dy|`` at each pixel, with the missing
            ``dx`` of the last column and ``dy`` of the last row taken as 0 (so ``'sum'`` equals
            ``'none'.sum()``, while ``'mean'`` divides by the count of gradient entries).
        mask: optional 0/1 mask (N, 1, H, W) or (N, C, H, W) on pixels. A gradient entry counts
            only where BOTH of its pixels are selected: its weight is the product of the two
            pixels' weights. ``'mean'`` divides by the sum of these pair weights (expanded to
            C channels), pooled over both directions.
        weight: optional non-negative per-pixel weight (exclusive with ``mask``), same rule.
        empty: policy when no gradient entry is selected (e.g. an all-zero mask, or a mask of
            isolated pixels): ``'raise'`` (MaskError) | ``'zero'`` | ``'nan'``.

    Returns:
        Scalar for ``'mean'``/``'sum'``; (N, C, H, W) for ``'none'``. 0 when the two images
        differ by a constant.

    .. math::
        \\mathcal{L} = \\frac{\\sum |\\partial_x (g - t)| + \\sum |\\partial_y (g - t)|}
        {N C \\,(H (W - 1) + (H - 1) W)}

    Reference:
        M. Mathieu, C. Couprie, Y. LeCun, "Deep multi-scale video prediction beyond mean square
        error" (gradient difference loss, here with exponent 1), ICLR 2016.

    Example:
        >>> g = torch.zeros(1, 1, 4, 4); t = g + 0.5
        >>> float(gradient_loss(g, t))
        0.0
    """
    check_pair(generated, target, ndim=4)
    check_reduction(reduction)
    check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    check_min_size(generated, 2, "finite-difference gradients", "generated")
    w, name = check_mask_or_weight(mask, weight, generated)
    diff = generated - target
    ex = (diff[..., :, 1:] - diff[..., :, :-1]).abs()  # (N, C, H, W-1)
    ey = (diff[..., 1:, :] - diff[..., :-1, :]).abs()  # (N, C, H-1, W)
    if w is None:
        wx = wy = None
    else:
        wx = w[..., :, 1:] * w[..., :, :-1]
        wy = w[..., 1:, :] * w[..., :-1, :]
    if reduction == "none":
        out = torch.zeros_like(diff)
        out[..., :, :-1] += ex if wx is None else ex * wx
        out[..., :-1, :] += ey if wy is None else ey * wy
        return out
    # pool both directions into one (N, C, L, 1) tensor and reduce under the shared contract
    n, c = diff.shape[:2]
    elem = torch.cat([ex.reshape(n, c, -1), ey.reshape(n, c, -1)], dim=2).unsqueeze(-1)
    pooled_w = None
    if wx is not None and wy is not None:
        k = wx.shape[1]
        pooled_w = torch.cat([wx.reshape(n, k, -1), wy.reshape(n, k, -1)], dim=2).unsqueeze(-1)
    return reduce_elementwise(elem, reduction, pooled_w, empty, name)


def frequency_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    norm: FFTNorm = "ortho",
) -> Tensor:
    """Mean absolute difference of the 2-D Fourier spectra (L1 in the frequency domain).

    The full complex spectrum ``torch.fft.fft2`` of each channel is taken over (H, W); the
    loss is the complex modulus of the difference of the two spectra, computed as the spectrum
    of ``generated - target`` (identical by linearity, one FFT instead of two). Every frequency
    of the full H x W grid counts once (a Hermitian pair counts twice, as in the image's
    energy). float16/bfloat16 inputs are transformed in float32.

    Args:
        generated: predictions, shape (N, C, H, W), floating point.
        target: ground truth, same shape, dtype and device.
        reduction: ``'mean'`` (over the N*C*H*W frequencies) | ``'sum'`` | ``'none'``
            (shape (N, C, H, W), frequency (u, v) at index [..., u, v], no fftshift).
        norm: FFT normalisation. ``'ortho'`` (default) divides by sqrt(H*W) so that the
            spectrum has the energy of the image (Parseval), making the value comparable
            across sizes up to a sqrt(H*W) factor; ``'backward'`` is unnormalised and
            ``'forward'`` divides by H*W.

    Returns:
        Scalar for ``'mean'``/``'sum'``; (N, C, H, W) real for ``'none'`` (in the input dtype).

    .. math::
        \\mathcal{L} = \\frac{1}{NCHW} \\sum_{n,c,u,v}
        \\left| \\mathcal{F}(g)_{ncuv} - \\mathcal{F}(t)_{ncuv} \\right|

    Reference:
        L. Jiang et al., "Focal Frequency Loss for Image Reconstruction and Synthesis", ICCV
        2021 (the unweighted frequency distance they compare against).

    Example:
        >>> g = torch.zeros(1, 1, 4, 4); t = torch.zeros(1, 1, 4, 4); t[..., 0, 0] = 4.0
        >>> float(frequency_loss(g, t))   # a delta's ortho spectrum is flat: 4 / sqrt(16) = 1
        1.0
    """
    check_pair(generated, target, ndim=4)
    check_reduction(reduction)
    check_choice(norm, "norm", FFT_NORMS)
    elem = _spectrum(generated - target, norm).abs().to(generated.dtype)
    return reduce_elementwise(elem, reduction)


def focal_frequency_loss(
    generated: Tensor,
    target: Tensor,
    *,
    alpha: float = 1.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Focal frequency loss of Jiang et al. (2021): squared spectral distance, focused on hard frequencies.

    With ``F = fft2(., norm='ortho')`` per channel, the frequency distance is
    ``d(u, v) = |F_g(u, v) - F_t(u, v)|^2`` and the spectrum weight matrix is
    ``w = |F_g - F_t|^alpha`` divided by its maximum over each image (all channels and
    frequencies of that image), so ``w`` lies in [0, 1]. ``w`` is detached (the paper's
    "gradient locked" weights): it focuses the loss but receives no gradient. An image with
    no error gets ``w = 0``. Computed in float32 for float16/bfloat16 inputs.

    Args:
        generated: predictions, shape (N, C, H, W), floating point.
        target: ground truth, same shape, dtype and device.
        alpha: focusing exponent >= 0 (paper default 1); 0 gives plain mean squared spectral
            distance (w = 1).
        reduction: ``'mean'`` (over N*C*H*W frequencies, as in the paper's 1/(MN) sum) |
            ``'sum'`` | ``'none'`` (shape (N, C, H, W)).

    Returns:
        Scalar for ``'mean'``/``'sum'``; (N, C, H, W) for ``'none'``. Non-negative, 0 at a
        perfect prediction.

    .. math::
        \\mathcal{L} = \\frac{1}{NCHW} \\sum w(u, v)\\, |F_g(u, v) - F_t(u, v)|^2, \\quad
        w = \\operatorname{sg}\\!\\left(\\frac{|F_g - F_t|^{\\alpha}}{\\max |F_g - F_t|^{\\alpha}}\\right)

    Reference:
        L. Jiang, B. Dai, W. Wu, C. C. Loy, "Focal Frequency Loss for Image Reconstruction and
        Synthesis", ICCV 2021, eq. (2)-(4). (Their code normalises per channel; here per image.)

    Example:
        >>> g = torch.zeros(2, 3, 8, 8); float(focal_frequency_loss(g, g))
        0.0
    """
    check_pair(generated, target, ndim=4)
    check_reduction(reduction)
    a = check_param(alpha, "alpha", low=0.0)
    spec = _spectrum(generated - target, "ortho")
    dist = spec.real**2 + spec.imag**2
    with torch.no_grad():
        w = dist.sqrt() ** a if a != 0.0 else torch.ones_like(dist)
        peak = w.flatten(1).amax(dim=1).reshape(-1, 1, 1, 1)
        w = torch.where(peak > 0, w / peak.clamp_min(torch.finfo(w.dtype).tiny), torch.zeros_like(w))
        w = w.clamp(0.0, 1.0)
    elem = (w * dist).to(generated.dtype)
    return reduce_elementwise(elem, reduction)


class GradientLoss(nn.Module):
    """Module form of :func:`gradient_loss` (L1 between finite-difference image gradients).

    Args:
        reduction: ``'mean'`` | ``'sum'`` | ``'none'`` (see :func:`gradient_loss`).
        empty: default all-zero-mask policy; ``forward`` can override it.

    .. math::
        \\mathcal{L} = \\operatorname{mean}\\, |\\nabla (g - t)|_1

    Reference:
        Mathieu et al., ICLR 2016 (gradient difference loss).

    Example:
        >>> GradientLoss()(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
        tensor(0.)
    """

    def __init__(self, reduction: Reduction = "mean", empty: EmptyMask = "raise") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(reduction)  # type: ignore[assignment]
        self.empty: EmptyMask = check_choice(empty, "empty", EMPTY_MASK_CHOICES)  # type: ignore[assignment]

    def forward(
        self,
        generated: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        weight: Tensor | None = None,
        empty: EmptyMask | None = None,
    ) -> Tensor:
        """Loss between ``generated`` and ``target``; ``empty=None`` uses the module's setting."""
        empty = self.empty if empty is None else empty
        return gradient_loss(generated, target, reduction=self.reduction, mask=mask, weight=weight, empty=empty)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class FrequencyLoss(nn.Module):
    """Module form of :func:`frequency_loss` (L1 between 2-D FFT spectra).

    Args:
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
        norm: ``'ortho'`` (default) | ``'backward'`` | ``'forward'``.

    .. math::
        \\mathcal{L} = \\operatorname{mean}\\, |\\mathcal{F}(g) - \\mathcal{F}(t)|

    Reference:
        Jiang et al., ICCV 2021.

    Example:
        >>> FrequencyLoss()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
        tensor(0.)
    """

    def __init__(self, reduction: Reduction = "mean", norm: FFTNorm = "ortho") -> None:
        super().__init__()
        self.reduction: Reduction = check_reduction(reduction)  # type: ignore[assignment]
        self.norm: FFTNorm = check_choice(norm, "norm", FFT_NORMS)  # type: ignore[assignment]

    def forward(self, generated: Tensor, target: Tensor) -> Tensor:
        return frequency_loss(generated, target, reduction=self.reduction, norm=self.norm)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, norm={self.norm!r}"


class FocalFrequencyLoss(nn.Module):
    """Module form of :func:`focal_frequency_loss`.

    Args:
        alpha: focusing exponent >= 0 (default 1).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.

    .. math::
        \\mathcal{L} = \\operatorname{mean}\\, w \\, |F_g - F_t|^2

    Reference:
        Jiang et al., "Focal Frequency Loss for Image Reconstruction and Synthesis", ICCV 2021.

    Example:
        >>> FocalFrequencyLoss()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
        tensor(0.)
    """

    def __init__(self, alpha: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.alpha = check_param(alpha, "alpha", low=0.0)
        self.reduction: Reduction = check_reduction(reduction)  # type: ignore[assignment]

    def forward(self, generated: Tensor, target: Tensor) -> Tensor:
        return focal_frequency_loss(generated, target, alpha=self.alpha, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, reduction={self.reduction!r}"
