"""reconloss.losses: the loss registry.

One name table feeds :func:`get_loss`, :func:`calculate_loss <reconloss.calculate_loss>`, the
CLI's choices and ``reconloss losses``. Classes are imported lazily from ``"module:attr"``
strings, so a loss module that fails to import only breaks the names it defines.

Example:
    >>> from reconloss.losses import get_loss, resolve_loss_name
    >>> resolve_loss_name("MAE")
    'l1'
    >>> get_loss("huber", delta=0.5)
    HuberLoss(reduction='mean', delta=0.5, impl='auto')
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from .._checks import UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = [
    "LossInfo",
    "LOSSES",
    "resolve_loss_name",
    "get_loss",
    "get_loss_function",
    "list_losses",
    "loss_names",
    "loss_parameters",
    "build_loss",
]

_PKG = "reconloss.losses"


@dataclass(frozen=True)
class LossInfo:
    """One registry entry.

    Attributes:
        name: canonical name (lower case, underscores).
        aliases: other accepted names (matched case-insensitively, ``-`` equal to ``_``).
        module: ``"package.module:ClassName"`` of the :class:`torch.nn.Module`.
        function: ``"package.module:function_name"`` of the functional form, or ``None``.
        description: one line for listings.
    """

    name: str
    aliases: tuple[str, ...]
    module: str
    function: str | None
    description: str

    def load_class(self) -> type[nn.Module]:
        """Import and return the Module class."""
        return _load(self.module)

    def load_function(self) -> Callable[..., Any] | None:
        """Import and return the function, or ``None`` when the loss has none."""
        return None if self.function is None else _load(self.function)


def _load(path: str) -> Any:
    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


def _info(name: str, aliases: tuple[str, ...], mod: str, cls: str, fn: str | None, desc: str) -> LossInfo:
    return LossInfo(name, aliases, f"{_PKG}.{mod}:{cls}", None if fn is None else f"{_PKG}.{mod}:{fn}", desc)


LOSSES: dict[str, LossInfo] = {
    info.name: info
    for info in (
        _info("l1", ("mae", "l1loss"), "pixel", "L1Loss", "l1_loss", "mean absolute error"),
        _info("l2", ("mse", "l2loss", "mseloss"), "pixel", "MSELoss", "mse_loss", "mean squared error"),
        _info("huber", (), "pixel", "HuberLoss", "huber_loss", "quadratic below delta, linear above"),
        _info("smooth_l1", ("smoothl1",), "pixel", "SmoothL1Loss", "smooth_l1_loss", "Huber divided by beta"),
        _info(
            "charbonnier", (), "pixel", "CharbonnierLoss", "charbonnier_loss", "sqrt(d^2 + eps^2), a smooth L1"
        ),
        _info("barron", ("robust", "general"), "robust", "BarronLoss", "barron_loss", "Barron's general robust loss"),
        _info(
            "adaptive",
            ("adaptive_robust",),
            "robust",
            "AdaptiveRobustLoss",
            None,
            "Barron's adaptive robust loss (learned alpha and scale)",
        ),
        _info("ssim", (), "structural", "SSIMLoss", "ssim_loss", "1 - SSIM"),
        _info("ms_ssim", ("msssim",), "structural", "MSSSIMLoss", "ms_ssim_loss", "1 - multi-scale SSIM"),
        _info("mix", ("zhao_mix",), "structural", "MixLoss", "mix_loss", "Zhao et al. MS-SSIM + L1 mix"),
        _info("gradient", ("edge",), "frequency", "GradientLoss", "gradient_loss", "L1 on image gradients"),
        _info("frequency", ("fft",), "frequency", "FrequencyLoss", "frequency_loss", "L1 on the 2-D FFT"),
        _info(
            "focal_frequency",
            ("ffl",),
            "frequency",
            "FocalFrequencyLoss",
            "focal_frequency_loss",
            "focal frequency loss (Jiang et al.)",
        ),
    )
}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


_LOOKUP: dict[str, str] = {}
for _canon, _inf in LOSSES.items():
    _LOOKUP[_key(_canon)] = _canon
    for _alias in _inf.aliases:
        _LOOKUP[_key(_alias)] = _canon


def loss_names(aliases: bool = False) -> list[str]:
    """Canonical names (and, with ``aliases=True``, every alias too), for CLI ``choices``."""
    names = list(LOSSES)
    if aliases:
        names += [a for info in LOSSES.values() for a in info.aliases]
    return names


def _valid_names() -> str:
    parts = []
    for info in LOSSES.values():
        parts.append(f"{info.name} ({', '.join(info.aliases)})" if info.aliases else info.name)
    return ", ".join(parts)


def resolve_loss_name(name: str) -> str:
    """Canonical name for ``name``: case-insensitive, stripped, ``'-'`` equal to ``'_'``.

    Raises:
        UnknownNameError: (a ValueError) listing every valid name and alias.

    Example:
        >>> resolve_loss_name(" Smooth-L1 ")
        'smooth_l1'
    """
    if not isinstance(name, str):
        raise UnknownNameError(f"loss name must be a string, got {type(name).__name__}; valid names: {_valid_names()}")
    canon = _LOOKUP.get(_key(name))
    if canon is None:
        raise UnknownNameError(f"loss name must be one of {_valid_names()}, got {name!r}")
    return canon


def get_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss Module registered under ``name`` (or an alias) with ``params``.

    Example:
        >>> get_loss("MSE", reduction="sum").reduction
        'sum'
    """
    return LOSSES[resolve_loss_name(name)].load_class()(**params)


def get_loss_function(name: str) -> Callable[..., Any] | None:
    """The functional form of ``name``, or ``None`` when the loss only exists as a Module."""
    return LOSSES[resolve_loss_name(name)].load_function()


def list_losses() -> list[LossInfo]:
    """Every registry entry, in registry order."""
    return list(LOSSES.values())


def loss_parameters(name: str) -> dict[str, Any]:
    """Constructor parameters of ``name``'s Module and their defaults (``inspect.Parameter.empty``
    when required), for listings such as ``reconloss losses``.

    Example:
        >>> loss_parameters("huber")["delta"]
        1.0
    """
    cls = LOSSES[resolve_loss_name(name)].load_class()
    out: dict[str, Any] = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = p.default
    return out


def build_loss(spec: str, total_steps: int | None = None) -> nn.Module:
    """Build a loss from a spec string (``"l1"``, ``"0.84*ms_ssim+0.16*l1"``, ``"l1>l2@0.5"``...).

    Thin wrapper over :func:`reconloss.losses.combine.build_loss`, imported on first use.
    """
    from .combine import build_loss as _build

    return _build(spec, total_steps=total_steps)
