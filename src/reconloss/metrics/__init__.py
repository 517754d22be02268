"""Image-quality metrics for reconstructions, per image, plus a registry of what "better" means.

Per-image functions return a tensor of shape (N,):

- fidelity: :func:`psnr`, :func:`ssim`, :func:`ms_ssim`, :func:`mae`, :func:`mse`;
- sharpness relative to the target: :func:`sharpness` (1.0 = as sharp), spectra:
  :func:`radial_power_spectrum`, spurious detail: :func:`artifact_energy`;
- outlier pixels: :func:`outlier_metrics` (retention, halo, clean-region error).

:func:`evaluate_images` computes the standard set on one batch; :class:`ImageMetrics`
accumulates it over batches and processes. :data:`METRICS` says for each key whether higher or
lower is better, or whether a target value is ideal (sharpness ratios: 1.0), so reports can
rank and orient axes with :func:`better` / :func:`rank_key` and no special cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from torch import Tensor

from .._checks import UnknownNameError
from .accumulate import (
    FIDELITY_KEYS,
    MS_SSIM_SCALES,
    STANDARD_KEYS,
    ImageMetrics,
    MaskedImageMetrics,
    combine_terms,
    image_metric_values,
    metric_terms,
)
from .fidelity import mae, ms_ssim, mse, psnr, ssim
from .outliers import outlier_metrics
from .sharpness import artifact_energy, radial_power_spectrum, sharpness

__all__ = [
    "psnr",
    "ssim",
    "ms_ssim",
    "mae",
    "mse",
    "sharpness",
    "radial_power_spectrum",
    "artifact_energy",
    "outlier_metrics",
    "ImageMetrics",
    "MaskedImageMetrics",
    "image_metric_values",
    "metric_terms",
    "STANDARD_KEYS",
    "FIDELITY_KEYS",
    "MS_SSIM_SCALES",
    "MetricInfo",
    "METRICS",
    "METRIC_PREFIXES",
    "metric_info",
    "better",
    "rank_key",
    "distance_to_ideal",
    "evaluate_images",
]


@dataclass(frozen=True)
class MetricInfo:
    """What a metric means and which direction is good.

    Attributes:
        name: the key used in results (``"psnr"``, ``"sharp_hf"``...).
        higher_is_better: ``True`` / ``False`` for monotone metrics; ``None`` when a specific
            value is ideal and deviations either way are worse (sharpness ratios: 1.0).
        ideal: the best attainable value (``math.inf`` for PSNR).
        description: one sentence a practitioner understands.
        unit: unit of the value (``"dB"``, ``"ratio"``, ``"image units"``...).
    """

    name: str
    higher_is_better: bool | None
    ideal: float
    description: str
    unit: str = ""


def _info(name: str, hib: bool | None, ideal: float, description: str, unit: str) -> MetricInfo:
    return MetricInfo(name=name, higher_is_better=hib, ideal=ideal, description=description, unit=unit)


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        _info("psnr", True, math.inf, "Peak signal-to-noise ratio, 10 log10(range^2 / MSE); +3 dB halves the squared error.", "dB"),
        _info("ssim", True, 1.0, "Structural similarity (local means, contrasts, correlation); 1 = identical.", "index"),
        _info("ms_ssim", True, 1.0, "Multi-scale SSIM, SSIM combined over several downsampled scales; 1 = identical.", "index"),
        _info("mae", False, 0.0, "Mean absolute pixel error (the L1 distance per pixel and channel).", "image units"),
        _info("mse", False, 0.0, "Mean squared pixel error (the L2 loss per pixel and channel).", "image units^2"),
        _info(
            "sharp_gradient", None, 1.0,
            "Mean gradient magnitude of the output over the target's; 1 = as sharp, < 1 blurrier, > 1 over-sharpened or noisy.",
            "ratio",
        ),
        _info(
            "sharp_laplacian", None, 1.0,
            "Variance of the Laplacian (fine-detail energy) of the output over the target's; 1 = as sharp, < 1 blurrier.",
            "ratio",
        ),
        _info(
            "sharp_hf", None, 1.0,
            "High-frequency spectral energy (periods <= 8 px) of the output over the target's; 1 = as much fine detail.",
            "ratio",
        ),
        _info(
            "artifact", False, 0.0,
            "High-frequency energy the output adds beyond the target's (noise, ringing), as a fraction of the target's; blur scores 0.",
            "ratio",
        ),
        _info(
            "outlier_retention", None, 0.0,
            "Share of an injected outlier's jump still present at its pixel: 0 = clean pixel restored (ideal for fidelity), 1 = outlier kept.",
            "fraction",
        ),
        _info(
            "halo", False, 0.0,
            "Excess brightness smeared into the ring of radius r around an outlier (the 'blurry blob'), summed over the ring.",
            "image units x pixels",
        ),
        _info(
            "halo_fraction", False, 0.0,
            "Halo as a share of the injected outlier's jump; 8/9 for a kept outlier spread by a 3x3 box blur.",
            "fraction",
        ),
        _info(
            "clean_error", False, 0.0,
            "Mean absolute error on the pixels away from every outlier: plain reconstruction quality of the clean image.",
            "image units",
        ),
    )
}
"""Registry of every metric key the package writes. Prefixed names (``hole_psnr``) resolve via :func:`metric_info`.

