"""The standard image-metric set, per image, and torchmetrics accumulators over batches and processes.

:func:`metric_terms` is the one place that decides which metrics make up the standard set,
when each can be computed (image size) and how it aggregates (per-image values -> mean; the
sharpness ratios and ``artifact`` -> ratio of totals). :func:`image_metric_values` gives the
per-image values, :func:`reconloss.metrics.evaluate_images` aggregates one batch and
:class:`ImageMetrics` accumulates many batches (and processes under ``torch.distributed``),
so all three always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from .._checks import ParameterError, check_choice, check_pair, check_param, check_weight
from ._ssim import ms_ssim_min_size
from .fidelity import mae, ms_ssim, mse, psnr, ssim
from .sharpness import SPECTRUM_MIN_SIZE, artifact_terms, sharpness_terms

__all__ = [
    "STANDARD_KEYS",
    "FIDELITY_KEYS",
    "MS_SSIM_SCALES",
    "RATIO_KEYS",
    "metric_terms",
    "combine_terms",
    "image_metric_values",
    "ImageMetrics",
    "MaskedImageMetrics",
]

FIDELITY_KEYS: tuple[str, ...] = ("psnr", "ssim", "ms_ssim", "mae", "mse")
STANDARD_KEYS: tuple[str, ...] = (
    *FIDELITY_KEYS,
    "sharp_gradient",
    "sharp_laplacian",
    "sharp_hf",
    "artifact",
)

MS_SSIM_SCALES = 5
"""Scales used for ``ms_ssim`` in the standard set: the standard 5 (images of at least 161 px)."""

_SSIM_WIN = 11

_SHARP_KIND = {"sharp_gradient": "gradient", "sharp_laplacian": "laplacian", "sharp_hf": "high_frequency"}


def _check_keys(kinds: Sequence[str]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    out = tuple(kinds)
    unknown = [k for k in out if k not in STANDARD_KEYS]
    if unknown or not out:
        valid = ", ".join(STANDARD_KEYS)
        raise ParameterError(f"kinds must be a non-empty selection of {valid}, got {list(kinds)!r}")
    return out


def _check_scales(scales: object) -> int:
    if isinstance(scales, bool) or not isinstance(scales, int) or not 1 <= scales <= 5:
        raise ParameterError(f"ms_ssim_scales must be an int in [1, 5], got {scales!r}")
    return scales


RATIO_KEYS: tuple[str, ...] = ("sharp_gradient", "sharp_laplacian", "sharp_hf", "artifact")
"""Keys aggregated over a data set as a ratio of totals rather than a mean of per-image ratios."""

_EPS = 1e-12


def metric_terms(
    output: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    mask: Tensor | None = None,
    kinds: Sequence[str] = STANDARD_KEYS,
    *,
    ms_ssim_scales: int = MS_SSIM_SCALES,
    empty: Literal["raise", "skip"] = "raise",
) -> dict[str, tuple[Tensor, Tensor]]:
    """Per-image (numerator, denominator) pairs, each (N,), from which every aggregate is built.

    For the mean-type keys (``psnr, ssim, ms_ssim, mae, mse``) the numerator is the per-image
    value and the denominator 1. For :data:`RATIO_KEYS` they are the output's and the
    target's statistic (:func:`~reconloss.metrics.sharpness.sharpness_terms`,
    :func:`~reconloss.metrics.sharpness.artifact_terms`). A set of images aggregates as
    ``sum(num) / sum(den)`` (see :func:`combine_terms`), so the per-image ratio and the
    data-set value use the same definition. Arguments and skipping rules as in
    :func:`image_metric_values`.

    ``empty`` applies with a mask: ``'raise'`` (default) raises :class:`~reconloss.MaskError`
    for an image whose mask selects nothing (for SSIM: no valid window centre, e.g. a hole
    thinner than the window); ``'skip'`` leaves such an image out of that metric (numerator
    and denominator 0), so an aggregate is the mean over the images that have the metric.
    """
    keys = _check_keys(kinds)
    check_choice(empty, "empty", ("raise", "skip"))
    fid_empty = "nan" if empty == "skip" else "raise"
    check_pair(output, target, names=("output", "target"), ndim=4)
    check_param(data_range, "data_range", low=0.0, low_inclusive=False)
    if mask is not None:
        check_weight(mask, output, name="mask")
    scales = _check_scales(ms_ssim_scales)
    side = min(int(output.shape[-2]), int(output.shape[-1]))
    spectral_ok = side >= SPECTRUM_MIN_SIZE
    values: dict[str, Tensor] = {}
    out: dict[str, tuple[Tensor, Tensor]] = {}
    for key in keys:
        if key == "psnr":
            values[key] = psnr(output, target, data_range=data_range, mask=mask, empty=fid_empty)
        elif key == "ssim":
            if side >= _SSIM_WIN:
                values[key] = ssim(output, target, data_range=data_range, mask=mask, empty=fid_empty)
        elif key == "ms_ssim":
            if side >= ms_ssim_min_size(_SSIM_WIN, scales):
                values[key] = ms_ssim(output, target, data_range=data_range, mask=mask, scales=scales, empty=fid_empty)
        elif key == "mae":
            values[key] = mae(output, target, mask=mask, empty=fid_empty)
        elif key == "mse":
            values[key] = mse(output, target, mask=mask, empty=fid_empty)
        elif key in _SHARP_KIND:
            if key == "sharp_hf" and not spectral_ok:
                continue
            out[key] = sharpness_terms(output, target, _SHARP_KIND[key])  # type: ignore[arg-type]
        elif spectral_ok:  # artifact
            out[key] = artifact_terms(output, target)
        if key in values:
            v = values[key]
            present = ~torch.isnan(v)
            out[key] = (torch.where(present, v, torch.zeros_like(v)), present.to(v.dtype))
    return {k: out[k] for k in keys if k in out}


def combine_terms(key: str, num: Tensor, den: Tensor) -> Tensor:
    """Turn (summed) numerator and denominator into the metric value, with the same epsilon as the per-image functions."""
    if key == "artifact":
        return num / (den + _EPS)
    if key in RATIO_KEYS:
        return (num + _EPS) / (den + _EPS)
    return num / den


def image_metric_values(
    output: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    mask: Tensor | None = None,
    kinds: Sequence[str] = STANDARD_KEYS,
    *,
    ms_ssim_scales: int = MS_SSIM_SCALES,
    empty: Literal["raise", "skip"] = "raise",
) -> dict[str, Tensor]:
    """Per-image values (N,) of the standard metric set; metrics the image size does not allow are left out.

    - ``psnr, ssim, ms_ssim, mae, mse`` come from :mod:`reconloss.metrics.fidelity` and are
      restricted to ``mask`` when one is given.
    - ``sharp_gradient, sharp_laplacian, sharp_hf`` (:func:`~reconloss.metrics.sharpness.sharpness`)
      and ``artifact`` (:func:`~reconloss.metrics.sharpness.artifact_energy`, ``mode='added'``,
      ``cutoff=0.25``) are whole-image statistics (a spectrum has no meaning on a masked
      region) and ignore ``mask``.
    - ``ms_ssim`` uses ``ms_ssim_scales`` scales (default the standard 5, 11-tap window) and is
      left out when the images are smaller than those scales need (161 px for 5, 81 for 4,
      41 for 3): MS-SSIM halves the image at each scale, so a value computed with fewer
      scales would be a different metric. ``ssim`` (11-tap window) is left out below 11x11,
      ``sharp_hf`` and ``artifact`` below 8x8. Nothing else is skipped and no error is swallowed.

    Args:
        output: (N, C, H, W) reconstruction, values in ``[0, data_range]`` for the SSIM family.
        target: (N, C, H, W) reference, same shape/dtype/device.
        data_range: the value span of the images (1.0 for [0, 1], 255 for 8-bit).
        mask: optional (N, 1, H, W) or (N, C, H, W) mask/weight for the fidelity metrics.
        kinds: which of :data:`STANDARD_KEYS` to compute.
        ms_ssim_scales: number of MS-SSIM scales, 1..5 (fewer scales fit smaller images).

    Returns:
        dict key -> (N,) tensor, in the order of ``kinds``, minus the size-skipped keys.
    """
    terms = metric_terms(output, target, data_range, mask, kinds, ms_ssim_scales=ms_ssim_scales, empty=empty)
    return {k: combine_terms(k, num, den) for k, (num, den) in terms.items()}


class ImageMetrics(Metric):
    """Accumulate the standard image metrics over batches (and processes); ``compute()`` gives the means.

    For every metric key it keeps two float64 scalar states with ``dist_reduce_fx='sum'``,
    ``<key>_num`` and ``<key>_den`` (see :func:`metric_terms`): for ``psnr, ssim, ms_ssim,
    mae, mse`` the sum of per-image values and the number of images (``compute()`` = the mean
    over all images seen); for the sharpness ratios and ``artifact`` the totals of the output's
    and the target's statistic (``compute()`` = ratio of totals, which a few nearly flat
    images cannot dominate). Either way the result does not depend on the batch split or the
    number of processes, and equals :func:`reconloss.metrics.evaluate_images` on the
    concatenated data (up to float rounding). Under ``torch.distributed`` the states are summed
    across processes at ``compute()``; under DDP with a ``DistributedSampler`` that pads the last batch, the padded
    duplicates are counted, as for any torchmetrics metric.

    A metric that could not be computed for any batch (``ms_ssim`` on images smaller than its
    scales need, 161 px for the default 5; ``ssim`` below 11x11; ``sharp_hf``/``artifact``
    below 8x8) is left out of ``compute()``'s dict rather than reported as 0 or NaN. If
    batches of different sizes mix, each key aggregates over the images for which it was
    computed. PSNR of a perfect reconstruction is ``inf`` and so is its
    mean.

    Args:
        data_range: the images' value span (1.0 for [0, 1]).
        kinds: which of :data:`STANDARD_KEYS` to accumulate (default all).
        ms_ssim_scales: MS-SSIM scales (default 5, images >= 161 px; 3 fits 64 px patches).
        **kwargs: passed to :class:`torchmetrics.Metric` (``sync_on_compute``, ``process_group``...).

    Example:
        >>> import torch
        >>> m = ImageMetrics(kinds=("mae", "mse"))
        >>> x = torch.rand(4, 3, 16, 16)
        >>> m.update(x, x)
        >>> m.compute()
        {'mae': tensor(0., dtype=torch.float64), 'mse': tensor(0., dtype=torch.float64)}
    """

    is_differentiable = False
    higher_is_better = None  # mixed; see reconloss.metrics.METRICS per key
    full_state_update = False

    def __init__(
        self,
        data_range: float = 1.0,
        kinds: Sequence[str] = STANDARD_KEYS,
        ms_ssim_scales: int = MS_SSIM_SCALES,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data_range = check_param(data_range, "data_range", low=0.0, low_inclusive=False)
        self.kinds = _check_keys(kinds)
        self.ms_ssim_scales = _check_scales(ms_ssim_scales)
        for key in self.kinds:
            self.add_state(f"{key}_num", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{key}_den", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            if key in RATIO_KEYS:
                self.add_state(f"{key}_count", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def _accumulate(self, output: Tensor, target: Tensor, mask: Tensor | None) -> None:
        terms = metric_terms(output, target, self.data_range, mask, self.kinds, ms_ssim_scales=self.ms_ssim_scales)
        for key, (num, den) in terms.items():
            acc_num: Tensor = getattr(self, f"{key}_num")
            acc_den: Tensor = getattr(self, f"{key}_den")
            setattr(self, f"{key}_num", acc_num + num.detach().to(torch.float64).sum())
            setattr(self, f"{key}_den", acc_den + den.detach().to(torch.float64).sum())
            if key in RATIO_KEYS:
                setattr(self, f"{key}_count", getattr(self, f"{key}_count") + float(num.numel()))

    def update(self, output: Tensor, target: Tensor, mask: Tensor | None = None) -> None:  # type: ignore[override]
        """Add one batch: ``output``/``target`` (N, C, H, W); optional fidelity ``mask`` (N, 1|C, H, W)."""
        self._accumulate(output, target, mask)

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        """Each metric over every image seen (0-dim float64 tensors); keys never computed are omitted."""
        out: dict[str, Tensor] = {}
        for key in self.kinds:
            den: Tensor = getattr(self, f"{key}_den")
            if key in RATIO_KEYS:
                # The denominator can legitimately be 0 (flat targets); the count state says whether
                # the key was computed at all.
                if float(getattr(self, f"{key}_count")) > 0:
                    out[key] = combine_terms(key, getattr(self, f"{key}_num"), den)
            elif float(den) > 0:
                out[key] = combine_terms(key, getattr(self, f"{key}_num"), den)
        return out


class MaskedImageMetrics(ImageMetrics):
    """:class:`ImageMetrics` whose ``update`` requires a mask: fidelity metrics over the masked pixels.

    Typical use: inpainting, with ``mask`` = the hole (1 = hole), so PSNR/SSIM/MAE/MSE describe
    only what the model had to invent. The sharpness and artifact ratios stay whole-image
    statistics. How a masked mean divides (sum of the mask expanded to the channels, per image)
    and what an all-zero mask does are those of :mod:`reconloss.metrics.fidelity`.
    """

    def update(self, output: Tensor, target: Tensor, mask: Tensor) -> None:  # type: ignore[override]
        """Add one batch: ``output``/``target`` (N, C, H, W) and ``mask`` (N, 1|C, H, W)."""
        if mask is None:
            raise ParameterError("mask must be a tensor for MaskedImageMetrics.update, got None; use ImageMetrics")
        self._accumulate(output, target, mask)
