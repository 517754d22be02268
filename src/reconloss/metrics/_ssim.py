r"""The one SSIM / MS-SSIM engine shared by :mod:`reconloss.metrics` and :mod:`reconloss.losses`.

Conventions (those of Wang et al. 2004, scikit-image with ``gaussian_weights=True,
use_sample_covariance=False`` and pytorch-msssim):

- an ``win_size``-tap Gaussian window of standard deviation ``sigma`` (11 taps, 1.5 by default),
  normalised to sum 1, applied separably;
- *valid* filtering (no padding): the SSIM map of an ``H x W`` image is
  ``(H - win_size + 1) x (W - win_size + 1)``, i.e. scikit-image's map with its
  ``(win_size - 1) / 2`` border cropped, which is the region its mean is taken over;
- :math:`C_1 = (K_1 L)^2`, :math:`C_2 = (K_2 L)^2` with :math:`K_1 = 0.01`, :math:`K_2 = 0.03`
  and :math:`L` the data range;
- population (biased) local variances: :math:`\sigma_x^2 = G * x^2 - (G * x)^2`.

Speed and memory. The fused path (the default) stacks the four maps
:math:`x, y, x^2 + y^2, xy` in a channels-last buffer and filters all of them with ONE grouped
depthwise convolution per axis (oneDNN's channels-last depthwise kernel is ~10x faster than the
NCHW one on CPU). Only :math:`\sigma_x^2 + \sigma_y^2` enters SSIM, so four filtered maps are
enough instead of the usual five. The backward pass is written by hand in
:class:`_FusedSSIM`: writing :math:`F = \sum_p w_S(p) S(p) + w_c(p) cs(p)` for the per-position
weights the caller's reduction gives the SSIM and contrast-structure maps,

.. math::

    \frac{\partial F}{\partial x} = G^\top g_\mu + x \, G^\top q + y \, G^\top v,
    \qquad
    \frac{\partial F}{\partial y} = G^\top g_{\mu_y} + y \, G^\top q + x \, G^\top v,

where :math:`G^\top` is the adjoint of the valid Gaussian filter (a "full" convolution: the
kernel is symmetric, so it is a zero-padded convolution with the same kernel) and

.. math::

    u = \frac{2 w_S\, cs}{B_1},\quad v = \frac{2 (w_S\, l + w_c)}{B_2},\quad q = -v\, cs,\quad
    g_\mu = u (\mu_y - l \mu_x) + v (cs\, \mu_x - \mu_y),

with :math:`l = A_1 / B_1`, :math:`cs = A_2 / B_2`, :math:`A_1 = 2\mu_x\mu_y + C_1`,
:math:`B_1 = \mu_x^2 + \mu_y^2 + C_1`, :math:`A_2 = 2\sigma_{xy} + C_2`,
:math:`B_2 = \sigma_x^2 + \sigma_y^2 + C_2`. Nothing but the inputs is saved for backward: the
four local statistics are recomputed (one more grouped convolution), and everything runs in
chunks of images so that the working memory stays a small multiple of one chunk.
The eager path (``impl='eager'``) is the textbook formula on autograd, used by the tests as a
reference for values and gradients.

Reference:
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE TIP 13(4), 2004.
    Z. Wang, E. P. Simoncelli, A. C. Bovik, "Multiscale structural similarity for image quality
    assessment", Asilomar 2003.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from .._checks import ParameterError, ShapeError, check_param

__all__ = [
    "K1",
    "K2",
    "MS_SSIM_WEIGHTS",
    "Impl",
    "gaussian_window",
    "ms_ssim_min_size",
    "ms_ssim_weights",
    "ssim_map",
    "ssim_per_channel",
    "ms_ssim_per_channel",
    "crop_mask",
]

K1 = 0.01
K2 = 0.03
#: Wang et al. 2003 scale weights, finest scale first.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

Impl = Literal["fused", "eager"]

# Images per chunk are chosen so that one chunk holds about this many input elements
# (N*C*H*W of one tensor). 2**18 floats = 1 MiB: the ~12 chunk-sized buffers of the fused
# path stay cache-friendly and the peak working memory stays a small multiple of the input.
_CHUNK_ELEMS = 1 << 19

_WINDOWS: dict[tuple[int, float, torch.dtype, torch.device], Tensor] = {}
_CONV_WEIGHTS: dict[tuple[int, float, torch.dtype, torch.device, int], tuple[Tensor, Tensor]] = {}


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half types are computed in float32 (E[x^2] - mu^2 cancels badly in 16 bits)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def gaussian_window(win_size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    r"""1-D Gaussian window, normalised to sum 1, cached per (size, sigma, dtype, device).

    .. math:: g_i = \frac{\exp(-(i - (n-1)/2)^2 / 2\sigma^2)}{\sum_j \exp(-(j - (n-1)/2)^2 / 2\sigma^2)}

    Args:
        win_size: number of taps ``n`` (odd).
        sigma: standard deviation in pixels.
        dtype: floating dtype of the window.
        device: device of the window.

    Returns:
        Tensor of shape ``(win_size,)``. Do not modify it in place (it is shared).

    Example:
        >>> w = gaussian_window(11, 1.5, torch.float32, torch.device("cpu"))
        >>> round(float(w.sum()), 6)
        1.0
    """
    key = (int(win_size), float(sigma), dtype, torch.device(device))
    win = _WINDOWS.get(key)
    if win is None:
        coords = torch.arange(win_size, dtype=torch.float64) - (win_size - 1) / 2.0
        g = torch.exp(-(coords**2) / (2.0 * float(sigma) ** 2))
        win = (g / g.sum()).to(dtype=dtype, device=device)
        _WINDOWS[key] = win
    return win


def _conv_weights(win_size: int, sigma: float, dtype: torch.dtype, device: torch.device, groups: int) -> tuple[Tensor, Tensor]:
    """Depthwise conv weights ``(groups, 1, 1, k)`` (along W) and ``(groups, 1, k, 1)`` (along H)."""
    key = (int(win_size), float(sigma), dtype, torch.device(device), int(groups))
    w = _CONV_WEIGHTS.get(key)
    if w is None:
        g = gaussian_window(win_size, sigma, dtype, device)
        w = (g.view(1, 1, 1, -1).repeat(groups, 1, 1, 1), g.view(1, 1, -1, 1).repeat(groups, 1, 1, 1))
        _CONV_WEIGHTS[key] = w
    return w


def _filter_valid(s: Tensor, win_size: int, sigma: float) -> Tensor:
    """Separable valid Gaussian filter of every channel of ``s`` (N, G, H, W) -> (N, G, H-k+1, W-k+1)."""
    ww, wh = _conv_weights(win_size, sigma, s.dtype, s.device, s.shape[1])
    return F.conv2d(F.conv2d(s, ww, groups=s.shape[1]), wh, groups=s.shape[1])


def _filter_adjoint(s: Tensor, win_size: int, sigma: float) -> Tensor:
    """Adjoint of :func:`_filter_valid` (full convolution; the kernel is symmetric)."""
    ww, wh = _conv_weights(win_size, sigma, s.dtype, s.device, s.shape[1])
    p = win_size - 1
    return F.conv2d(F.conv2d(s, wh, groups=s.shape[1], padding=(p, 0)), ww, groups=s.shape[1], padding=(0, p))


def crop_mask(mask: Tensor, win_size: int) -> Tensor:
    """Crop a (N, 1|C, H, W) mask to the valid region of the SSIM map (window centres)."""
    r = win_size // 2
    h, w = mask.shape[-2:]
    return mask[..., r : h - r, r : w - r]


def _stack_stats_input(x: Tensor, y: Tensor) -> Tensor:
    """Channels-last (n, 4C, H, W) copy of ``x, y, x^2 + y^2, x*y`` (channel k*C + c).

    The four maps are built with contiguous (vectorised) ops, then transposed once to
    channels-last, the layout of oneDNN's fast depthwise convolution.
    """
    n, c, h, w = x.shape
    buf = torch.empty((n, 4, c, h, w), dtype=x.dtype, device=x.device)
    buf[:, 0] = x
    buf[:, 1] = y
    e2 = buf[:, 2]
    torch.mul(x, x, out=e2)
    e2.addcmul_(y, y)
    torch.mul(x, y, out=buf[:, 3])
    return buf.view(n, 4 * c, h, w).contiguous(memory_format=torch.channels_last)


class _Maps:
    """The local statistics and SSIM terms of one chunk (mu_x, mu_y: views into one NCHW tensor)."""

    __slots__ = ("mx", "my", "lum", "cs", "b1", "b2")

    def __init__(self, x: Tensor, y: Tensor, win_size: int, sigma: float, c1: float, c2: float) -> None:
        c = x.shape[1]
        st = _filter_valid(_stack_stats_input(x, y), win_size, sigma).contiguous()
        mx, my, e2, exy = st[:, :c], st[:, c : 2 * c], st[:, 2 * c : 3 * c], st[:, 3 * c :]
        mxy = mx * my
        sq = mx * mx
        sq.addcmul_(my, my)  # mu_x^2 + mu_y^2
        b1 = sq + c1
        lum = (2.0 * mxy).add_(c1).div_(b1)
        b2 = (e2 - sq).add_(c2)
        cs = (exy - mxy).mul_(2.0).add_(c2).div_(b2)
        self.mx, self.my, self.lum, self.cs, self.b1, self.b2 = mx, my, lum, cs, b1, b2


def _chunks(n: int, per_image: int) -> list[tuple[int, int]]:
    step = max(1, _CHUNK_ELEMS // max(1, per_image))
    return [(i, min(n, i + step)) for i in range(0, n, step)]


def _reduce(m: Tensor, weight: Tensor | None, scale: float) -> Tensor:
    """Per-(N, C) weighted sum over positions (or mean, via ``scale``, without weights)."""
    if weight is None:
        return m.sum(dim=(2, 3)).mul_(scale)
    return (m * weight).sum(dim=(2, 3))


class _FusedSSIM(torch.autograd.Function):
    """Per-(image, channel) SSIM and contrast-structure sums with a hand-written backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: Tensor,
        y: Tensor,
        weight: Tensor | None,
        win_size: int,
        sigma: float,
        c1: float,
        c2: float,
    ) -> tuple[Tensor, Tensor]:
        n, c, h, w = x.shape
        hv, wv = h - win_size + 1, w - win_size + 1
        scale = 1.0 / (hv * wv)
        s_out = x.new_empty((n, c))
        c_out = x.new_empty((n, c))
        for i0, i1 in _chunks(n, c * h * w):
            m = _Maps(x[i0:i1], y[i0:i1], win_size, sigma, c1, c2)
            wt = None if weight is None else weight[i0:i1]
            c_out[i0:i1] = _reduce(m.cs, wt, scale)
            s_out[i0:i1] = _reduce(m.lum.mul_(m.cs), wt, scale)
        ctx.save_for_backward(x, y, weight)
        ctx.params = (win_size, sigma, c1, c2)  # type: ignore[attr-defined]
        ctx.set_materialize_grads(False)
        return s_out, c_out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_s: Tensor | None, grad_c: Tensor | None) -> tuple[Tensor | None, ...]:
        x, y, weight = ctx.saved_tensors
        win_size, sigma, c1, c2 = ctx.params
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        none = (None, None, None, None, None, None, None)
        if (grad_s is None and grad_c is None) or not (need_x or need_y):
            return none
        n, c, h, w = x.shape
        hv, wv = h - win_size + 1, w - win_size + 1
        scale = 1.0 / (hv * wv)
        dx = torch.empty_like(x, memory_format=torch.contiguous_format) if need_x else None
        dy = torch.empty_like(y, memory_format=torch.contiguous_format) if need_y else None
        for i0, i1 in _chunks(n, c * h * w):
            xc, yc = x[i0:i1], y[i0:i1]
            m = _Maps(xc, yc, win_size, sigma, c1, c2)
            wt = None if weight is None else weight[i0:i1]
            # Per-position weights of the S map (ws) and the cs map (wc).
            ws = None if grad_s is None else grad_s[i0:i1, :, None, None] * (scale if wt is None else wt)
            wc = None if grad_c is None else grad_c[i0:i1, :, None, None] * (scale if wt is None else wt)
            k = 4 if (need_x and need_y) else 3
            nb = i1 - i0
            g = torch.empty((nb, k, c, hv, wv), dtype=x.dtype, device=x.device)
            # v = 2 (ws*l + wc) / B2 ; u = 2 ws*cs / B1
            v = g[:, k - 1]
            if ws is not None:
                torch.mul(m.lum, ws, out=v)
                if wc is not None:
                    v.add_(wc)
            else:
                v.copy_(wc.expand_as(v))  # type: ignore[union-attr]
            v.mul_(2.0).div_(m.b2)
            torch.mul(v, m.cs, out=g[:, k - 2]).neg_()  # q = -v * cs
            u = None if ws is None else (m.cs * ws).mul_(2.0).div_(m.b1)
            slots = []
            if need_x:
                slots.append((m.mx, m.my))
            if need_y:
                slots.append((m.my, m.mx))
            for j, (ma, mb) in enumerate(slots):
                # g_mu_a = u (mu_b - l mu_a) + v (cs mu_a - mu_b)
                ga = g[:, j]
                torch.mul(m.cs, ma, out=ga)
                ga.sub_(mb).mul_(v)
                if u is not None:
                    ga.add_((mb - m.lum * ma).mul_(u))
            g_cl = g.view(nb, k * c, hv, wv).contiguous(memory_format=torch.channels_last)
            del g, v, u
            t = _filter_adjoint(g_cl, win_size, sigma).contiguous()
            del g_cl
            tq, tv = t[:, (k - 2) * c : (k - 1) * c], t[:, (k - 1) * c :]
            j = 0
            if need_x:
                r = t[:, :c] + xc * tq
                r.addcmul_(yc, tv)
                dx[i0:i1] = r  # type: ignore[index]
                j = 1
            if need_y:
                r = t[:, j * c : (j + 1) * c] + yc * tq
                r.addcmul_(xc, tv)
                dy[i0:i1] = r  # type: ignore[index]
        return dx, dy, None, None, None, None, None


