"""Pixel-wise reconstruction losses: L1, L2 (MSE), Huber, smooth L1 and Charbonnier.

Each loss is a function that holds the maths and a thin :class:`torch.nn.Module` that stores
the settings and calls it. All share one signature::

    fn(generated, target, *, reduction="mean", mask=None, weight=None, empty="raise",
       impl="auto", <param>)

Inputs:
    - without ``mask``/``weight``: any shape, the same for both tensors (no broadcasting);
    - with ``mask`` or ``weight``: images (N, C, H, W) and a mask/weight of shape (N, 1, H, W)
      (shared by the channels) or (N, C, H, W). Bool masks are accepted. A mask and a weight
      are the same thing (a non-negative per-element weight); pass one, not both.

Reduction (see :mod:`reconloss._reduction`):
    - ``'none'``: the element-wise loss, shape of the input (times the weight when given,
      shape (N, C, H, W));
    - ``'sum'``: ``sum(w * e)``;
    - ``'mean'``: ``sum(w * e) / sum(w expanded to the C channels)``: the mean over the selected
      elements, so a (N, 1, H, W) mask of ones on k pixels divides by ``k * C``. An all-zero
      mask raises :class:`~reconloss.MaskError` unless ``empty='zero'`` (returns 0) or
      ``empty='nan'`` (returns NaN).

``impl``: ``'native'`` calls :mod:`torch.nn.functional` (bit-identical to :class:`torch.nn.L1Loss`,
:class:`torch.nn.MSELoss`, :class:`torch.nn.HuberLoss`, :class:`torch.nn.SmoothL1Loss`);
``'fused'`` uses the one-buffer autograd Functions of :mod:`reconloss.losses._fused` (values
within 1e-6 relative of native; no double backward); ``'auto'`` (default) picks per call
(see :func:`reconloss.losses._fused.choose_impl`); ``'compiled'`` uses :func:`torch.compile`
and falls back to fused.

Validation: structural checks (type, shape, dtype, device) always run first. With value
checks on, NaN/Inf raise :class:`~reconloss.NonFiniteError` naming the tensor and the counts;
for ``'mean'``/``'sum'`` this check reads the loss value (a NaN/Inf input always makes it
non-finite, even under a zero mask) and scans the inputs only when it is not finite, which
saves two passes over the images. Float weights are checked for NaN/Inf and negative entries;
bool masks need no value scan.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._checks import (
    REDUCTIONS,
    check_choice,
    check_finite,
    check_mask_or_weight,
    check_pair,
    check_param,
    check_reduction,
    value_checks_enabled,
)
from .._reduction import EMPTY_MASK_CHOICES, EmptyMask, Reduction, reduce_elementwise
from . import _fused
from ._fused import IMPLS, Impl

__all__ = [
    "l1_loss",
    "mse_loss",
    "l2_loss",
    "huber_loss",
    "smooth_l1_loss",
    "charbonnier_loss",
    "L1Loss",
    "MSELoss",
    "L2Loss",
    "HuberLoss",
    "SmoothL1Loss",
    "CharbonnierLoss",
]


# The aten loss ops behind torch.nn.functional, called directly: the functional wrappers add a
# size comparison and a ``broadcast_tensors`` call (~3 us, plus two expand nodes in the autograd
# graph) that the shape check below makes redundant. Same kernels, so bit-identical results.
_nn = torch._C._nn
_REDUCTION_ENUM = {"none": 0, "mean": 1, "sum": 2}
_REDUCTION_SET = frozenset(REDUCTIONS)
_EMPTY_SET = frozenset(EMPTY_MASK_CHOICES)
_IMPL_SET = frozenset(IMPLS)


def _native_unweighted(kind: str, generated: Tensor, target: Tensor, param: float, reduction: str) -> Tensor:
    """The torch.nn.functional loss (or the eager Charbonnier formula), bit-identical to it."""
    r = _REDUCTION_ENUM[reduction]
    if kind == "mse":
        return _nn.mse_loss(generated, target, r)
    if kind == "l1":
        return _nn.l1_loss(generated, target, r)
    if kind == "huber":
        return _nn.huber_loss(generated, target, r, param)
    if kind == "smooth_l1":
        return _nn.smooth_l1_loss(generated, target, r, param)
    d = generated - target
    return reduce_elementwise(torch.sqrt(d * d + param * param), reduction)


def _elementwise(kind: str, generated: Tensor, target: Tensor, param: float) -> Tensor:
    """Element-wise loss (reduction 'none') by the eager/native formula."""
    if kind == "charbonnier":
        d = generated - target
        return torch.sqrt(d * d + param * param)
    return _native_unweighted(kind, generated, target, param, "none")


def _pixel_loss(
    kind: str,
    generated: Any,
    target: Any,
    param: float,
    reduction: str,
    mask: Any,
    weight: Any,
    empty: str,
    impl: str,
) -> Tensor:
    """Validate, pick the implementation, compute. Shared by every pixel loss.

    Hot path: a few microseconds of Python on top of the kernels (set membership, one fused
    structural check, one scalar read for the finiteness check); the ``check_*`` helpers run
    in full only when something is wrong, to raise their usual message.
    """
    # ``type(x) is str`` keeps unhashable arguments out of the set lookups.
    if type(reduction) is not str or reduction not in _REDUCTION_SET:
        check_reduction(reduction)
    if type(empty) is not str or empty not in _EMPTY_SET:
        check_choice(empty, "empty", EMPTY_MASK_CHOICES)
    if type(impl) is not str or impl not in _IMPL_SET:
        check_choice(impl, "impl", IMPLS)
    # A NaN/Inf in either input (or an Inf weight) always makes a mean/sum non-finite (0 * NaN
    # is NaN too), so for those reductions the finiteness check reads the loss value (one
    # scalar) instead of extra passes; only a non-finite loss triggers the counting scans.
    if kind == "smooth_l1" and param == 0.0:
        kind = "l1"  # as torch: beta = 0 is exactly L1 (every path below, native or not)
    post_check = reduction != "none" and value_checks_enabled()
    if mask is None and weight is None:
        check_pair(generated, target, finite=not post_check)
        w = None
        w_name = "weight"
    else:
        check_pair(generated, target, ndim=4, finite=not post_check)
        w, w_name = check_mask_or_weight(mask, weight, generated, finite=not post_check)
    chosen = _fused.choose_impl(
        impl, reduction, generated, target, kind, w is not None, w is not None and w.requires_grad
    )
    if chosen == "native":
        if w is None:
            out = _native_unweighted(kind, generated, target, param, reduction)
        else:
            out = reduce_elementwise(_elementwise(kind, generated, target, param), reduction, w, empty, w_name)
    elif chosen == "fused":
        out = _fused.fused_loss(kind, generated, target, param, reduction, w, empty, w_name)
    else:
        out = _fused.compiled_loss(kind, generated, target, param, reduction, w, empty, w_name)
    if post_check and not math.isfinite(out.item()):
        if w is not None:
            check_finite(w, w_name)
        check_finite(generated, "generated")
        check_finite(target, "target")
    return out


def l1_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    empty: EmptyMask = "raise",
    impl: Impl = "auto",
) -> Tensor:
    r"""Mean absolute error (L1), optionally masked or weighted.

    .. math:: \ell(x, y) = \frac{\sum_i w_i \lvert x_i - y_i \rvert}{\sum_i w_i}

    Args:
        generated: prediction, any shape (N, C, H, W when masked); any value range.
        target: reference, the shape, dtype and device of ``generated``.
        reduction: ``'mean' | 'sum' | 'none'``; ``'none'`` returns the element-wise loss with
            the input's shape (times the weight, (N, C, H, W), when one is given).
        mask: 0/1 (or bool) selection, shape (N, 1, H, W) or (N, C, H, W).
        weight: non-negative per-element weight, same shapes as ``mask``; not with ``mask``.
        empty: what an all-zero mask gives under ``'mean'``: ``'raise'`` (MaskError),
            ``'zero'`` or ``'nan'``.
        impl: ``'auto' | 'native' | 'fused' | 'compiled'`` (see the module docstring).

    Returns:
        A scalar for ``'mean'``/``'sum'``; a tensor shaped like the input for ``'none'``.

    Raises:
        InputTypeError, ShapeError, DTypeError, DeviceError, NonFiniteError, MaskError,
        ParameterError: on invalid inputs (see :mod:`reconloss._checks`).

    Reference:
        Zhao et al., "Loss Functions for Image Restoration with Neural Networks", IEEE TCI 2017.

    Example:
        >>> x = torch.zeros(2, 3, 4, 4); y = torch.full((2, 3, 4, 4), 0.5)
        >>> float(l1_loss(x, y))
        0.5
    """
    return _pixel_loss("l1", generated, target, 0.0, reduction, mask, weight, empty, impl)


def mse_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    empty: EmptyMask = "raise",
    impl: Impl = "auto",
) -> Tensor:
    r"""Mean squared error (L2), optionally masked or weighted.

    .. math:: \ell(x, y) = \frac{\sum_i w_i (x_i - y_i)^2}{\sum_i w_i}

    Args:
        generated: prediction, any shape (N, C, H, W when masked); any value range.
        target: reference, the shape, dtype and device of ``generated``.
        reduction: ``'mean' | 'sum' | 'none'`` (``'none'``: element-wise, input's shape).
        mask: 0/1 (or bool) selection, shape (N, 1, H, W) or (N, C, H, W).
        weight: non-negative per-element weight, same shapes as ``mask``; not with ``mask``.
        empty: all-zero mask under ``'mean'``: ``'raise' | 'zero' | 'nan'``.
        impl: ``'auto' | 'native' | 'fused' | 'compiled'``.

    Returns:
        A scalar for ``'mean'``/``'sum'``; the element-wise loss for ``'none'``.

    Reference:
        Zhao et al., "Loss Functions for Image Restoration with Neural Networks", IEEE TCI 2017.

    Example:
        >>> x = torch.zeros(1, 1, 2, 2); y = torch.full((1, 1, 2, 2), 2.0)
        >>> float(mse_loss(x, y))
        4.0
    """
    return _pixel_loss("mse", generated, target, 0.0, reduction, mask, weight, empty, impl)


l2_loss = mse_loss


def huber_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    empty: EmptyMask = "raise",
    impl: Impl = "auto",
    delta: float = 1.0,
) -> Tensor:
    r"""Huber loss: quadratic below ``delta``, linear above (as :func:`torch.nn.functional.huber_loss`).

    .. math:: h_\delta(d) = \tfrac12 d^2 \text{ if } |d| \le \delta \text{ else } \delta (|d| - \tfrac12\delta)

    With a mask/weight the mean divides by the weight sum (unlike PyTorch's weighted Huber,
    which divides by numel).

    Args:
        generated: prediction, any shape (N, C, H, W when masked).
        target: reference, the shape, dtype and device of ``generated``.
        reduction: ``'mean' | 'sum' | 'none'``.
        mask: 0/1 (or bool) selection, shape (N, 1, H, W) or (N, C, H, W).
        weight: non-negative per-element weight; not with ``mask``.
        empty: all-zero mask under ``'mean'``: ``'raise' | 'zero' | 'nan'``.
        impl: ``'auto' | 'native' | 'fused' | 'compiled'``.
        delta: threshold, ``> 0``, in the images' units.

    Returns:
        A scalar for ``'mean'``/``'sum'``; the element-wise loss for ``'none'``.

    Reference:
        Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 1964.

    Example:
        >>> x = torch.zeros(1, 1, 1, 2); y = torch.tensor([[[[0.5, 3.0]]]])
        >>> float(huber_loss(x, y))  # (0.125 + 2.5) / 2
        1.3125
    """
    delta = check_param(delta, "delta", low=0.0, low_inclusive=False)
    return _pixel_loss("huber", generated, target, delta, reduction, mask, weight, empty, impl)


def smooth_l1_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    empty: EmptyMask = "raise",
    impl: Impl = "auto",
    beta: float = 1.0,
) -> Tensor:
    r"""Smooth L1 loss (as :func:`torch.nn.functional.smooth_l1_loss`): Huber divided by ``beta``.

    .. math:: s_\beta(d) = \frac{d^2}{2\beta} \text{ if } |d| < \beta \text{ else } |d| - \tfrac12\beta

    ``beta = 0`` gives exactly L1 (as in PyTorch).

    Args:
        generated: prediction, any shape (N, C, H, W when masked).
        target: reference, the shape, dtype and device of ``generated``.
        reduction: ``'mean' | 'sum' | 'none'``.
        mask: 0/1 (or bool) selection, shape (N, 1, H, W) or (N, C, H, W).
        weight: non-negative per-element weight; not with ``mask``.
        empty: all-zero mask under ``'mean'``: ``'raise' | 'zero' | 'nan'``.
        impl: ``'auto' | 'native' | 'fused' | 'compiled'``.
        beta: threshold, ``>= 0``, in the images' units.

    Returns:
        A scalar for ``'mean'``/``'sum'``; the element-wise loss for ``'none'``.

    Reference:
        Girshick, "Fast R-CNN", ICCV 2015.

    Example:
        >>> x = torch.zeros(1, 1, 1, 2); y = torch.tensor([[[[0.5, 3.0]]]])
        >>> float(smooth_l1_loss(x, y))  # (0.125 + 2.5) / 2
        1.3125
    """
    beta = check_param(beta, "beta", low=0.0)
    return _pixel_loss("smooth_l1", generated, target, beta, reduction, mask, weight, empty, impl)


def charbonnier_loss(
    generated: Tensor,
    target: Tensor,
    *,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    empty: EmptyMask = "raise",
    impl: Impl = "auto",
    eps: float = 1e-3,
) -> Tensor:
    r"""Charbonnier loss, a differentiable L1: ``sqrt(d^2 + eps^2)``, eps NOT subtracted.

    .. math:: c_\epsilon(d) = \sqrt{d^2 + \epsilon^2}

    Convention: ``eps`` is given in the images' units and squared inside (do not pass
    ``eps**2``); 1e-3 suits images in [0, 1]. As in the original paper and most
    super-resolution code, eps is not subtracted, so a perfect prediction gives
    ``L(x, x) = eps`` (not 0) and the loss exceeds L1 by at most ``eps``. The gradient is
    ``d / sqrt(d^2 + eps^2)``, a smoothed ``sign(d)``.

    Args:
        generated: prediction, any shape (N, C, H, W when masked).
        target: reference, the shape, dtype and device of ``generated``.
        reduction: ``'mean' | 'sum' | 'none'``.
        mask: 0/1 (or bool) selection, shape (N, 1, H, W) or (N, C, H, W).
        weight: non-negative per-element weight; not with ``mask``.
        empty: all-zero mask under ``'mean'``: ``'raise' | 'zero' | 'nan'``.
        impl: ``'auto' | 'native' | 'fused' | 'compiled'``.
        eps: smoothing scale, ``> 0``, in the images' units.

    Returns:
        A scalar for ``'mean'``/``'sum'``; the element-wise loss for ``'none'``.

    Reference:
        Charbonnier et al., "Two deterministic half-quadratic regularization algorithms for
        computed imaging", ICIP 1994; Lai et al., "Deep Laplacian Pyramid Networks", CVPR 2017.

    Example:
        >>> x = torch.zeros(1, 1, 2, 2)
        >>> round(float(charbonnier_loss(x, x, eps=1e-3)), 6)
        0.001
    """
    eps = check_param(eps, "eps", low=0.0, low_inclusive=False)
    return _pixel_loss("charbonnier", generated, target, eps, reduction, mask, weight, empty, impl)


class _PixelLoss(nn.Module):
    """Stores the settings of a pixel loss and calls its function."""

    _kind: str = ""
    _param_name: str | None = None

    def __init__(self, reduction: Reduction = "mean", empty: EmptyMask = "raise", impl: Impl = "auto") -> None:
        super().__init__()
        self.reduction: str = check_reduction(reduction)
        self.empty: str = check_choice(empty, "empty", EMPTY_MASK_CHOICES)
        self.impl: str = check_choice(impl, "impl", IMPLS)
        self.param: float = 0.0

    def forward(
        self,
        generated: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        weight: Tensor | None = None,
        empty: EmptyMask | None = None,
    ) -> Tensor:
        """Loss between ``generated`` and ``target`` (see the function's docstring)."""
        return _pixel_loss(
            self._kind,
            generated,
            target,
            self.param,
            self.reduction,
            mask,
            weight,
            self.empty if empty is None else empty,
            self.impl,
        )

    def extra_repr(self) -> str:
        extra = f", {self._param_name}={self.param:g}" if self._param_name else ""
        return f"reduction={self.reduction!r}{extra}, impl={self.impl!r}"


class L1Loss(_PixelLoss):
    """Module form of :func:`l1_loss`.

    Example:
        >>> L1Loss()(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)).item()
        1.0
    """

    _kind = "l1"


class MSELoss(_PixelLoss):
    """Module form of :func:`mse_loss` (alias :class:`L2Loss`).

    Example:
        >>> MSELoss()(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)).item()
        1.0
    """

    _kind = "mse"


L2Loss = MSELoss


class HuberLoss(_PixelLoss):
    """Module form of :func:`huber_loss` (``delta > 0``).

    Example:
        >>> HuberLoss(delta=0.5)(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)).item()
        0.375
    """

    _kind = "huber"
    _param_name = "delta"

    def __init__(
        self, delta: float = 1.0, reduction: Reduction = "mean", empty: EmptyMask = "raise", impl: Impl = "auto"
    ) -> None:
        super().__init__(reduction, empty, impl)
        self.param = check_param(delta, "delta", low=0.0, low_inclusive=False)

    @property
    def delta(self) -> float:
        return self.param


class SmoothL1Loss(_PixelLoss):
    """Module form of :func:`smooth_l1_loss` (``beta >= 0``).

    Example:
        >>> SmoothL1Loss(beta=0.5)(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)).item()
        0.75
    """

    _kind = "smooth_l1"
    _param_name = "beta"

    def __init__(
        self, beta: float = 1.0, reduction: Reduction = "mean", empty: EmptyMask = "raise", impl: Impl = "auto"
    ) -> None:
        super().__init__(reduction, empty, impl)
        self.param = check_param(beta, "beta", low=0.0)

    @property
    def beta(self) -> float:
        return self.param


class CharbonnierLoss(_PixelLoss):
    """Module form of :func:`charbonnier_loss` (``eps > 0`` in the images' units, not subtracted).

    Example:
        >>> round(CharbonnierLoss(eps=1e-3)(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)).item(), 6)
        0.001
    """

    _kind = "charbonnier"
    _param_name = "eps"

    def __init__(
        self, eps: float = 1e-3, reduction: Reduction = "mean", empty: EmptyMask = "raise", impl: Impl = "auto"
    ) -> None:
        super().__init__(reduction, empty, impl)
        self.param = check_param(eps, "eps", low=0.0, low_inclusive=False)

    @property
    def eps(self) -> float:
        return self.param


# Literal kept importable for type hints elsewhere.
PixelLossName = Literal["l1", "mse", "huber", "smooth_l1", "charbonnier"]
