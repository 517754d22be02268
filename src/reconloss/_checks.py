"""The one place for input validation.

Every check raises a subclass of :class:`TypeError` or :class:`ValueError` (never ``assert``,
which vanishes under ``python -O``) with a message of the form
``"<name> must <expectation>, got <what was got>"``.

Checks that read every value of a tensor (finiteness, value range, negative weights) force a
device sync. They are on by default and can be switched off for hot training loops::

    import reconloss
    reconloss.set_value_checks(False)          # process-wide
    with reconloss.value_checks(False):         # or for a block
        loss = reconloss.calculate_loss(x, y, "L1")

or by setting the environment variable ``RECONLOSS_VALUE_CHECKS=0`` before import.
Structural checks (type, shape, dtype, device, parameter values) are always on: they cost
nothing and they are what stops silent broadcasting.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "ReconlossError",
    "InputTypeError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "NonFiniteError",
    "RangeError",
    "MaskError",
    "ParameterError",
    "UnknownNameError",
    "value_checks_enabled",
    "set_value_checks",
    "value_checks",
    "check_tensor",
    "check_pair",
    "check_finite",
    "check_range",
    "check_reduction",
    "check_weight",
    "check_mask_or_weight",
    "check_min_size",
    "check_param",
    "check_int",
    "check_choice",
    "REDUCTIONS",
]

REDUCTIONS = ("mean", "sum", "none")


class ReconlossError(Exception):
    """Base class of every error this package raises on bad input."""


class InputTypeError(ReconlossError, TypeError):
    """An argument is not a tensor (or not the expected Python type)."""


class ShapeError(ReconlossError, ValueError):
    """Shapes differ, the rank is wrong, or an image is too small."""


class DTypeError(ReconlossError, TypeError):
    """Integer/bool tensors, or two tensors of different floating dtypes."""


class DeviceError(ReconlossError, ValueError):
    """Tensors live on different devices."""


class NonFiniteError(ReconlossError, ValueError):
    """A tensor holds NaN or Inf."""


class RangeError(ReconlossError, ValueError):
    """Values fall outside the documented range (e.g. ``[0, data_range]``)."""


class MaskError(ReconlossError, ValueError):
    """A mask/weight has the wrong shape, negative entries, or selects nothing."""


class ParameterError(ReconlossError, ValueError):
    """A loss or metric parameter has an invalid value (negative delta, alpha out of range...)."""


class UnknownNameError(ReconlossError, ValueError):
    """A name (loss, metric, study, preset...) is not registered."""


_VALUE_CHECKS = os.environ.get("RECONLOSS_VALUE_CHECKS", "1").strip().lower() not in ("0", "false", "no", "off")


def value_checks_enabled() -> bool:
    """Whether checks that read every value (finiteness, range, negative weights) run."""
    return _VALUE_CHECKS


def set_value_checks(enabled: bool) -> None:
    """Switch value-reading checks on or off for the whole process."""
    global _VALUE_CHECKS
    _VALUE_CHECKS = bool(enabled)


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Context manager that switches value-reading checks on or off inside a block."""
    global _VALUE_CHECKS
    old = _VALUE_CHECKS
    _VALUE_CHECKS = bool(enabled)
    try:
        yield
    finally:
        _VALUE_CHECKS = old