def _eager_per_channel(
    x: Tensor, y: Tensor, weight: Tensor | None, win_size: int, sigma: float, c1: float, c2: float
) -> tuple[Tensor, Tensor]:
    """Textbook SSIM on autograd (five filtered maps, NCHW convolutions): the test reference."""
    m = ssim_map(x, y, win_size=win_size, sigma=sigma, c1=c1, c2=c2, return_cs=True)
    s_map, cs_map = m
    if weight is None:
        return s_map.mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))
    return (s_map * weight).sum(dim=(2, 3)), (cs_map * weight).sum(dim=(2, 3))


def ssim_map(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    c1: float | None = None,
    c2: float | None = None,
    return_cs: bool = False,
) -> Any:
    r"""SSIM map on the valid region (eager autograd ops; for inspection and tests).

    .. math::
        \mathrm{SSIM}(p) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
        {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

    Args:
        x: images (N, C, H, W), values in ``[0, data_range]`` (not checked here).
        y: images of the same shape.
        data_range: :math:`L`, sets :math:`C_1 = (0.01 L)^2` and :math:`C_2 = (0.03 L)^2`
            unless ``c1``/``c2`` are given.
        win_size: Gaussian window taps.
        sigma: Gaussian standard deviation.
        c1: override of :math:`C_1`.
        c2: override of :math:`C_2`.
        return_cs: also return the contrast-structure map.

    Returns:
        The SSIM map, shape (N, C, H - win_size + 1, W - win_size + 1), or ``(ssim_map, cs_map)``.

    Example:
        >>> x = torch.rand(1, 1, 16, 16)
        >>> ssim_map(x, x).shape
        torch.Size([1, 1, 6, 6])
    """
    c1 = (K1 * data_range) ** 2 if c1 is None else c1
    c2 = (K2 * data_range) ** 2 if c2 is None else c2
    ch = x.shape[1]
    g = gaussian_window(win_size, sigma, x.dtype, x.device)
    ww = g.view(1, 1, 1, -1).repeat(ch, 1, 1, 1)
    wh = g.view(1, 1, -1, 1).repeat(ch, 1, 1, 1)

    def filt(t: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(t, ww, groups=ch), wh, groups=ch)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    s = lum * cs
    return (s, cs) if return_cs else s


