"""reconloss: pixel reconstruction losses for image generative models, validated and fast."""

from __future__ import annotations

from ._checks import (
    DeviceError,
    DTypeError,
    InputTypeError,
    MaskError,
    NonFiniteError,
    ParameterError,
    RangeError,
    ReconlossError,
    ShapeError,
    UnknownNameError,
    set_value_checks,
    value_checks,
    value_checks_enabled,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
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
    "set_value_checks",
    "value_checks",
    "value_checks_enabled",
]