def _shape(x: Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def check_tensor(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    floating: bool = True,
    finite: bool = True,
) -> Tensor:
    """Check that ``x`` is a tensor of floating dtype and (optionally) the given rank.

    Returns ``x`` so calls can be chained. ``finite`` runs :func:`check_finite` when value
    checks are enabled.
    """
    if not isinstance(x, Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            layout = " (N, C, H, W)" if allowed == (4,) else ""
            raise ShapeError(f"{name} must have {want} dimensions{layout}, got {x.ndim} with shape {_shape(x)}")
    if floating and not (x.is_floating_point()):
        raise DTypeError(
            f"{name} must have a floating dtype (float16/bfloat16/float32/float64), got {x.dtype}; "
            "convert integer images with x.float() / 255"
        )
    if finite:
        check_finite(x, name)
    return x


def check_finite(x: Tensor, name: str) -> None:
    """Raise :class:`NonFiniteError` naming the tensor and how many NaN/Inf it holds."""
    if not _VALUE_CHECKS or not x.is_floating_point():
        return
    if x.numel() == 0 or bool(torch.isfinite(x).all()):
        return
    n_nan = int(torch.isnan(x).sum())
    n_inf = int(torch.isinf(x).sum())
    raise NonFiniteError(f"{name} must be finite, got {n_nan} NaN and {n_inf} Inf values out of {x.numel()}")


def check_pair(
    generated: Any,
    target: Any,
    *,
    names: tuple[str, str] = ("generated", "target"),
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
) -> tuple[Tensor, Tensor]:
    """Check a (prediction, target) pair: tensors, same shape, dtype and device, finite.

    No broadcasting: ``(n, 1)`` against ``(n,)`` is an error, not a silent wrong number.
    ``finite=False`` runs only the structural half (callers that check the finiteness of a
    reduced value instead, which costs one scalar rather than two passes over the images).
    """
    # Fast path: every structural condition holds (the common case), tested with as few
    # attribute reads as possible; anything else falls through to the checks below, which
    # raise the same errors in the same order as always.
    if (
        isinstance(generated, Tensor)
        and isinstance(target, Tensor)
        and (ndim is None or (generated.ndim == ndim if isinstance(ndim, int) else generated.ndim in tuple(ndim)))
        and generated.is_floating_point()
        and generated.dtype == target.dtype
        and generated.shape == target.shape
        and generated.device == target.device
        and generated.numel() != 0
    ):
        if finite and _VALUE_CHECKS:
            check_finite(generated, names[0])
            check_finite(target, names[1])
        return generated, target
    a, b = names
    check_tensor(generated, a, ndim=ndim, finite=False)
    check_tensor(target, b, ndim=ndim, finite=False)
    if generated.shape != target.shape:
        raise ShapeError(f"{b} must have the shape of {a} {_shape(generated)}, got {_shape(target)}")
    if generated.dtype != target.dtype:
        raise DTypeError(f"{b} must have the dtype of {a} ({generated.dtype}), got {target.dtype}")
    if generated.device != target.device:
        raise DeviceError(f"{b} must be on the device of {a} ({generated.device}), got {target.device}")
    if generated.numel() == 0:
        raise ShapeError(f"{a} must not be empty, got shape {_shape(generated)}")
    if finite:
        check_finite(generated, a)
        check_finite(target, b)
    return generated, target


def check_range(x: Tensor, name: str, low: float, high: float, *, tol: float = 1e-6) -> None:
    """Raise :class:`RangeError` if any value lies outside ``[low, high]`` (with a small tolerance)."""
    if not _VALUE_CHECKS:
        return
    span = (high - low) * tol
    lo = float(x.min())
    hi = float(x.max())
    if lo < low - span or hi > high + span:
        raise RangeError(
            f"{name} must have values in [{low:g}, {high:g}] (set data_range to the images' range), "
            f"got values in [{lo:.4g}, {hi:.4g}]"
        )


def check_reduction(reduction: Any) -> str:
    """Check that ``reduction`` is one of ``'mean' | 'sum' | 'none'``."""
    if reduction not in REDUCTIONS:
        raise ParameterError(f"reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")
    return reduction


def check_weight(weight: Any, like: Tensor, name: str = "mask", *, finite: bool = True) -> Tensor:
    """Check a mask/per-pixel weight against a 4-D image tensor ``like`` of shape (N, C, H, W).

    Accepted shapes: (N, 1, H, W) (shared by the channels) or (N, C, H, W); nothing else is
    broadcast. Bool masks are converted to ``like``'s dtype. With value checks on, float weights
    must be finite and non-negative (a bool mask is both by construction, so it is not scanned). Whether the weights sum to zero is left to the reducer, which
    knows what the user asked for on an empty mask.

    The value checks take one reduction (:func:`torch.aminmax`; NaN propagates into both
    results) and scan again only to build an error message. ``finite=False`` leaves out the
    +Inf test, for callers that check the finiteness of the reduced loss instead (a NaN/Inf
    weight always makes a weighted mean/sum non-finite); NaN and -Inf are still reported
    here, before the negative-entry check, as with ``finite=True``.
    """
    if not isinstance(weight, Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor, got {type(weight).__name__}")
    if like.ndim != 4:
        raise ShapeError(f"{name} needs images of shape (N, C, H, W), got images of shape {_shape(like)}")
    n, c, h, w = like.shape
    if weight.ndim != 4 or weight.shape[0] != n or weight.shape[2:] != like.shape[2:] or weight.shape[1] not in (1, c):
        raise MaskError(
            f"{name} must have shape {(n, 1, h, w)} or {(n, c, h, w)} (no other broadcasting), got {_shape(weight)}"
        )
    if weight.device != like.device:
        raise DeviceError(f"{name} must be on the device of the images ({like.device}), got {weight.device}")
    if weight.dtype == torch.bool:
        return weight.to(like.dtype)
    if not weight.is_floating_point():
        weight = weight.to(like.dtype)
    elif weight.dtype != like.dtype:
        weight = weight.to(like.dtype)
    if _VALUE_CHECKS and weight.numel():
        lo_t, hi_t = torch.aminmax(weight)
        lo = lo_t.item()
        if not lo >= 0.0 or (finite and not math.isfinite(hi_t.item())):  # negative, NaN or Inf
            check_finite(weight, name)  # NaN/Inf first, with its message
            if lo < 0.0:
                raise MaskError(f"{name} must be non-negative, got {int((weight < 0).sum())} negative entries")
    return weight


def check_mask_or_weight(
    mask: Any, weight: Any, like: Tensor, *, finite: bool = True
) -> tuple[Tensor | None, str]:
    """Validate the one of ``mask`` / ``weight`` that is given (passing both is an error).

    Returns ``(checked weight or None, its argument name)`` so later messages can name it.
    """
    if mask is not None and weight is not None:
        raise MaskError("pass either mask or weight, not both (a mask is a 0/1 weight), got both")
    if mask is None and weight is None:
        return None, "weight"
    name = "mask" if mask is not None else "weight"
    return check_weight(mask if mask is not None else weight, like, name, finite=finite), name


def check_min_size(x: Tensor, min_size: int, why: str, name: str = "images") -> None:
    """Raise :class:`ShapeError` if the spatial size of ``x`` (last two dims) is below ``min_size``."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h < min_size or w < min_size:
        raise ShapeError(f"{name} must be at least {min_size}x{min_size} pixels for {why}, got {h}x{w}")


def check_param(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Check a scalar parameter and return it as ``float``.

    Example: ``check_param(delta, "delta", low=0, low_inclusive=False)`` demands ``delta > 0``.
    """
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ParameterError(f"{name} must be a scalar, got a tensor of shape {_shape(value)}")
        value = float(value.detach())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ParameterError(f"{name} must be a finite number, got {v}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ParameterError(f"{name} must be {op} {low:g}, got {v:g}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ParameterError(f"{name} must be {op} {high:g}, got {v:g}")
    return v


def check_int(value: Any, name: str, low: int) -> int:
    """Check that ``value`` is an ``int`` (not a bool) and at least ``low``; return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputTypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ParameterError(f"{name} must be >= {low}, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices`` (exact match)."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name} must be one of {valid}, got {value!r}")
    return value