def ssim_per_channel(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    *,
    weight: Tensor | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    impl: Impl = "fused",
) -> tuple[Tensor, Tensor]:
    r"""Mean SSIM and mean contrast-structure per image and channel (no input validation).

    Args:
        x: images (N, C, H, W), floating, H and W at least ``win_size``.
        y: images of the same shape, dtype and device.
        data_range: :math:`L` (sets :math:`C_1, C_2`).
        weight: ``None`` for the plain mean over the valid positions, else per-position weights
            of shape (N, 1 | C, H - win_size + 1, W - win_size + 1) already normalised by the
            caller: the outputs are then ``sum(weight * map)`` over the positions.
        win_size: Gaussian window taps.
        sigma: Gaussian standard deviation.
        impl: ``'fused'`` (fast, hand-written backward) or ``'eager'`` (autograd reference).

    Returns:
        ``(ssim, cs)``, each of shape (N, C), in the dtype of ``x``.

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> s, cs = ssim_per_channel(x, x)
        >>> bool(torch.allclose(s, torch.ones(2, 3)))
        True
    """
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    dtype = x.dtype
    cd = _compute_dtype(dtype)
    if cd != dtype:
        x, y = x.to(cd), y.to(cd)
        weight = None if weight is None else weight.to(cd)
    if impl == "fused":
        s, cs = _FusedSSIM.apply(x, y, weight, int(win_size), float(sigma), float(c1), float(c2))
    elif impl == "eager":
        s, cs = _eager_per_channel(x, y, weight, int(win_size), float(sigma), c1, c2)
    else:
        raise ParameterError(f"impl must be one of 'fused', 'eager', got {impl!r}")
    return s.to(dtype), cs.to(dtype)


