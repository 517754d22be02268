"""Fast paths for the pixel losses: few passes over memory, few full-size temporaries.

The native :mod:`torch.nn.functional` losses build their result out of generic element-wise
kernels: ``l1_loss`` allocates ``a - b``, then ``|a - b|``, then in backward ``sign(a - b)``,
the scaled gradient and the gradient of the target. On a CPU each fresh image-sized
temporary (48 MiB at 4x3x1024x1024 in float32) comes from ``mmap`` and is paid for in page
faults, so the number of allocations, not the arithmetic, sets the time.

The :class:`_Fused` autograd Function below allocates no image-sized buffer in forward: the
element-wise loss is written by aten's own loss kernels (``mse_loss``, ``huber_loss``,
``smooth_l1_loss``; L1 is the smooth-L1 kernel with ``beta = 0``, which is ``|a - b|`` in one
pass) into a per-thread scratch buffer (:func:`_scratch`, at most 4 MiB in float32, reused
from call to call: no allocation, no page faults, already in cache) and reduced chunk by
chunk with ``Tensor.sum`` (cascade summation, within a few ulps of native). Backward
allocates one buffer, the gradient, written by one aten backward kernel (``*_loss_backward``
into ``empty_like``, skipping their zero fill; L1 by the smooth-L1 backward with the
smallest normal ``beta``, which is ``sign(a - b)`` exactly wherever ``|a - b|`` is 0 or a
normal number); a weight enters as the
kernel's broadcast ``grad_output``, so a (N, 1, H, W) mask is never expanded. Charbonnier's
gradient ``d / sqrt(d^2 + eps^2)`` is built in place in that buffer. Unweighted MSE, Huber
and smooth L1 gradients are bit-identical to native. The target's gradient is the negation,
built only when the target requires grad. Without autograd (``torch.no_grad()`` or no input
requiring grad) the same reduction runs without the Function. A weight that requires grad
(learned) always takes the native path. The backward is not itself differentiable
(:func:`~torch.autograd.function.once_differentiable`): double backward (gradient penalties,
``create_graph=True``) needs ``impl='native'``.

``impl`` policy (see :func:`choose_impl`):

- ``'native'``: :mod:`torch.nn.functional` (bit-identical to :class:`torch.nn.L1Loss` etc.).
- ``'fused'``: the Functions below, for ``reduction='mean' | 'sum'``; ``'none'`` has nothing
  to fuse and uses the native path.
- ``'auto'``: native for ``'none'``, other dtypes than float32/float64, non-contiguous
  inputs, non-CPU devices (the design targets CPU allocation costs; GPUs have a caching
  allocator, and the fused path is unmeasured there) and small inputs; fused for L1,
  Charbonnier and every masked/weighted loss from :data:`FUSED_MIN_NUMEL` elements, for
  unweighted Huber/smooth L1 (whose native backward is already one kernel) from
  :data:`LIGHT_FUSED_FROM` elements, for unweighted MSE from :data:`MSE_FUSED_FROM`.
- ``'compiled'``: :func:`torch.compile` of the eager formula (unweighted; weighted calls use
  the fused path), falling back (with one warning) to ``'fused'`` when no compiler works.
  Never picked by ``'auto'``: its first call compiles for ~11 s on the 2-core test machine (~3 s
  with Inductor's disk cache warm). About as fast as the fused path, except for Charbonnier
  (1.35-2.6x faster: the compiler fuses its sqrt and division into one loop).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .._reduction import masked_mean_denominator, weight_denominator

__all__ = ["Impl", "PixelKind", "IMPLS", "FUSED_MIN_NUMEL", "choose_impl", "fused_loss", "compiled_loss"]

Impl = Literal["auto", "native", "fused", "compiled"]
PixelKind = Literal["l1", "mse", "huber", "smooth_l1", "charbonnier"]
IMPLS = ("auto", "native", "fused", "compiled")

#: Below this many elements ``impl='auto'`` uses the native path: the Function's fixed cost
#: (~50 us a call) is then a visible fraction of the loss. Measured fused/native fwd+bwd for
#: L1 1.28 at 24k elements, 1.07 at 98k, 0.98 at 135k, 0.85 at 197k, 0.76 at 295k; Charbonnier
#: 1.19 / 1.11 / 1.01 / 0.89 at 98k / 135k / 197k / 295k; masked L2 better native at 197k, 1.8x
#: better fused at 393k.
FUSED_MIN_NUMEL = 1 << 18
#: Unweighted Huber/smooth L1 go fused under ``'auto'`` only from this many elements (8 MiB of
#: float32), unweighted MSE only from :data:`MSE_FUSED_FROM`. Their native backward is one
#: kernel already, so the fused path saves only the forward's temporary, and the Python
#: Function's fixed cost (~50 us) eats that on small inputs: fused/native fwd+bwd measured
#: 1.03-1.39 at 16x3x128x128, 0.71-1.02 at 8x3x256x256; at 16x3x256x256 bimodal from one
#: process to the next (glibc sometimes reuses native's temporaries), over 13 runs Huber
#: 0.68-1.44 (median 0.96), smooth L1 0.45-1.13 (0.88), MSE 0.33-1.25 (1.10: MSE's native
#: forward is the cheapest, one fused kernel and a sum); ~0.6 at 4x3x1024x1024 for all three.
LIGHT_FUSED_FROM = 1 << 21
#: Unweighted MSE goes fused under ``'auto'`` from this many elements (32 MiB of float32).
MSE_FUSED_FROM = 1 << 23

_FUSED_DTYPES = (torch.float32, torch.float64)


def choose_impl(
    impl: str,
    reduction: str,
    generated: Tensor,
    target: Tensor,
    kind: str = "l1",
    weighted: bool = False,
    weight_requires_grad: bool = False,
) -> str:
    """Resolve ``impl`` to ``'native' | 'fused' | 'compiled'`` for one call.

    ``'auto'``: L1 and Charbonnier (whose native forms allocate several image-sized
    temporaries) and every weighted loss go fused from :data:`FUSED_MIN_NUMEL` elements;
    unweighted Huber/smooth L1, whose native backward is already one kernel, only from
    :data:`LIGHT_FUSED_FROM` elements and unweighted MSE from :data:`MSE_FUSED_FROM`, where
    skipping the forward's temporary pays.
    """
    if reduction == "none" or impl == "native" or weight_requires_grad:
        return "native"  # the Functions give no gradient to a learned weight
    if impl == "auto":
        # Cheapest test first: most small calls end here.
        if weighted or kind not in _LIGHT:
            limit = FUSED_MIN_NUMEL
        else:
            limit = MSE_FUSED_FROM if kind == "mse" else LIGHT_FUSED_FROM
        if generated.numel() < limit:
            return "native"
        if generated.device.type != "cpu":
            return "native"  # designed against CPU page faults; not measured on accelerators
    if generated.dtype not in _FUSED_DTYPES:
        return "native"
    if not (generated.is_contiguous() and target.is_contiguous()):
        return "native"
    return "fused" if impl == "auto" else impl


_LIGHT = frozenset(("mse", "huber", "smooth_l1"))

#: Elements per chunk of the forward reductions: small enough that a chunk's temporary stays
#: in cache, large enough that the Python loop costs little (MSE forward at 16x3x256x256:
#: chunks of 128k 1.04 ms, 256k 0.77, 512k 0.62, 1M 0.64, 2M 0.73).
CHUNK = 1 << 19
#: Inputs up to this many elements are reduced in one piece (one scratch buffer of at most
#: 4 MiB in float32): one call of each kernel beats several.
CHUNK_FROM = 1 << 20

_SCRATCH = threading.local()


def _scratch(numel: int, like: Tensor) -> Tensor:
    """A reusable 1-D buffer of ``numel`` elements (this thread's, ``like``'s dtype and device).

    The forward reductions write their element-wise loss here instead of into a fresh
    allocation: no page faults, no allocator calls, memory that is already in cache. One
    buffer per thread, at most ``max(CHUNK, CHUNK_FROM)`` elements (4 MiB in float32), kept
    for the life of the thread.
    """
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.numel() < numel or buf.dtype != like.dtype or buf.device != like.device:
        # A normal tensor even under torch.inference_mode(): an inference tensor could not be
        # written to by a later call outside it.
        with torch.inference_mode(False):
            buf = torch.empty(numel, dtype=like.dtype, device=like.device)
        _SCRATCH.buf = buf
    return buf[:numel]


def _elementwise_into(kind: str, x: Tensor, y: Tensor, param: float, out: Tensor) -> Tensor:
    """The element-wise loss of ``x`` and ``y`` written into ``out`` (same shape), by aten's
    loss kernels (the same arithmetic as the native losses)."""
    aten = torch.ops.aten
    if kind == "mse":
        return aten.mse_loss.out(x, y, 0, out=out)
    if kind == "huber":
        return aten.huber_loss.out(x, y, 0, param, out=out)
    if kind == "smooth_l1":
        return aten.smooth_l1_loss.out(x, y, 0, param, out=out)
    if kind == "l1":
        # aten's smooth-L1 kernel with beta = 0 is |x - y| exactly, in one pass (sub + abs
        # would be two); torch.nn.functional routes beta = 0 to l1_loss before reaching it.
        return aten.smooth_l1_loss.out(x, y, 0, 0.0, out=out)
    # Charbonnier: sqrt((x - y)^2 + eps^2), the eager formula's arithmetic; the square by the
    # MSE kernel (sub and square in one pass).
    return aten.mse_loss.out(x, y, 0, out=out).add_(param * param).sqrt_()


def _chunks(n: int) -> list[slice]:
    """Slices of a flat tensor of ``n`` elements: one piece up to :data:`CHUNK_FROM` elements,
    else :data:`CHUNK`-sized chunks."""
    k = n if n <= CHUNK_FROM else CHUNK
    return [slice(i, min(i + k, n)) for i in range(0, n, k)]


def _chunked_sum(
    kind: str, a: Tensor, b: Tensor, param: float, w: Tensor | None, into: Tensor | None = None
) -> Tensor:
    """``sum(w * loss(a, b))`` (``w`` optional), reduced chunk by chunk through the scratch buffer.

    Each chunk is reduced with ``Tensor.sum`` (cascade summation), so the result matches the
    native loss to a few ulps; a BLAS ``dot`` would drift by ~1e-5 relative at 3M elements.
    ``w`` is (N, 1, H, W) or (N, C, H, W) for images ``a``/``b`` (N, C, H, W); a (N, 1, H, W)
    weight is broadcast over the channels inside the multiply, never expanded. Weighted
    chunks are whole images where they fit (contiguous views: measured 1.7x faster than
    slicing every image's rows), else row slices of one image. ``into`` (unweighted only, the
    shape of ``a``) receives the element-wise loss instead of the scratch buffer.
    """
    n = a.numel()
    if w is None:
        fa, fb = a.view(-1), b.view(-1)
        chunks = _chunks(n)
        dst = into.view(-1) if into is not None else _scratch(chunks[0].stop, a)
        parts = [
            _elementwise_into(kind, fa[c], fb[c], param, dst[c] if into is not None else dst[: c.stop - c.start]).sum()
            for c in chunks
        ]
        return parts[0] if len(parts) == 1 else torch.stack(parts).sum()
    if n <= CHUNK_FROM:  # one piece
        return _elementwise_into(kind, a, b, param, _scratch(n, a).view(a.shape)).mul_(w).sum()
    parts = []
    n_img = a.shape[0]
    per_img = n // n_img
    if per_img <= CHUNK_FROM:
        step = CHUNK_FROM // per_img
        buf = _scratch(step * per_img, a)
        for i in range(0, n_img, step):
            j = min(n_img, i + step)
            e = _elementwise_into(kind, a[i:j], b[i:j], param, buf[: (j - i) * per_img].view((j - i,) + a.shape[1:]))
            parts.append(e.mul_(w[i:j]).sum())
        return torch.stack(parts).sum()
    c = a.shape[1]
    a3, b3, w3 = a.view(n_img, c, -1), b.view(n_img, c, -1), w.view(n_img, w.shape[1], -1)
    hw = a3.shape[2]
    step = max(1, CHUNK // c)
    buf = _scratch(c * step, a)
    for i in range(n_img):
        for s in range(0, hw, step):
            m = min(step, hw - s)
            e = _elementwise_into(kind, a3[i, :, s : s + m], b3[i, :, s : s + m], param, buf[: c * m].view(c, m))
            parts.append(e.mul_(w3[i, :, s : s + m]).sum())
    return torch.stack(parts).sum()


def _tiny(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).tiny)


def _gradient(kind: str, gout: Tensor, a: Tensor, b: Tensor, param: float, red: int) -> Tensor:
    """``d loss / d a`` in one fresh buffer, scaled by ``gout`` (0-dim, or a (N, 1|C, H, W) weight
    times the scale, broadcast by the kernel).

    One aten backward kernel each: MSE, Huber and smooth L1 their own; L1 the smooth-L1 kernel
    with ``beta`` = the dtype's smallest normal number, which gives ``sign(d)`` exactly for
    every ``|d| >= beta`` and 0 at ``d = 0`` (only nonzero differences below 1.2e-38 in
    float32 would get a fraction of the sign). Writing into ``empty_like`` skips the zero fill
    of the ``*_loss_backward`` functions. Charbonnier: ``d / sqrt(d^2 + eps^2)`` built in place,
    the denominator chunk by chunk in the scratch buffer.
    """
    aten = torch.ops.aten
    out = torch.empty_like(a)
    if kind == "mse":
        return aten.mse_loss_backward.grad_input(gout, a, b, red, grad_input=out)
    if kind == "huber":
        return aten.huber_loss_backward.out(gout, a, b, red, param, grad_input=out)
    if kind == "smooth_l1":
        return aten.smooth_l1_loss_backward.grad_input(gout, a, b, red, param, grad_input=out)
    if kind == "l1":
        return aten.smooth_l1_loss_backward.grad_input(gout, a, b, red, _tiny(a.dtype), grad_input=out)
    torch.sub(a, b, out=out)
    flat = out.view(-1)
    n = flat.numel()
    chunks = _chunks(n)
    buf = _scratch(chunks[0].stop, a)
    eps2 = torch.tensor(param * param, dtype=a.dtype)
    if red == 1:
        gout = gout / n
    scalar = gout.ndim == 0  # fold the scale into each chunk while it is in cache
    for c in chunks:
        dc = flat[c]
        den = torch.addcmul(eps2, dc, dc, out=buf[: dc.numel()]).sqrt_()  # eps^2 + d*d
        dc.div_(den)
        if scalar:
            dc.mul_(gout)
    return out if scalar else out.mul_(gout)


#: Unweighted Charbonnier inputs up to this many elements keep the forward's roots
#: ``sqrt(d^2 + eps^2)`` (one image-sized buffer) for the backward, which then needs no second
#: square root: fwd+bwd measured 22% faster at 32x3x64x64 and 12% at 16x3x256x256, but 1.46x
#: slower at 4x3x1024x1024, where the extra 48 MiB buffer is paid for in page faults.
CHARBONNIER_KEEP_ROOTS_UPTO = 1 << 23


def _charbonnier_gradient_from_roots(gout: Tensor, a: Tensor, b: Tensor, roots: Tensor, red: int) -> Tensor:
    """``gout * (a - b) / roots`` in one fresh buffer (``gout`` 0-dim), chunk by chunk."""
    out = torch.empty_like(a)
    fa, fb, fr, fo = a.view(-1), b.view(-1), roots.view(-1), out.view(-1)
    n = fa.numel()
    if red == 1:
        gout = gout / n
    for c in _chunks(n):
        torch.sub(fa[c], fb[c], out=fo[c]).div_(fr[c]).mul_(gout)
    return out


class _Fused(torch.autograd.Function):
    """Mean/sum of a pixel loss, optionally weighted: scratch-buffer forward, one-kernel backward.

    Forward allocates no image-sized buffer (the element-wise loss goes through the scratch
    buffer, chunk by chunk), except unweighted Charbonnier up to
    :data:`CHARBONNIER_KEEP_ROOTS_UPTO` elements, which keeps its roots for the backward;
    backward allocates one, the gradient, written by one aten kernel.
    The target's gradient is its negation, built only when the target requires grad.
    Unweighted means pass ``reduction='mean'`` to the kernel, so MSE, Huber and smooth L1
    gradients are bit-identical to native.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, w: Tensor | None, kind: str, param: float, scale: float, red: int) -> Tensor:
        ctx.save_for_backward(a, b, w)
        ctx.kind, ctx.param, ctx.scale, ctx.red = kind, param, scale, red
        ctx.roots = None
        if kind == "charbonnier" and w is None and a.numel() <= CHARBONNIER_KEEP_ROOTS_UPTO:
            ctx.roots = torch.empty_like(a)
            return _chunked_sum(kind, a, b, param, None, into=ctx.roots) * scale
        return _chunked_sum(kind, a, b, param, w) * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b, w = ctx.saved_tensors
        if ctx.red == 1:  # unweighted mean: the kernel divides by numel itself
            gout = g
        else:
            gout = g * ctx.scale if w is None else w * (g * ctx.scale)
        if ctx.roots is not None:
            grad = _charbonnier_gradient_from_roots(gout, a, b, ctx.roots, ctx.red)
        else:
            grad = _gradient(ctx.kind, gout, a, b, ctx.param, ctx.red)
        target_grad = torch.neg(grad) if ctx.needs_input_grad[1] else None
        return (grad if ctx.needs_input_grad[0] else None), target_grad, None, None, None, None, None


