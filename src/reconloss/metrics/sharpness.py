"""Sharpness and spurious-detail metrics, relative to a reference image.

A reconstruction trained with a pixel loss is usually judged by PSNR/SSIM, which do not say
*how* it is wrong: an L2-trained model tends to be blurry (it lost high frequencies), an
adversarial or perceptual one may invent texture or ringing (it added high frequencies). This
module measures both directions separately.

- :func:`sharpness` compares one sharpness statistic of the output with the same statistic of
  the target, per image: ``1.0`` means "as sharp as the target", ``< 1`` blurrier, ``> 1``
  over-sharpened (or noisy).
- :func:`radial_power_spectrum` is the radially averaged power spectrum, the standard plot of
  how energy is spread over spatial frequencies (blur shows up as a fall-off at the high end).
- :func:`artifact_energy` is the high-frequency energy the output has *in excess of* the target:
  ``0`` for a faithful or merely blurred output, ``> 0`` for noise, ringing or checkerboard
  patterns.

Frequencies are in cycles per pixel: ``0`` is the image mean, ``0.5`` the Nyquist frequency
(a pattern that alternates every pixel). Cut-offs (``cutoff``) are given as a *fraction of
Nyquist*, so ``cutoff=0.25`` means radii of at least ``0.125`` cycles/pixel, i.e. periods of
8 pixels or shorter.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import (
    ParameterError,
    check_choice,
    check_min_size,
    check_pair,
    check_param,
    check_tensor,
)

__all__ = [
    "SharpnessKind",
    "SHARPNESS_KINDS",
    "SPECTRUM_MIN_SIZE",
    "sharpness",
    "sharpness_terms",
    "artifact_terms",
    "gradient_energy",
    "laplacian_variance",
    "high_frequency_energy",
    "radial_power_spectrum",
    "artifact_energy",
]

SharpnessKind = Literal["gradient", "laplacian", "high_frequency"]
SHARPNESS_KINDS: tuple[str, ...] = ("gradient", "laplacian", "high_frequency")

SPECTRUM_MIN_SIZE = 8
"""Smallest image side (pixels) accepted by the spectral metrics."""

_FILTER_MIN_SIZE = 3
_EPS = 1e-12

# ITU-R BT.601 luma weights, the usual choice for "luminance" of sRGB-like images.
_LUMA = (0.299, 0.587, 0.114)


def _work_dtype(x: Tensor) -> torch.dtype:
    """float32 for half/bfloat16 inputs (FFT and variances need the precision), else the input dtype."""
    return torch.promote_types(x.dtype, torch.float32)


def _luminance(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 1, H, W): BT.601 luma for 3 channels, the channel mean otherwise."""
    x = x.to(_work_dtype(x))
    if x.shape[1] == 3:
        w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    return x.mean(dim=1, keepdim=True)


def _sobel(y: Tensor) -> tuple[Tensor, Tensor]:
    """Sobel derivatives of a (N, 1, H, W) image on the valid region (N, 1, H-2, W-2), per pixel.

    The kernels are divided by 8 so a unit ramp (value increases by 1 per pixel) gives 1.
    """
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype, device=y.device) / 8.0
    ky = kx.t().contiguous()
    gx = F.conv2d(y, kx.view(1, 1, 3, 3))
    gy = F.conv2d(y, ky.view(1, 1, 3, 3))
    return gx, gy


def gradient_energy(images: Tensor) -> Tensor:
    """Mean Sobel gradient magnitude of each image's luminance.

    Args:
        images: (N, C, H, W), any value range; H, W >= 3. Three channels are turned into BT.601
            luminance, other channel counts are averaged.

    Returns:
        (N,) mean of ``sqrt(gx^2 + gy^2)`` over the valid (unpadded) region, in image units per
        pixel. Border pixels are left out so padding does not invent edges.
    """
    check_tensor(images, "images", ndim=4)
    check_min_size(images, _FILTER_MIN_SIZE, "a 3x3 Sobel filter")
    gx, gy = _sobel(_luminance(images))
    return torch.sqrt(gx.square() + gy.square()).flatten(1).mean(dim=1)