def ms_ssim_min_size(win_size: int, scales: int) -> int:
    """Smallest image side for ``scales`` scales: ``(win_size - 1) * 2**(scales - 1) + 1``.

    Scales are halved with a 2x2 average pool that keeps a partial last row/column on odd
    sizes (``ceil_mode``), so the coarsest scale of a side ``s`` has ``ceil(s / 2**(scales-1))``
    pixels, which must be at least ``win_size``.

    Example:
        >>> ms_ssim_min_size(11, 5), ms_ssim_min_size(11, 3)
        (161, 41)
    """
    return (win_size - 1) * 2 ** (scales - 1) + 1


def ms_ssim_max_scales(side: int, win_size: int = 11, limit: int = 5) -> int:
    """Most MS-SSIM scales (up to ``limit``) an image of side ``side`` allows; 0 if not even one.

    Example:
        >>> ms_ssim_max_scales(32), ms_ssim_max_scales(64), ms_ssim_max_scales(161), ms_ssim_max_scales(8)
        (2, 3, 5, 0)
    """
    fit = 0
    while fit < limit and ms_ssim_min_size(win_size, fit + 1) <= side:
        fit += 1
    return fit


def ms_ssim_weights(scales: int | None = None, weights: Sequence[float] | None = None) -> tuple[float, ...]:
    """Resolve the scale weights of MS-SSIM.

    - neither given: the five weights of Wang et al. 2003 (:data:`MS_SSIM_WEIGHTS`);
    - ``scales=k`` (1..5): the first ``k`` of them, renormalised to sum 1 (so the result stays a
      weighted geometric mean, and 1 for identical images);
    - ``weights=w``: used as given (positive, finite; their count sets the scales), as in
      pytorch-msssim's ``weights``; ``scales``, if also given, must equal ``len(w)``.

    Example:
        >>> [round(w, 3) for w in ms_ssim_weights(3)]
        [0.071, 0.453, 0.476]
    """
    if weights is not None:
        if isinstance(weights, Tensor):
            weights = [float(v) for v in weights.detach().flatten().tolist()]
        if not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) == 0:
            raise ParameterError(f"weights must be a non-empty sequence of positive numbers, got {weights!r}")
        ws = tuple(check_param(v, "weights[i]", low=0, low_inclusive=False) for v in weights)
        if scales is not None and scales != len(ws):
            raise ParameterError(f"scales must equal len(weights) ({len(ws)}) when both are given, got {scales!r}")
        return ws
    if scales is None:
        return MS_SSIM_WEIGHTS
    if isinstance(scales, bool) or not isinstance(scales, int) or not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise ParameterError(f"scales must be an integer in [1, {len(MS_SSIM_WEIGHTS)}], got {scales!r}")
    sel = MS_SSIM_WEIGHTS[:scales]
    total = sum(sel)
    return tuple(v / total for v in sel)