def _scale(reduction: str, numel: int, w: Tensor | None, channels: int, empty: str, name: str) -> float:
    """Factor turning the (weighted) sum into the requested reduction."""
    if reduction == "sum":
        return 1.0
    if w is None:
        return 1.0 / numel
    denom = float(weight_denominator(w, channels))
    if denom == 0.0:
        masked_mean_denominator(w, channels, empty, name)  # raises the empty-mask error when asked to
        return 0.0 if empty == "zero" else float("nan")
    return 1.0 / denom


def fused_loss(
    kind: str,
    generated: Tensor,
    target: Tensor,
    param: float,
    reduction: str,
    weight: Tensor | None,
    empty: str,
    weight_name: str = "mask",
) -> Tensor:
    """Fused mean/sum of a pixel loss on validated inputs (``weight`` already checked)."""
    channels = generated.shape[1] if generated.ndim > 1 else 1
    if weight is not None:
        weight = weight.contiguous()
    scale = _scale(reduction, generated.numel(), weight, channels, empty, weight_name)
    # Without autograd there is nothing to save: reduce directly, skipping the Function.
    if not (torch.is_grad_enabled() and (generated.requires_grad or target.requires_grad)):
        return _chunked_sum(kind, generated, target, param, weight) * scale
    red = 1 if weight is None and reduction == "mean" else 2
    return _Fused.apply(generated, target, weight, kind, param, scale, red)