Orientation: ``outlier_retention`` is registered for the goal "reconstruct the clean image",
where the ideal is 0 (the outlier removed) and both overshoot (< 0) and keeping it (towards 1)
are worse, hence ``higher_is_better=None, ideal=0``. A study that asks the folklore question
"does L1 keep the bright pixel?" reads the raw value (1 = kept) and needs no orientation.
"""

METRIC_PREFIXES: tuple[str, ...] = ("hole_", "valid_", "eval_", "test_", "train_", "val_", "final_", "best_")
"""Prefixes that qualify a metric without changing its meaning (``hole_psnr`` is PSNR inside the hole)."""

_ALIASES = {
    "retention": "outlier_retention",
    "retention_mean": "outlier_retention",
    "outlier_retention_mean": "outlier_retention",
    "halo_mean": "halo",
    "halo_fraction_mean": "halo_fraction",
    "clean_error_mean": "clean_error",
    "sharpness_gradient": "sharp_gradient",
    "sharpness_laplacian": "sharp_laplacian",
    "sharpness_high_frequency": "sharp_hf",
    "artifact_energy": "artifact",
    "l1": "mae",
    "l2": "mse",
}


def metric_info(name: str) -> MetricInfo:
    """Look up a metric, stripping qualifying prefixes such as ``hole_`` / ``eval_`` and resolving aliases.

    The returned info carries the asked ``name`` (``metric_info("hole_psnr").name == "hole_psnr"``)
    and the base metric's orientation, ideal, description and unit.

    Raises:
        UnknownNameError: the name (after stripping) is not registered; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise UnknownNameError(f"metric name must be a str, got {type(name).__name__}")
    base = name.strip().lower()
    changed = True
    while changed and base not in METRICS and base not in _ALIASES:
        changed = False
        for prefix in METRIC_PREFIXES:
            if base.startswith(prefix) and len(base) > len(prefix):
                base = base[len(prefix):]
                changed = True
                break
    base = _ALIASES.get(base, base)
    if base not in METRICS:
        valid = ", ".join(sorted(METRICS))
        prefixes = ", ".join(METRIC_PREFIXES)
        raise UnknownNameError(f"metric name must be one of {valid} (optionally prefixed by {prefixes}), got {name!r}")
    info = METRICS[base]
    return info if info.name == name else replace(info, name=name)