def laplacian_variance(images: Tensor) -> Tensor:
    """Variance of the 4-neighbour Laplacian of each image's luminance (the "variance of Laplacian" focus measure).

    Args:
        images: (N, C, H, W), any value range; H, W >= 3.

    Returns:
        (N,) variance (population, over the valid unpadded region) of
        ``4 y[i,j] - y[i-1,j] - y[i+1,j] - y[i,j-1] - y[i,j+1]``, in squared image units.

    Reference:
        Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy: a comparative
        study", ICPR 2000.
    """
    check_tensor(images, "images", ndim=4)
    check_min_size(images, _FILTER_MIN_SIZE, "a 3x3 Laplacian filter")
    y = _luminance(images)
    k = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]], dtype=y.dtype, device=y.device)
    lap = F.conv2d(y, k.view(1, 1, 3, 3)).flatten(1)
    return lap.var(dim=1, unbiased=False)


def _hann2d(h: int, w: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Separable periodic Hann window normalised to unit mean square (so it preserves power on average)."""
    wy = torch.hann_window(h, periodic=True, dtype=dtype, device=device)
    wx = torch.hann_window(w, periodic=True, dtype=dtype, device=device)
    win = wy[:, None] * wx[None, :]
    return win / win.square().mean().sqrt()


def _power_2d(images: Tensor, window: bool) -> Tensor:
    """Channel-averaged 2-D power spectrum (N, H, W) of mean-subtracted (optionally windowed) images.

    Normalised as ``|FFT|^2 / (H W)^2`` so the sum over all frequencies equals the mean square of
    the (windowed, mean-subtracted) image: the variance, in squared image units.
    """
    x = images.to(_work_dtype(images))
    h, w = x.shape[-2:]
    if window:
        win = _hann2d(h, w, x.dtype, x.device)
        # Subtract the window-weighted mean so the windowed image has exactly zero DC.
        x = (x - (x * win).sum(dim=(-2, -1), keepdim=True) / win.sum()) * win
    else:
        x = x - x.mean(dim=(-2, -1), keepdim=True)
    spec = torch.fft.fft2(x)
    power = (spec.real.square() + spec.imag.square()) / float(h * w) ** 2
    return power.mean(dim=1)


def _radius_grid(h: int, w: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(H, W) radial frequency |f| in cycles/pixel of each FFT bin (0 at DC, 0.5 at Nyquist on an axis)."""
    fy = torch.fft.fftfreq(h, dtype=dtype, device=device)
    fx = torch.fft.fftfreq(w, dtype=dtype, device=device)
    return torch.sqrt(fy[:, None].square() + fx[None, :].square())


def _annulus_energy(power: Tensor, n_bins: int, r_max: float) -> tuple[Tensor, Tensor, Tensor]:
    """Sum the (N, H, W) power over annuli of width ``0.5 / (n_bins - 1)`` centred on ``k * width``.

    Bins run from radius 0 up to (and including) ``r_max``; frequencies beyond are dropped.
    Returns ``(centres (B,), energy (N, B), counts (B,))``.
    """
    n, h, w = power.shape
    step = 0.5 / (n_bins - 1)
    radius = _radius_grid(h, w, power.dtype, power.device)
    idx = torch.round(radius / step).long().flatten()
    n_total = int(round(r_max / step)) + 1
    keep = idx < n_total
    idx = idx[keep]
    flat = power.flatten(1)[:, keep]
    energy = torch.zeros(n, n_total, dtype=power.dtype, device=power.device)
    energy.index_add_(1, idx, flat)
    counts = torch.bincount(idx, minlength=n_total).to(power.dtype)
    centres = torch.arange(n_total, dtype=power.dtype, device=power.device) * step
    return centres, energy, counts


def _default_bins(h: int, w: int) -> int:
    """One bin per frequency step of the shorter side: ``min(H, W) // 2 + 1`` bins from 0 to 0.5."""
    return min(h, w) // 2 + 1


def _check_spectrum_input(images: Tensor, name: str) -> None:
    check_tensor(images, name, ndim=4)
    if images.numel() == 0:
        raise ParameterError(f"{name} must not be empty, got shape {tuple(images.shape)}")
    check_min_size(images, SPECTRUM_MIN_SIZE, "a power spectrum", name=name)


def _check_cutoff(cutoff: float) -> float:
    return check_param(cutoff, "cutoff", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def _hf_annuli(power: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    """Energy per annulus (N, B) over every annulus (corners included) and the bool (B,) mask of HF annuli."""
    h, w = power.shape[-2:]
    centres, energy, _ = _annulus_energy(power, _default_bins(h, w), r_max=2**0.5 / 2)
    return energy, centres >= cutoff * 0.5 - 1e-9


def high_frequency_energy(images: Tensor, cutoff: float = 0.25, window: bool = True) -> Tensor:
    """Spectral energy of each image at radial frequencies at or above ``cutoff`` x Nyquist.

    Args:
        images: (N, C, H, W), any value range, H, W >= 8. Channels are averaged in power.
        cutoff: fraction of the Nyquist frequency (0.5 cycles/pixel), in (0, 1). The default
            0.25 counts periods of 8 pixels and shorter.
        window: apply a Hann window first, so the jump between opposite image borders (which
            the FFT sees as an edge) does not leak energy into high frequencies.

    Returns:
        (N,) high-frequency power in squared image units: the part of the image variance carried
        by those frequencies. Frequencies are grouped in annuli of width ``1 / min(H, W)``;
        an annulus counts if its centre radius is ``>= cutoff * 0.5``; the diagonal corners
        beyond 0.5 cycles/pixel are included.
    """
    _check_spectrum_input(images, "images")
    cutoff = _check_cutoff(cutoff)
    energy, hf = _hf_annuli(_power_2d(images, window), cutoff)
    return energy[:, hf].sum(dim=1)


def _ratio(num: Tensor, den: Tensor, eps: float) -> Tensor:
    return (num + eps) / (den + eps)


def sharpness(
    output: Tensor,
    target: Tensor,
    kind: SharpnessKind = "gradient",
    *,
    cutoff: float = 0.25,
    window: bool = True,
    eps: float = _EPS,
) -> Tensor:
    """How sharp each output is relative to its target: 1.0 = as sharp, < 1 blurrier, > 1 sharper/noisier.

    .. math::
        \\text{sharpness}_i = \\frac{s(\\hat y_i) + \\epsilon}{s(y_i) + \\epsilon}

    where ``s`` is one sharpness statistic, chosen by ``kind``:

    - ``'gradient'``: mean Sobel gradient magnitude of the luminance (:func:`gradient_energy`).
      Linear in contrast; the most intuitive ("edges are 20 % weaker" reads as 0.8).
    - ``'laplacian'``: variance of the Laplacian of the luminance (:func:`laplacian_variance`),
      the classic autofocus measure. Quadratic in contrast and dominated by the finest scale,
      so it drops fastest with blur.
    - ``'high_frequency'``: spectral energy above ``cutoff`` x Nyquist, all channels
      (:func:`high_frequency_energy`). Quadratic in contrast.

    Luminance is BT.601 luma for 3 channels and the channel mean for any other count. The
    ratios do not depend on ``data_range`` (a common scale cancels). A Gaussian blur of any
    width lowers all three ratios below 1, more for wider blur; unsharp masking raises them
    above 1. Note ``> 1`` is not "better": noise, ringing and over-sharpening all raise it, so
    the ideal value is 1 (see :func:`artifact_energy` for the added-detail side).

    Args:
        output: (N, C, H, W) reconstruction, any value range. H, W >= 3 (>= 8 for
            ``'high_frequency'``).
        target: (N, C, H, W) reference, same shape, dtype and device.
        kind: ``'gradient' | 'laplacian' | 'high_frequency'``.
        cutoff: for ``'high_frequency'`` only, fraction of Nyquist in (0, 1); default 0.25
            (periods of 8 pixels and shorter).
        window: for ``'high_frequency'`` only, apply a Hann window before the FFT.
        eps: added to numerator and denominator so a flat target against a flat output gives
            1.0 instead of 0/0 (a flat target against a textured output gives a huge ratio).

    Returns:
        (N,) ratio per image, float32 for half-precision inputs, else the input dtype.

    Raises:
        ShapeError: not 4-D, different shapes, or images too small.
        ParameterError: unknown ``kind`` or a bad ``cutoff``/``eps``.
        NonFiniteError: NaN/Inf in the inputs (with value checks on).

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 32, 32)
        >>> sharpness(x, x, "laplacian")
        tensor([1., 1.])
    """
    eps = check_param(eps, "eps", low=0.0)
    num, den = sharpness_terms(output, target, kind, cutoff=cutoff, window=window)
    return _ratio(num, den, eps)


def sharpness_terms(
    output: Tensor,
    target: Tensor,
    kind: SharpnessKind = "gradient",
    *,
    cutoff: float = 0.25,
    window: bool = True,
) -> tuple[Tensor, Tensor]:
    """The two sides of :func:`sharpness`: the statistic of the output and of the target, each (N,).

    Use it to aggregate over a data set as a ratio of totals, ``num.sum() / den.sum()``, which
    a few nearly flat images (tiny denominators) cannot dominate, unlike a mean of per-image
    ratios. Arguments as in :func:`sharpness`.
    """
    check_choice(kind, "kind", SHARPNESS_KINDS)
    check_pair(output, target, names=("output", "target"), ndim=4)
    if kind == "gradient":
        both = gradient_energy(torch.cat([output, target]))
    elif kind == "laplacian":
        both = laplacian_variance(torch.cat([output, target]))
    else:
        check_min_size(output, SPECTRUM_MIN_SIZE, "a power spectrum", name="output")
        both = high_frequency_energy(torch.cat([output, target]), cutoff=cutoff, window=window)
    n = output.shape[0]
    return both[:n], both[n:]


def radial_power_spectrum(
    images: Tensor,
    n_bins: int | None = None,
    window: bool = True,
) -> tuple[Tensor, Tensor]:
    """Radially averaged power spectrum of each image: how much variance each spatial frequency carries.

    Each channel is mean-subtracted (the window-weighted mean, so the DC term is exactly 0),
    multiplied by a 2-D Hann window normalised to unit mean square (so the border discontinuity does not leak into high
    frequencies while the average power is kept), Fourier transformed; the power
    ``|FFT|^2 / (H W)^2`` is averaged over the channels and then over the FFT bins whose radius
    ``sqrt(fx^2 + fy^2)`` rounds to each bin centre. White noise of variance ``s^2`` gives a
    flat spectrum at ``s^2 / (H W)`` per bin (except bin 1, which the window's main lobe shares
    with the removed DC term, so it reads ~30 % low); natural images fall off roughly as ``1/f^2``; blur
    makes them fall off faster. Plot ``power`` on a log axis against ``freqs``.

    Args:
        images: (N, C, H, W), any value range, H, W >= 8.
        n_bins: number of bins, evenly spaced centres from 0 to 0.5 cycles/pixel. Default and
            maximum ``min(H, W) // 2 + 1`` (one per frequency step of the shorter side; more bins
            would leave some empty). At least 2.
        window: apply the Hann window (recommended); ``False`` gives the raw periodogram.

    Returns:
        ``(freqs, power)``: ``freqs`` (B,) bin centres in cycles/pixel, ``0`` to ``0.5``;
        ``power`` (N, B) mean power per FFT bin in each annulus, in squared image units.
        Diagonal frequencies above 0.5 cycles/pixel (the spectrum's corners) are not included.

    Example:
        >>> import torch
        >>> freqs, power = radial_power_spectrum(torch.rand(4, 3, 64, 64))
        >>> freqs.shape, power.shape
        (torch.Size([33]), torch.Size([4, 33]))
    """
    _check_spectrum_input(images, "images")
    h, w = images.shape[-2:]
    max_bins = _default_bins(h, w)
    if n_bins is None:
        n_bins = max_bins
    if isinstance(n_bins, bool) or not isinstance(n_bins, int):
        raise ParameterError(f"n_bins must be an int or None, got {type(n_bins).__name__}")
    if not 2 <= n_bins <= max_bins:
        raise ParameterError(
            f"n_bins must be in [2, {max_bins}] for {h}x{w} images (min(H, W) // 2 + 1 at most), got {n_bins}"
        )
    freqs, energy, counts = _annulus_energy(_power_2d(images, window), n_bins, r_max=0.5)
    return freqs, energy / counts.clamp_min(1.0)


def artifact_energy(
    output: Tensor,
    target: Tensor,
    cutoff: float = 0.25,
    *,
    mode: Literal["added", "error"] = "added",
    window: bool = True,
    eps: float = _EPS,
) -> Tensor:
    """High-frequency energy the output has and the target does not, relative to the target's HF energy.

    ``mode='added'`` (default) counts only *added* energy, so blur is not mistaken for an
    artifact: for each annulus of radial frequency at or above ``cutoff`` x Nyquist, take the
    output's spectral energy in excess of the target's (zero where the output has less), sum,
    and divide by the target's total energy over the same annuli:

    .. math::
        A_i = \\frac{\\sum_{r \\ge r_c} \\max(E_{\\hat y_i}(r) - E_{y_i}(r), 0)}{\\sum_{r \\ge r_c} E_{y_i}(r) + \\epsilon}

    ``0`` = no spurious high-frequency content (the target itself, or any blurred version of
    it); ``1`` = the output carries as much *extra* high-frequency energy as the target's whole
    high-frequency energy (e.g. noise, ringing, checkerboard or hallucinated texture as strong
    as the real detail). Summing over annuli (rings of width ``1 / min(H, W)``) instead of single
    FFT bins averages out the random sign of the output-target cross term, so a small
    perturbation is not over-counted. The measure is blind to phase: detail of the right
    strength in the wrong place scores 0 here and is caught by the fidelity metrics instead.

    ``mode='error'`` is the plain alternative: the HF energy of ``output - target`` over the
    target's HF energy. It counts missing detail too (a blurred output scores > 0), so it mixes
    blur and artifacts; use it when you want "how wrong are the fine details", whichever the sign.

    Args:
        output: (N, C, H, W) reconstruction, any value range, H, W >= 8.
        target: (N, C, H, W) reference, same shape, dtype and device.
        cutoff: fraction of Nyquist in (0, 1); 0.25 = periods of 8 pixels and shorter.
        mode: ``'added'`` or ``'error'``, see above.
        window: apply a Hann window before the FFT (recommended).
        eps: added to the denominator, in squared image units, so a flat target gives a finite
            (possibly huge) number instead of a division by zero.

    Returns:
        (N,) non-negative ratio per image, float32 for half-precision inputs, else the input dtype.

    Example:
        >>> import torch
        >>> y = torch.rand(2, 1, 32, 32)
        >>> artifact_energy(y, y)
        tensor([0., 0.])
    """
    eps = check_param(eps, "eps", low=0.0)
    num, den = artifact_terms(output, target, cutoff, mode=mode, window=window)
    return num / (den + eps)


def artifact_terms(
    output: Tensor,
    target: Tensor,
    cutoff: float = 0.25,
    *,
    mode: Literal["added", "error"] = "added",
    window: bool = True,
) -> tuple[Tensor, Tensor]:
    """Numerator and denominator of :func:`artifact_energy`, each (N,), in squared image units.

    ``num`` is the added (or error) high-frequency energy, ``den`` the target's high-frequency
    energy. Aggregate over a data set as ``num.sum() / den.sum()`` so nearly flat images cannot
    dominate. Arguments as in :func:`artifact_energy`.
    """
    check_choice(mode, "mode", ("added", "error"))
    check_pair(output, target, names=("output", "target"), ndim=4)
    check_min_size(output, SPECTRUM_MIN_SIZE, "a power spectrum", name="output")
    cutoff = _check_cutoff(cutoff)
    n = output.shape[0]
    if mode == "added":
        energy, hf = _hf_annuli(_power_2d(torch.cat([output, target]), window), cutoff)
        e_out, e_tgt = energy[:n, hf], energy[n:, hf]
        num = (e_out - e_tgt).clamp_min(0.0).sum(dim=1)
        den = e_tgt.sum(dim=1)
    else:
        energy, hf = _hf_annuli(_power_2d(torch.cat([output - target, target]), window), cutoff)
        num = energy[:n, hf].sum(dim=1)
        den = energy[n:, hf].sum(dim=1)
    return num, den
