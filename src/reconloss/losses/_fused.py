"""Fast paths for the pixel losses: few passes over memory, few full-size temporaries.

The native :mod:`torch.nn.functional` losses build their result out of generic element-wise
kernels: ``l1_loss`` allocates ``a - b``, then ``|a - b|``, then in backward ``sign(a - b)``,
the scaled gradient and the gradient of the target. On a CPU each fresh image-sized
temporary (48 MiB at 4x3x1024x1024 in float32) comes from ``mmap`` and is paid for in page
faults, so the number of allocations, not the arithmetic, sets the time.

The :class:`torch.autograd.Function` subclasses below allocate no image-sized buffer in
forward: they reduce the inputs chunk by chunk (cache-sized temporaries, one ``Tensor.sum``
per chunk, so the value stays within a few ulps of native). Backward allocates one buffer,
``a - b``, and turns it into the gradient *in place* (``sign_().mul_()`` for L1, chunked
``mul_(rsqrt(d^2 + eps^2))`` for Charbonnier); unweighted MSE/Huber/smooth L1 reuse the
native one-kernel backward (``aten::mse_loss_backward``...), bit-identical gradients. The
target's gradient is the negation, built only when the target requires grad. Inputs up to
:data:`CHUNK_FROM` elements are reduced in one piece (small temporaries come from the heap).
Without autograd (``torch.no_grad()`` or no input requiring grad) the same reductions run
without the Function. A weight that requires grad (learned) always takes the native path. Weights of shape (N, 1, H, W) are broadcast inside in-place
multiplies, never expanded. The backward is not itself differentiable
(:func:`~torch.autograd.function.once_differentiable`): double backward (gradient penalties,
``create_graph=True``) needs ``impl='native'``.

``impl`` policy (see :func:`choose_impl`):

- ``'native'``: :mod:`torch.nn.functional` (bit-identical to :class:`torch.nn.L1Loss` etc.).
- ``'fused'``: the Functions below, for ``reduction='mean' | 'sum'``; ``'none'`` has nothing
  to fuse and uses the native path.
- ``'auto'``: native for ``'none'``, other dtypes than float32/float64, non-contiguous
  inputs, non-CPU devices (the design targets CPU allocation costs; GPUs have a caching
  allocator, and the fused path is unmeasured there) and small inputs; fused for L1,
  Charbonnier and every masked/weighted loss from :data:`FUSED_MIN_NUMEL` elements, for unweighted MSE/Huber/smooth L1 (whose native backward
  is already one kernel) from :data:`LIGHT_FUSED_FROM` elements.
- ``'compiled'``: :func:`torch.compile` of the eager formula (unweighted; weighted calls use
  the fused path), falling back (with one warning) to ``'fused'`` when no compiler works.
  Never picked by ``'auto'``: its first call compiled for ~20 s on the 2-core test machine.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .._reduction import masked_mean_denominator

__all__ = ["Impl", "PixelKind", "IMPLS", "FUSED_MIN_NUMEL", "choose_impl", "fused_loss", "compiled_loss"]

Impl = Literal["auto", "native", "fused", "compiled"]
PixelKind = Literal["l1", "mse", "huber", "smooth_l1", "charbonnier"]
IMPLS = ("auto", "native", "fused", "compiled")

#: Below this many elements ``impl='auto'`` uses the native path (the Function's fixed cost,
#: a few microseconds, is then a visible fraction of the loss).
FUSED_MIN_NUMEL = 1 << 14
#: Unweighted MSE/Huber/smooth L1 go fused under ``'auto'`` only above this many elements
#: (32 MiB of float32: glibc serves larger temporaries with fresh mmap pages, whose faults
#: the fused forward avoids; below it native reuses its heap memory and is faster: measured
#: 1.24-1.50x native fwd+bwd for the fused path at 16x3x256x256, 0.46-0.72x at 4x3x1024x1024).
LIGHT_FUSED_FROM = 1 << 23

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
    unweighted MSE/Huber/smooth L1, whose native backward is already one kernel, only above
    :data:`LIGHT_FUSED_FROM` elements, where skipping the forward's temporary pays.
    """
    if reduction == "none" or impl == "native" or weight_requires_grad:
        return "native"  # the Functions give no gradient to a learned weight
    if impl == "auto":
        # Cheapest test first: most small calls end here.
        if generated.numel() < (LIGHT_FUSED_FROM + 1 if kind in _LIGHT and not weighted else FUSED_MIN_NUMEL):
            return "native"
        if generated.device.type != "cpu":
            return "native"  # designed against CPU page faults; not measured on accelerators
    if generated.dtype not in _FUSED_DTYPES:
        return "native"
    if not (generated.is_contiguous() and target.is_contiguous()):
        return "native"
    return "fused" if impl == "auto" else impl