def rank_key(name: str, value: float) -> float:
    """An orientation-free sort key: smaller is better, for every metric.

    ``-value`` for higher-is-better metrics, ``value`` for lower-is-better ones, ``|value - ideal|``
    for metrics with a target value (``higher_is_better=None``). NaN maps to ``+inf`` (worst).
    ``sorted(runs, key=lambda r: rank_key("sharp_hf", r["sharp_hf"]))`` puts the best first.
    """
    info = metric_info(name)
    v = float(value)
    if math.isnan(v):
        return math.inf
    if info.higher_is_better is True:
        return -v
    if info.higher_is_better is False:
        return v
    return abs(v - info.ideal)


def better(name: str, a: float, b: float) -> bool:
    """Whether value ``a`` is strictly better than ``b`` for metric ``name`` (see :func:`rank_key`)."""
    return rank_key(name, a) < rank_key(name, b)


def distance_to_ideal(name: str, value: float) -> float:
    """``|value - ideal|`` in the metric's unit; ``inf`` when the ideal is infinite (PSNR) or the value NaN.

    Use it to say "how far from perfect"; use :func:`rank_key` / :func:`better` to order.
    """
    info = metric_info(name)
    v = float(value)
    if math.isnan(v) or math.isinf(info.ideal):
        return math.inf if not (math.isinf(v) and v == info.ideal) else 0.0
    return abs(v - info.ideal)


def evaluate_images(
    output: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    mask: Tensor | None = None,
    *,
    ms_ssim_scales: int = MS_SSIM_SCALES,
    empty: Literal["raise", "skip"] = "raise",
) -> dict[str, float]:
    """The standard metric set on one batch, each averaged over the images.

    Keys: ``psnr, ssim, ms_ssim, mae, mse`` (restricted to ``mask`` when given),
    ``sharp_gradient, sharp_laplacian, sharp_hf, artifact`` (whole-image statistics). Keys the
    image size does not allow are omitted: ``ms_ssim`` below the size its scales need (161 px
    for the standard 5 scales; pass ``ms_ssim_scales=3`` for 64 px patches, 41 px minimum),
    ``ssim`` below 11x11 (its window), ``sharp_hf`` and ``artifact`` below 8x8. Every key
    returned is in :data:`METRICS`.

    Aggregation over the batch: the fidelity metrics are means of per-image values; the
    sharpness ratios and ``artifact`` are ratios of totals, ``sum_i s(output_i) / sum_i
    s(target_i)``, so a few nearly flat images (tiny target detail, huge per-image ratios)
    cannot dominate; per-image ratios come from :func:`sharpness` / :func:`artifact_energy`.
    :class:`ImageMetrics` aggregates the same way over batches and processes. The mean of PSNR is over per-image PSNRs (not PSNR of the
    pooled MSE); it is ``inf`` if one image is reproduced exactly.

    Args:
        output: (N, C, H, W) reconstruction, values in ``[0, data_range]``.
        target: (N, C, H, W) reference, same shape, dtype and device.
        data_range: the images' value span (1.0 for [0, 1], 255 for 8-bit).
        mask: optional (N, 1, H, W) or (N, C, H, W) mask for the fidelity metrics (1 = counted).
        ms_ssim_scales: MS-SSIM scales, 1..5 (default 5).
        empty: with a mask, ``'raise'`` (default) for an image whose mask selects nothing (for
            SSIM: no window centre inside it), or ``'skip'`` to leave such images out of that
            metric's mean (NaN if no image has it).

    Returns:
        dict metric key -> Python float.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 32, 32)
        >>> sorted(evaluate_images(x, x))  # doctest: +NORMALIZE_WHITESPACE
        ['artifact', 'mae', 'mse', 'psnr', 'sharp_gradient', 'sharp_hf', 'sharp_laplacian', 'ssim']
    """
    terms = metric_terms(output, target, data_range=data_range, mask=mask, ms_ssim_scales=ms_ssim_scales, empty=empty)
    return {
        key: float(combine_terms(key, num.double().sum(), den.double().sum())) for key, (num, den) in terms.items()
    }
