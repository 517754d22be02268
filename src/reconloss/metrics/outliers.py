"""What a reconstruction did with isolated outlier pixels ("salt" noise, hot pixels).

The folklore says an L1-trained model "keeps the bright pixel" while an L2-trained model
"smears it into a blurry blob". :func:`outlier_metrics` measures both behaviours at known
outlier positions, against the *clean* image (before the outliers were injected):

- ``retention``: how much of the injected jump survives at the outlier pixel itself
  (0 = the clean pixel was put back, 1 = the outlier was kept).
- ``halo``: how much excess brightness leaked into the pixels around it (the blob).
- ``clean_error``: how well the rest of the image, away from any outlier, was reconstructed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import (
    DeviceError,
    InputTypeError,
    ParameterError,
    ShapeError,
    check_pair,
    check_weight,
)
from .._reduction import per_image_mean

__all__ = ["outlier_metrics", "OUTLIER_KEYS"]

OUTLIER_KEYS: tuple[str, ...] = (
    "retention",
    "halo",
    "halo_fraction",
    "clean_error",
    "retention_mean",
    "halo_mean",
    "halo_fraction_mean",
    "clean_error_mean",
)

_TINY = 1e-12


def _check_radius(radius: object) -> int:
    if isinstance(radius, bool) or not isinstance(radius, int):
        raise ParameterError(f"radius must be an int >= 1 (pixels), got {radius!r}")
    if radius < 1:
        raise ParameterError(f"radius must be an int >= 1 (pixels), got {radius}")
    return radius


def _check_coords(coords: object, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Validate (K, 3) integer (batch, row, col) coordinates against images of ``shape`` (N, C, H, W)."""
    if not isinstance(coords, Tensor):
        raise InputTypeError(f"coords must be an integer torch.Tensor of shape (K, 3), got {type(coords).__name__}")
    if coords.dtype == torch.bool or coords.is_floating_point() or coords.is_complex():
        raise ParameterError(
            f"coords must have an integer dtype (rows of (batch, row, col)), got {coords.dtype}; "
            "use coords.long() after rounding if you really hold whole numbers as floats"
        )
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ShapeError(f"coords must have shape (K, 3) with rows (batch, row, col), got {tuple(coords.shape)}")
    if coords.device != device:
        raise DeviceError(f"coords must be on the device of the images ({device}), got {coords.device}")
    coords = coords.long()
    n, _, h, w = shape
    limits = torch.tensor([n, h, w], device=coords.device)
    bad = (coords < 0) | (coords >= limits)
    if bool(bad.any()):
        k = int(bad.any(dim=1).nonzero()[0, 0])
        b, r, c = (int(v) for v in coords[k].tolist())
        parts = []
        if not 0 <= b < n:
            parts.append(f"batch index {b} not in [0, {n - 1}]")
        if not 0 <= r < h:
            parts.append(f"row {r} not in [0, {h - 1}]")
        if not 0 <= c < w:
            parts.append(f"col {c} not in [0, {w - 1}]")
        n_bad = int(bad.any(dim=1).sum())
        raise ParameterError(
            f"coords[{k}] = (batch={b}, row={r}, col={c}) lies outside the images of shape {tuple(shape)}: "
            f"{'; '.join(parts)} ({n_bad} of {coords.shape[0]} coordinates are out of range)"
        )
    return coords