_LIGHT = frozenset(("mse", "huber", "smooth_l1"))


def _diff(a: Tensor, b: Tensor) -> Tensor:
    """``a - b`` in one fresh buffer (the only image-sized allocation of a fused loss)."""
    return torch.sub(a, b)


#: Elements per chunk of the forward reductions: small enough that a chunk's temporaries come
#: from the heap and stay in cache, large enough that the Python loop costs little.
CHUNK = 1 << 18
#: Inputs up to this many elements are reduced in one piece: their temporary is small enough
#: to come from the heap without page faults, and one call beats several.
CHUNK_FROM = 1 << 20


def _chunked_sum(fn: Any, a: Tensor, b: Tensor, w: Tensor | None) -> Tensor:
    """``sum`` of ``fn(a_chunk, b_chunk, w_chunk)`` (each a 0-dim sum) over cache-sized chunks.

    Each chunk is reduced with ``Tensor.sum`` (cascade summation), so the result matches the
    native loss to a few ulps; a BLAS ``dot`` would drift by ~1e-4 relative at 12M elements.
    """
    if w is None:
        fa, fb = a.view(-1), b.view(-1)
        n = fa.numel()
        if n <= max(CHUNK, CHUNK_FROM):
            return fn(fa, fb, None)
        parts = [fn(fa[i : i + CHUNK], fb[i : i + CHUNK], None) for i in range(0, n, CHUNK)]
    else:
        n_img, c = a.shape[:2]
        a3, b3, w3 = a.view(n_img, c, -1), b.view(n_img, c, -1), w.view(n_img, w.shape[1], -1)
        hw = a3.shape[2]
        k = max(1, CHUNK // (n_img * c))
        if k >= hw or a.numel() <= CHUNK_FROM:
            return fn(a3, b3, w3)
        parts = [fn(a3[..., i : i + k], b3[..., i : i + k], w3[..., i : i + k]) for i in range(0, hw, k)]
    return torch.stack(parts).sum()


def _l1_chunk(x: Tensor, y: Tensor, w: Tensor | None) -> Tensor:
    e = torch.sub(x, y).abs_()
    return (e if w is None else e.mul_(w)).sum()


def _mse_chunk(x: Tensor, y: Tensor, w: Tensor | None) -> Tensor:
    e = torch.ops.aten.mse_loss(x, y, 0)  # (x - y)^2 in one kernel (sub and square fused)
    return (e if w is None else e.mul_(w)).sum()


def _scale_by(grad: Tensor, w: Tensor | None, factor: Tensor) -> None:
    """``grad *= w * factor`` in place, in one image-sized pass when ``w`` is (N, 1, H, W)."""
    if w is None:
        grad.mul_(factor)
    elif w.shape[1] == 1 and grad.shape[1] > 1:
        grad.mul_(w * factor)  # the small (N, 1, H, W) product, broadcast over channels
    else:
        grad.mul_(w).mul_(factor)


def _charbonnier_chunk(eps2: float) -> Any:
    def chunk(x: Tensor, y: Tensor, _w: Tensor | None) -> Tensor:
        return torch.sub(x, y).square_().add_(eps2).sqrt_().sum()

    return chunk


def _neg_if(grad: Tensor, needed: bool) -> Tensor | None:
    return torch.neg(grad) if needed else None


class _L1(torch.autograd.Function):
    """Mean/sum absolute error: chunked forward, one buffer in backward.

    Up to :data:`CHUNK_FROM` elements the forward keeps its ``a - b`` buffer (at most 4 MiB
    in float32) for the backward, which then turns it into the gradient in place: one pass
    fewer than recomputing it. The buffer is handed over once; a second backward
    (``retain_graph=True``) recomputes it from the saved inputs.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, w: Tensor | None, scale: float) -> Tensor:
        ctx.save_for_backward(a, b, w)
        ctx.scale = scale
        ctx.diff = None
        if a.numel() <= CHUNK_FROM:
            d = _diff(a, b)
            e = torch.abs(d)
            if w is not None:
                e.view(a.shape[0], a.shape[1], -1).mul_(w.view(w.shape[0], w.shape[1], -1))
            ctx.diff = d
            return e.sum() * scale
        return _chunked_sum(_l1_chunk, a, b, w) * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b, w = ctx.saved_tensors
        d, ctx.diff = ctx.diff, None
        grad = (_diff(a, b) if d is None else d).sign_()
        _scale_by(grad, w, g * ctx.scale)
        return (grad if ctx.needs_input_grad[0] else None), _neg_if(grad, ctx.needs_input_grad[1]), None, None


class _MSE(torch.autograd.Function):
    """Weighted mean/sum squared error: chunked forward, one buffer in backward."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, w: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(a, b, w)
        ctx.scale = scale
        return _chunked_sum(_mse_chunk, a, b, w) * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b, w = ctx.saved_tensors
        # One fused pass: aten's MSE backward broadcasts its grad_output, so a (N, 1, H, W)
        # weight times the scale gives 2 * (a - b) * w * g * scale without expanding w.
        grad = torch.ops.aten.mse_loss_backward(w * (g * ctx.scale), a, b, 0)
        return (grad if ctx.needs_input_grad[0] else None), _neg_if(grad, ctx.needs_input_grad[1]), None, None


# aten ops directly: the torch.nn.functional wrappers add a broadcast check per chunk.
_NATIVE_SUM = {
    "mse": lambda x, y, p: torch.ops.aten.mse_loss(x, y, 2),
    "huber": lambda x, y, p: torch.ops.aten.huber_loss(x, y, 2, p),
    "smooth_l1": lambda x, y, p: torch.ops.aten.smooth_l1_loss(x, y, 2, p),
}
_REDUCTION_ENUM = {"mean": 1, "sum": 2}


class _Chunked(torch.autograd.Function):
    """Unweighted MSE / Huber / smooth L1: the native kernels, with a chunked forward.

    Their native backward is already one fused kernel (``aten::*_loss_backward``), reused
    here (gradients bit-identical to native); what the native forward wastes is the
    image-sized element-wise temporary, which the chunked forward never allocates.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, kind: str, param: float, reduction: str) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.kind, ctx.param, ctx.reduction = kind, param, reduction
        fn = _NATIVE_SUM[kind]
        total = _chunked_sum(lambda x, y, _w: fn(x, y, param), a, b, None)
        return total / a.numel() if reduction == "mean" else total

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        red = _REDUCTION_ENUM[ctx.reduction]
        aten = torch.ops.aten
        if ctx.kind == "mse":
            grad = aten.mse_loss_backward(g, a, b, red)
        elif ctx.kind == "huber":
            grad = aten.huber_loss_backward(g, a, b, red, ctx.param)
        else:
            grad = aten.smooth_l1_loss_backward(g, a, b, red, ctx.param)
        return (grad if ctx.needs_input_grad[0] else None), _neg_if(grad, ctx.needs_input_grad[1]), None, None, None


class _Charbonnier(torch.autograd.Function):
    """Mean/sum of ``sqrt(d^2 + eps^2)``; gradient ``d / sqrt(d^2 + eps^2)`` built in place."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, eps: float, scale: float) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.eps2 = eps * eps
        ctx.scale = scale
        return _chunked_sum(_charbonnier_chunk(ctx.eps2), a, b, None) * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        d = _diff(a, b)
        flat = d.view(-1)
        for i in range(0, flat.numel(), CHUNK):
            dc = flat[i : i + CHUNK]
            dc.mul_(torch.mul(dc, dc).add_(ctx.eps2).rsqrt_())
        grad = d.mul_(g * ctx.scale)
        return (grad if ctx.needs_input_grad[0] else None), _neg_if(grad, ctx.needs_input_grad[1]), None, None


def _scale(
    reduction: str, numel: int, w: Tensor | None, channels: int, empty: str, name: str, dtype: torch.dtype
) -> float:
    """Factor turning the (weighted) sum into the requested reduction."""
    if reduction == "sum":
        return 1.0
    if w is None:
        return 1.0 / numel
    denom = w.sum().item()
    if w.shape[1] == 1:
        denom *= channels
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
    """Fused mean/sum of a pixel loss on validated inputs (``weight`` already checked).

    Weighted Huber, smooth L1 and Charbonnier have no fused kernel: they go through the
    eager formula, which gives the same numbers.
    """
    if kind == "smooth_l1" and param == 0.0:
        kind = "l1"  # as torch: beta = 0 is exactly L1
    # Without autograd there is nothing to save: reduce directly, skipping the Function.
    graph = torch.is_grad_enabled() and (generated.requires_grad or target.requires_grad)
    if weight is None and kind in _NATIVE_SUM:
        if not graph:
            total = _chunked_sum(lambda x, y, _w: _NATIVE_SUM[kind](x, y, param), generated, target, None)
            return total / generated.numel() if reduction == "mean" else total
        return _Chunked.apply(generated, target, kind, param, reduction)
    channels = generated.shape[1] if generated.ndim > 1 else 1
    if weight is not None:
        weight = weight.contiguous()
    scale = _scale(reduction, generated.numel(), weight, channels, empty, weight_name, generated.dtype)
    if kind in ("l1", "mse") and not graph:
        return _chunked_sum(_l1_chunk if kind == "l1" else _mse_chunk, generated, target, weight) * scale
    if kind == "l1":
        return _L1.apply(generated, target, weight, scale)
    if kind == "mse" and weight is not None:
        return _MSE.apply(generated, target, weight, scale)
    if weight is None and kind == "charbonnier":
        if not graph:
            return _chunked_sum(_charbonnier_chunk(param * param), generated, target, None) * scale
        return _Charbonnier.apply(generated, target, param, scale)
    from .pixel import _elementwise  # weighted robust losses: eager maths
    from .._reduction import reduce_elementwise

    return reduce_elementwise(_elementwise(kind, generated, target, param), reduction, weight, empty, weight_name)


# --------------------------------------------------------------------------- compiled path

_COMPILED: dict[str, Any] = {}
_COMPILE_FAILED = False
_COMPILE_WARNED = False


def _eager_sum(kind: str, a: Tensor, b: Tensor, param: float, scale: float) -> Tensor:
    d = a - b
    if kind == "l1":
        e = d.abs()
    elif kind == "mse":
        e = d * d
    elif kind == "huber":
        c = d.clamp(-param, param)
        e = c * (d - 0.5 * c)
    elif kind == "smooth_l1":
        if param == 0.0:
            e = d.abs()
        else:
            c = d.clamp(-param, param)
            e = c * (d - 0.5 * c) / param
    else:
        e = torch.sqrt(d * d + param * param)
    return e.sum() * scale


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
                # One compiled function per loss kind; the scale is applied outside so a new
                # batch size does not trigger a recompilation.
                def eager(a: Tensor, b: Tensor, p: float, _kind: str = kind) -> Tensor:
                    return _eager_sum(_kind, a, b, p, 1.0)

                fn = torch.compile(eager, dynamic=False)
                _COMPILED[kind] = fn
            scale = _scale(reduction, generated.numel(), None, 1, empty, weight_name, generated.dtype)
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