# --------------------------------------------------------------------------- compiled path

_COMPILED: dict[str, Any] = {}
_COMPILE_FAILED = False
_COMPILE_WARNED = False


# One function (so one code object) per loss: TorchDynamo caches compiled graphs per code
# object, with a limit of 8 variants each; one shared function guarded on the loss kind hit
# that limit after a few kinds and sizes and then silently ran eager (measured: 6x native).


def _sum_l1(a: Tensor, b: Tensor, p: float) -> Tensor:
    return (a - b).abs().sum()


def _sum_mse(a: Tensor, b: Tensor, p: float) -> Tensor:
    d = a - b
    return (d * d).sum()


def _sum_huber(a: Tensor, b: Tensor, p: float) -> Tensor:
    d = a - b
    c = d.clamp(-p, p)
    return (c * (d - 0.5 * c)).sum()


def _sum_smooth_l1(a: Tensor, b: Tensor, p: float) -> Tensor:
    d = a - b
    c = d.clamp(-p, p)
    return (c * (d - 0.5 * c)).sum() / p


def _sum_charbonnier(a: Tensor, b: Tensor, p: float) -> Tensor:
    d = a - b
    return torch.sqrt(d * d + p * p).sum()


_EAGER_SUMS = {
    "l1": _sum_l1,
    "mse": _sum_mse,
    "huber": _sum_huber,
    "smooth_l1": _sum_smooth_l1,
    "charbonnier": _sum_charbonnier,
}


def compiled_loss(
    kind: str,
    generated: Tensor,
    target: Tensor,
    param: float,
    reduction: str,
    weight: Tensor | None,
    empty: str,
    weight_name: str = "mask",
) -> Tensor:
    """:func:`torch.compile` of the eager formula; falls back to :func:`fused_loss` with one warning."""
    global _COMPILE_FAILED, _COMPILE_WARNED
    if weight is None and not _COMPILE_FAILED:
        try:
            fn = _COMPILED.get(kind)
            if fn is None:
                # The scale is applied outside, and dynamic=None lets a second input size
                # compile one size-generic graph instead of one graph per size.
                fn = torch.compile(_EAGER_SUMS[kind], dynamic=None)
                _COMPILED[kind] = fn
            scale = _scale(reduction, generated.numel(), None, 1, empty, weight_name)
            return fn(generated, target, float(param)) * scale
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "use the fused path"
            _COMPILE_FAILED = True
            if not _COMPILE_WARNED:
                _COMPILE_WARNED = True
                warnings.warn(
                    f"impl='compiled' could not compile the loss ({type(exc).__name__}: {exc}); "
                    "using impl='fused' from now on",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return fused_loss(kind, generated, target, param, reduction, weight, empty, weight_name)