def _safe_pow(v: Tensor, e: float) -> Tensor:
    """``relu(v) ** e`` with a finite gradient (0 where ``v <= 0``) for ``0 < e < 1``."""
    pos = v > 0
    return torch.where(pos, v.clamp_min(1e-12).pow(e), torch.zeros_like(v))


def ms_ssim_per_channel(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    *,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    mask: Tensor | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    impl: Impl = "fused",
) -> tuple[Tensor, Tensor | None]:
    r"""MS-SSIM per image and channel (no input validation).

    .. math::
        \mathrm{MS\text{-}SSIM} = \max(\mathrm{SSIM}_M, 0)^{w_M} \prod_{j=1}^{M-1} \max(cs_j, 0)^{w_j}

    evaluated per channel (as pytorch-msssim does) and later averaged over the channels. The
    ``max(., 0)`` keeps anti-correlated images (e.g. ``x`` against ``1 - x``) finite, in
    ``[0, 1]``, with a zero gradient through the clamped factor, where the plain fractional
    power of a negative number would be NaN.

    Args:
        x: images (N, C, H, W); H, W at least :func:`ms_ssim_min_size`.
        y: images of the same shape.
        data_range: :math:`L`.
        weights: one weight per scale, finest first.
        mask: optional (N, 1 | C, H, W) non-negative weights, average-pooled with the images;
            at each scale the per-channel values are weighted means over the cropped mask.
        win_size: Gaussian window taps.
        sigma: Gaussian standard deviation.
        impl: ``'fused'`` or ``'eager'``.

    Returns:
        ``(values (N, C), empty (N,) bool or None)``: ``empty`` flags images whose mask selects
        nothing at some scale (their values are meaningless and the caller applies its policy).

    Example:
        >>> x = torch.rand(1, 3, 161, 161)
        >>> v, _ = ms_ssim_per_channel(x, x)
        >>> bool(torch.allclose(v, torch.ones(1, 3)))
        True
    """
    levels = len(weights)
    value: Tensor | None = None
    empty: Tensor | None = None
    for i, wgt in enumerate(weights):
        wmap = None
        if mask is not None:
            cm = crop_mask(mask, win_size)
            den = cm.sum(dim=(2, 3), keepdim=True)
            e = (den == 0).flatten(1).any(dim=1)
            empty = e if empty is None else empty | e
            wmap = cm / den.clamp_min(torch.finfo(cm.dtype).tiny)
        s, cs = ssim_per_channel(x, y, data_range, weight=wmap, win_size=win_size, sigma=sigma, impl=impl)
        term = _safe_pow(s if i == levels - 1 else cs, float(wgt))
        value = term if value is None else value * term
        if i < levels - 1:
            x = F.avg_pool2d(x, 2, ceil_mode=True)
            y = F.avg_pool2d(y, 2, ceil_mode=True)
            if mask is not None:
                mask = F.avg_pool2d(mask, 2, ceil_mode=True)
    if value is None:
        raise ShapeError("MS-SSIM needs at least one scale")
    return value, empty
