"""Corruptions for the studies: bright outlier pixels, inpainting holes, Gaussian noise.

Everything random takes an optional ``torch.Generator``: with one, the result depends only on
its seed (same seed, same tensors); with ``None``, torch's global generator is used.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from reconloss._checks import InputTypeError, ParameterError, ShapeError, check_choice, check_int, check_param, check_tensor

__all__ = ["HoleKind", "inject_outliers", "hole_masks", "apply_holes", "add_noise"]

HoleKind = Literal["square", "stroke", "mixed"]
_HOLE_KINDS: tuple[str, ...] = ("square", "stroke", "mixed")


def _check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputTypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def _rand(n: int, generator: torch.Generator | None) -> Tensor:
    """``n`` uniform numbers in [0, 1) on the CPU (float64), from ``generator`` or the global RNG."""
    if generator is not None and generator.device.type != "cpu":
        return torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64).cpu()
    return torch.rand(n, generator=generator, dtype=torch.float64)


def inject_outliers(
    images: Tensor,
    rate: float | None = None,
    positions: list[tuple[int, int]] | None = None,
    value: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    count_per_image: int | None = None,
    margin: int = 2,
    min_distance: int = 0,
) -> tuple[Tensor, Tensor]:
    """Set isolated pixels to a bright value (all channels), returning the corrupted copy.

    Exactly one of ``rate``, ``count_per_image`` and ``positions`` chooses where:

    * ``rate``: fraction of the pixels of each image; each image gets exactly
      ``max(1, round(rate * H * W))`` outliers, drawn without replacement from the pixels at
      least ``margin`` from the border (a fixed count per image keeps conditions comparable);
    * ``count_per_image``: that many outliers per image, drawn the same way;
    * ``positions``: the same ``(row, col)`` list in every image (no randomness).

    Args:
        images: ``(N, C, H, W)`` float images (usually in [0, 1]); not modified.
        rate: Outlier fraction per image, in (0, 1].
        positions: Fixed ``(row, col)`` pixels, each at least ``margin`` from the border.
        value: Value written to every channel of an outlier pixel (1.0: white in [0, 1]).
        generator: Random source for ``rate``/``count_per_image``.
        count_per_image: Outliers per image, >= 1.
        margin: Minimum distance in pixels from the border (default 2, so a halo ring of
            radius 2 around each outlier stays inside the image). 0 allows border pixels.
        min_distance: Minimum Chebyshev distance between two outliers of one image (0: any;
            e.g. 5 keeps radius-2 halos from overlapping). Random modes only.

    Returns:
        ``(corrupted, coords)``: ``corrupted`` has the shape, dtype and device of ``images``;
        ``coords`` is a ``(K, 3)`` int64 CPU tensor of ``(batch, row, col)``, sorted, one row per
        outlier pixel (``K = N * per-image count``).

    Raises:
        ParameterError: Not exactly one placement option, out-of-range values, more outliers
            than fit in the interior, or positions too close to the border.
        ShapeError: ``images`` is not 4-D.

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 3, 16, 16)
        >>> y, coords = inject_outliers(x, positions=[(5, 7)])
        >>> coords.tolist(), y[1, :, 5, 7].tolist()
        ([[0, 5, 7], [1, 5, 7]], [1.0, 1.0, 1.0])
    """
    check_tensor(images, "images", ndim=4, finite=False)
    _check_generator(generator)
    value = check_param(value, "value")
    margin = check_int(margin, "margin", 0)
    min_distance = check_int(min_distance, "min_distance", 0)
    options = (("rate", rate), ("positions", positions), ("count_per_image", count_per_image))
    chosen = [k for k, v in options if v is not None]
    if len(chosen) != 1:
        raise ParameterError(
            f"exactly one of rate, positions, count_per_image must be given, got {chosen if chosen else 'none'}"
        )
    n, _c, h, w = images.shape
    r_lo, r_hi, c_lo, c_hi = margin, h - 1 - margin, margin, w - 1 - margin
    if r_lo > r_hi or c_lo > c_hi:
        raise ShapeError(f"images must be larger than 2 * margin + 1 = {2 * margin + 1} pixels per side, got {h}x{w}")

    if positions is not None:
        if not isinstance(positions, (list, tuple)) or len(positions) == 0:
            raise ParameterError(f"positions must be a non-empty list of (row, col), got {positions!r}")
        pts: list[tuple[int, int]] = []
        for pos in positions:
            if not isinstance(pos, (list, tuple)) or len(pos) != 2:
                raise ParameterError(f"positions must hold (row, col) pairs, got {pos!r}")
            rr, cc = int(pos[0]), int(pos[1])
            if not (r_lo <= rr <= r_hi and c_lo <= cc <= c_hi):
                raise ParameterError(
                    f"positions must lie at least margin={margin} pixels from the border, i.e. rows in "
                    f"[{r_lo}, {r_hi}] and cols in [{c_lo}, {c_hi}] for {h}x{w} images, got {(rr, cc)}"
                )
            pts.append((rr, cc))
        pts = sorted(set(pts))
        per_image = [pts] * n
    else:
        interior = (r_hi - r_lo + 1) * (c_hi - c_lo + 1)
        if rate is not None:
            rate_f = check_param(rate, "rate", low=0.0, high=1.0, low_inclusive=False)
            k = max(1, round(rate_f * h * w))
        else:
            k = check_int(count_per_image, "count_per_image", 1)
        if k > interior:
            raise ParameterError(
                f"cannot place {k} outliers per image in the {interior} pixels at least margin={margin} from the border"
            )
        per_image = [
            _sample_positions(k, r_lo, r_hi, c_lo, c_hi, min_distance, generator) for _ in range(n)
        ]

    coords = torch.tensor(
        [(b, rr, cc) for b, pts_b in enumerate(per_image) for rr, cc in pts_b], dtype=torch.long
    ).reshape(-1, 3)
    out = images.clone()
    dev = coords.to(images.device)
    out[dev[:, 0], :, dev[:, 1], dev[:, 2]] = value
    return out, coords


def _sample_positions(
    k: int, r_lo: int, r_hi: int, c_lo: int, c_hi: int, min_distance: int, generator: torch.Generator | None
) -> list[tuple[int, int]]:
    hh, ww = r_hi - r_lo + 1, c_hi - c_lo + 1
    order = torch.argsort(_rand(hh * ww, generator)).tolist()
    if min_distance == 0:
        picks = order[:k]
        return sorted((r_lo + i // ww, c_lo + i % ww) for i in picks)
    blocked = torch.zeros(hh, ww, dtype=torch.bool)
    out: list[tuple[int, int]] = []
    d = min_distance
    for i in order:
        rr, cc = divmod(i, ww)
        if blocked[rr, cc]:
            continue
        out.append((r_lo + rr, c_lo + cc))
        blocked[max(0, rr - d + 1) : rr + d, max(0, cc - d + 1) : cc + d] = True
        if len(out) == k:
            return sorted(out)
    raise ParameterError(f"cannot place {k} outliers at least min_distance={d} apart in a {hh}x{ww} interior")


def _pixel_bounds(size: int, area: tuple[float, float]) -> tuple[int, int]:
    total = size * size
    k_lo = math.ceil(area[0] * total - 1e-9)
    k_hi = math.floor(area[1] * total + 1e-9)
    return max(k_lo, 1), k_hi


def hole_masks(
    n: int,
    size: int,
    kind: HoleKind = "mixed",
    area: tuple[float, float] = (0.1, 0.3),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random inpainting masks, 1 = hole (missing pixel), 0 = known.

    Kinds:

    * ``"square"``: one axis-aligned square at a uniform position (a near-square rectangle when
      no integer square has an area in range, e.g. for very small images or narrow ranges);
    * ``"stroke"``: free-form brush strokes, a random walk of thick line segments (radius
      3-8% of ``size``, at least 1 px; a new stroke starts elsewhere now and then), stopped at
      a target pixel count: the last segment is cut along its length so the area is exact;
    * ``"mixed"``: each mask is a square or a stroke with probability 1/2.

    The hole area of every mask, ``mask.mean()``, lies in ``[area[0], area[1]]``: the target
    pixel count is drawn uniformly among the integers in that range.

    Args:
        n: Number of masks, >= 1.
        size: Side of the square masks in pixels, >= 2.
        kind: ``"square"``, ``"stroke"`` or ``"mixed"``.
        area: ``(low, high)`` hole fraction, ``0 < low <= high < 1``; the range must contain
            at least one whole pixel count.
        generator: Random source.

    Returns:
        ``(n, 1, size, size)`` float32 CPU tensor of 0/1 values.

    Raises:
        ParameterError: Bad ``kind``, ``n``, ``size`` or ``area``.

    Example:
        >>> import torch
        >>> m = hole_masks(4, 32, "stroke", area=(0.1, 0.3), generator=torch.Generator().manual_seed(0))
        >>> m.shape, bool(((m.mean((1, 2, 3)) >= 0.1) & (m.mean((1, 2, 3)) <= 0.3)).all())
        (torch.Size([4, 1, 32, 32]), True)
    """
    n = check_int(n, "n", 1)
    size = check_int(size, "size", 2)
    check_choice(kind, "kind", _HOLE_KINDS)
    _check_generator(generator)
    if not isinstance(area, (tuple, list)) or len(area) != 2:
        raise ParameterError(f"area must be a (low, high) pair of fractions, got {area!r}")
    lo = check_param(area[0], "area[0]", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    hi = check_param(area[1], "area[1]", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if lo > hi:
        raise ParameterError(f"area must satisfy low <= high, got {area!r}")
    k_lo, k_hi = _pixel_bounds(size, (lo, hi))
    if k_lo > k_hi:
        raise ParameterError(
            f"area range {area!r} holds no whole pixel count for {size}x{size} masks; widen it"
        )
    masks = torch.zeros(n, 1, size, size, dtype=torch.float32)
    for i in range(n):
        this_kind = kind
        if kind == "mixed":
            this_kind = "square" if float(_rand(1, generator)) < 0.5 else "stroke"
        k = k_lo + min(int(float(_rand(1, generator)) * (k_hi - k_lo + 1)), k_hi - k_lo)
        if this_kind == "square":
            masks[i, 0] = _square_mask(size, k_lo, k_hi, k, generator)
        else:
            masks[i, 0] = _stroke_mask(size, k, generator)
    return masks


def _square_mask(size: int, k_lo: int, k_hi: int, k: int, generator: torch.Generator | None) -> Tensor:
    # Prefer the square whose area is closest to the target k, if any square fits the range.
    side = min(max(round(math.sqrt(k)), 1), size)
    candidates = [s for s in (side - 1, side, side + 1) if 1 <= s <= size and k_lo <= s * s <= k_hi]
    if candidates:
        hh = ww = min(candidates, key=lambda s: abs(s * s - k))
    else:
        # No square fits: the most square rectangle with an area in range.
        best: tuple[int, int] | None = None
        for hgt in range(1, size + 1):
            wid = math.ceil(k_lo / hgt)
            if wid <= size and hgt * wid <= k_hi and (best is None or abs(hgt - wid) < abs(best[0] - best[1])):
                best = (hgt, wid)
        if best is None:  # unreachable when k_lo <= k_hi <= size * size, kept as a typed error
            raise ParameterError(f"no rectangle with {k_lo}..{k_hi} pixels fits in {size}x{size}")
        hh, ww = best
    u = _rand(2, generator)
    r0 = min(int(u[0] * (size - hh + 1)), size - hh)
    c0 = min(int(u[1] * (size - ww + 1)), size - ww)
    m = torch.zeros(size, size, dtype=torch.float32)
    m[r0 : r0 + hh, c0 : c0 + ww] = 1.0
    return m


def _stroke_mask(size: int, k: int, generator: torch.Generator | None) -> Tensor:
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij"
    )
    mask = torch.zeros(size, size, dtype=torch.bool)
    covered = 0
    u = _rand(3, generator)
    pos = (float(u[0]) * (size - 1), float(u[1]) * (size - 1))
    angle = float(u[2]) * 2.0 * math.pi
    while True:
        u = _rand(5, generator)
        radius = max(1.0, (0.03 + 0.05 * float(u[0])) * size)
        length = (0.1 + 0.3 * float(u[1])) * size
        angle += (float(u[2]) - 0.5) * 2.0 * (math.pi / 2.0)  # turn by at most 90 degrees
        end = (
            min(max(pos[0] + length * math.sin(angle), 0.0), size - 1.0),
            min(max(pos[1] + length * math.cos(angle), 0.0), size - 1.0),
        )
        # Distance of every pixel centre to the segment pos -> end, and its position t along it.
        dy, dx = end[0] - pos[0], end[1] - pos[1]
        seg2 = dy * dy + dx * dx
        if seg2 > 0:
            t = (((yy - pos[0]) * dy + (xx - pos[1]) * dx) / seg2).clamp(0.0, 1.0)
        else:
            t = torch.zeros_like(yy)
        dist2 = (yy - (pos[0] + t * dy)) ** 2 + (xx - (pos[1] + t * dx)) ** 2
        new = (dist2 <= radius * radius) & ~mask
        n_new = int(new.sum())
        if covered + n_new >= k:
            # Cut the segment: keep the new pixels nearest its start until exactly k are covered.
            idx = new.flatten().nonzero().squeeze(1)
            key = t.flatten()[idx] * (4.0 * size * size) + dist2.flatten()[idx]
            keep = idx[torch.argsort(key, stable=True)[: k - covered]]
            mask.view(-1)[keep] = True
            return mask.to(torch.float32)
        mask |= new
        covered += n_new
        if n_new == 0 or float(u[3]) < 0.15:
            # Start a new stroke at a random uncovered pixel: guarantees progress.
            free = (~mask).flatten().nonzero().squeeze(1)
            j = int(free[min(int(float(u[4]) * len(free)), len(free) - 1)])
            pos = (float(j // size), float(j % size))
        else:
            pos = end


def apply_holes(images: Tensor, masks: Tensor) -> Tensor:
    """Blank the hole pixels: ``images * (1 - masks)``, i.e. holes are set to 0 (black).

    The inpainting network also receives the mask, so a 0 in a hole is not confused with a black
    pixel.

    Args:
        images: ``(N, C, H, W)`` float images.
        masks: ``(N, 1, H, W)`` (or ``(N, C, H, W)``) with 1 = hole, 0 = known; values in [0, 1].

    Returns:
        The masked images, shape of ``images``.

    Raises:
        ShapeError: Masks do not match the images.
    """
    check_tensor(images, "images", ndim=4, finite=False)
    check_tensor(masks, "masks", ndim=4, finite=False)
    n, c, h, w = images.shape
    if masks.shape[0] != n or masks.shape[2:] != images.shape[2:] or masks.shape[1] not in (1, c):
        raise ShapeError(f"masks must have shape {(n, 1, h, w)} or {(n, c, h, w)}, got {tuple(masks.shape)}")
    return images * (1.0 - masks.to(device=images.device, dtype=images.dtype))


def add_noise(
    images: Tensor, sigma: float, generator: torch.Generator | None = None, clip: bool = True
) -> Tensor:
    """Add white Gaussian noise of standard deviation ``sigma``.

    Args:
        images: Float images of any shape (usually ``(N, C, H, W)`` in [0, 1]).
        sigma: Noise standard deviation in image units (0.1 = 10% of the [0, 1] range), >= 0.
        generator: Random source; the noise is drawn on the generator's device and moved to
            the images' device, so a CPU generator gives the same noise for CPU and GPU images.
        clip: Clamp the result to [0, 1].

    Returns:
        Noisy copy of ``images``.
    """
    check_tensor(images, "images", finite=False)
    _check_generator(generator)
    s = check_param(sigma, "sigma", low=0.0)
    gen_device = generator.device if generator is not None else images.device
    noise = torch.randn(images.shape, generator=generator, device=gen_device, dtype=images.dtype)
    out = images + s * noise.to(images.device)
    return out.clamp(0.0, 1.0) if clip else out