def _check_value(value: object, k: int, c: int, like: Tensor) -> Tensor:
    """Return the injected value as a (K, C) tensor from a number, (C,) or (K, C) tensor."""
    if isinstance(value, Tensor):
        if value.dtype == torch.bool:
            raise ParameterError(f"value must be a number or a float tensor, got dtype {value.dtype}")
        v = value.to(device=like.device, dtype=like.dtype)
        if v.ndim == 0:
            return v.expand(k, c)
        if v.ndim == 1 and v.shape[0] == c:
            return v.unsqueeze(0).expand(k, c)
        if v.ndim == 2 and tuple(v.shape) == (k, c):
            return v
        raise ShapeError(f"value must be a number, a ({c},) tensor (one per channel) or ({k}, {c}), got {tuple(v.shape)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"value must be a number or a tensor, got {type(value).__name__}")
    return torch.full((k, c), float(value), dtype=like.dtype, device=like.device)


def _nanmean(x: Tensor) -> Tensor:
    """Mean over the finite entries; NaN when there are none."""
    finite = torch.isfinite(x)
    if not bool(finite.any()):
        return torch.tensor(float("nan"), dtype=x.dtype, device=x.device)
    return x[finite].mean()


def outlier_metrics(
    output: Tensor,
    clean_target: Tensor,
    coords: Tensor,
    value: float | Tensor,
    radius: int = 2,
    exclude: Tensor | None = None,
) -> dict[str, Tensor]:
    """Retention, halo and clean-region error of a reconstruction at known outlier pixels.

    Let ``y`` be the clean image, ``v`` the injected value and ``o`` the model output. For
    outlier ``k`` at (batch ``b``, row ``i``, col ``j``) and channel ``c``:

    .. math::
        \\text{retention}_{k,c} = \\frac{o_{b,c,i,j} - y_{b,c,i,j}}{v_c - y_{b,c,i,j}}

    - ``retention`` (K, C): the fraction of the injected jump still present at the outlier
      pixel. **0 = the model put back the clean pixel** (the outlier was removed),
      **1 = the model kept the outlier** exactly; values between are partial removal, < 0 an
      overshoot past the clean value, > 1 an exaggerated outlier. NaN in a channel where the
      injection changed nothing (``|v - y| < 1e-12``, e.g. white onto an already white pixel).
      Whether 0 or 1 is "good" depends on the goal: for fidelity to the clean signal 0 is
      ideal (registered as ``outlier_retention`` with ideal 0 in :data:`reconloss.metrics.METRICS`).
    - ``halo`` (K,): the blob around the outlier. Over the *ring* of pixels at Chebyshev
      distance 1..``radius`` from it (a (2r+1)x(2r+1) square without its centre; pixels outside
      the image and other outlier centres are left out), sum the output's excess over the clean
      image in the outlier's direction, ``max(s_c (o - y), 0)`` with ``s_c = sign(v_c - y_c)``
      at the centre (+1 for a bright outlier), averaged over channels. Unit: image units x
      pixels (integrated excess brightness). 0 = no leak.
    - ``halo_fraction`` (K,): ``halo`` divided by the channel-mean injected jump ``|v - y|``:
      the share of the outlier's energy that reappears as a blob. A 3x3 box blur of a kept
      outlier gives retention 1/9 and halo_fraction 8/9.
    - ``clean_error`` (N,): mean absolute error ``|o - y|`` per image over the pixels farther
      than ``radius`` (Chebyshev) from every outlier of that image and outside ``exclude``:
      the ordinary reconstruction quality, untouched by outliers. NaN for an image with no
      such pixel.
    - ``retention_mean``, ``halo_mean``, ``halo_fraction_mean``, ``clean_error_mean``: scalar
      means over the finite entries (NaN if none, e.g. K = 0 for the outlier terms).

    Args:
        output: (N, C, H, W) reconstruction of the corrupted input.
        clean_target: (N, C, H, W) the image before outliers were injected.
        coords: (K, 3) integer tensor of (batch index, row, col), K >= 0, on the images' device.
        value: the injected value: a number, a (C,) tensor (one per channel) or (K, C).
        radius: ring radius in pixels (int >= 1), also the exclusion radius for ``clean_error``.
        exclude: optional mask (N, 1, H, W) or (N, C, H, W), nonzero = leave the pixel out of
            ``clean_error`` too (e.g. inpainting holes). The outlier terms ignore it.

    Returns:
        dict of tensors with the keys above (dtype of ``output``).

    Raises:
        ShapeError: images not 4-D or of different shapes, ``coords`` not (K, 3), bad ``value``
            shape.
        ParameterError: non-integer ``coords``, a coordinate outside the images (the message
            names it), bad ``radius``.

    Example:
        >>> import torch
        >>> clean = torch.zeros(1, 1, 9, 9)
        >>> coords = torch.tensor([[0, 4, 4]])
        >>> kept = clean.clone(); kept[0, 0, 4, 4] = 1.0
        >>> m = outlier_metrics(kept, clean, coords, 1.0)
        >>> float(m["retention_mean"]), float(m["halo_mean"])
        (1.0, 0.0)
    """
    check_pair(output, clean_target, names=("output", "clean_target"), ndim=4)
    radius = _check_radius(radius)
    n, c, h, w = output.shape
    coords = _check_coords(coords, tuple(output.shape), output.device)
    k = coords.shape[0]
    v = _check_value(value, k, c, output)
    if exclude is not None:
        exclude = check_weight(exclude, output, name="exclude")

    b_idx, rows, cols = coords[:, 0], coords[:, 1], coords[:, 2]
    diff = output - clean_target

    # Retention at the outlier pixel, per channel.
    y0 = clean_target[b_idx, :, rows, cols]  # (K, C)
    d0 = diff[b_idx, :, rows, cols]
    jump = v - y0
    changed = jump.abs() >= _TINY
    retention = torch.where(changed, d0 / torch.where(changed, jump, torch.ones_like(jump)), torch.full_like(jump, float("nan")))

    # Ring of Chebyshev radius 1..r around each outlier.
    centre = torch.zeros(n, h, w, dtype=torch.bool, device=output.device)
    if k > 0:
        centre[b_idx, rows, cols] = True
    offs = torch.arange(-radius, radius + 1, device=output.device)
    dy, dx = torch.meshgrid(offs, offs, indexing="ij")
    ring = torch.maximum(dy.abs(), dx.abs()) > 0
    dy, dx = dy[ring], dx[ring]  # (M,)
    rr = rows[:, None] + dy[None, :]  # (K, M)
    cc = cols[:, None] + dx[None, :]
    inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    rr_c, cc_c = rr.clamp(0, h - 1), cc.clamp(0, w - 1)
    bb = b_idx[:, None].expand_as(rr_c)
    valid = inside & ~centre[bb, rr_c, cc_c]
    sign = torch.where(jump < 0, -torch.ones_like(jump), torch.ones_like(jump))  # (K, C)
    ring_diff = diff[bb, :, rr_c, cc_c]  # (K, M, C)
    excess = (ring_diff * sign[:, None, :]).clamp_min(0.0).mean(dim=2)
    halo = (excess * valid.to(excess.dtype)).sum(dim=1)
    jump_mag = jump.abs().mean(dim=1)
    halo_fraction = torch.where(
        jump_mag >= _TINY, halo / jump_mag.clamp_min(_TINY), torch.full_like(halo, float("nan"))
    )

    # Clean error away from the outliers.
    near = F.max_pool2d(centre[:, None].to(output.dtype), kernel_size=2 * radius + 1, stride=1, padding=radius)
    keep = 1.0 - near
    if exclude is not None:
        keep = keep * (exclude.amax(dim=1, keepdim=True) <= 0).to(keep.dtype)
    clean_error = per_image_mean(diff.abs(), keep, empty="nan", name="clean region")

    return {
        "retention": retention,
        "halo": halo,
        "halo_fraction": halo_fraction,
        "clean_error": clean_error,
        "retention_mean": _nanmean(retention),
        "halo_mean": _nanmean(halo),
        "halo_fraction_mean": _nanmean(halo_fraction),
        "clean_error_mean": _nanmean(clean_error),
    }
