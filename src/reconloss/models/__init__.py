"""Small models for the studies: a bottlenecked autoencoder and an inpainting U-Net.

``MODELS`` maps names to classes; :func:`build_model` builds one by name (the CLI and the study
specs use these names); :func:`count_parameters` counts trainable parameters.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from reconloss._checks import InputTypeError, UnknownNameError
from reconloss.models.autoencoder import ConvAutoencoder
from reconloss.models.inpaint import InpaintNet, composite

__all__ = ["MODELS", "ConvAutoencoder", "InpaintNet", "build_model", "composite", "count_parameters", "list_models"]

MODELS: dict[str, type[nn.Module]] = {
    "autoencoder": ConvAutoencoder,
    "inpaint": InpaintNet,
}
"""Registered model classes by name."""


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: ``"autoencoder"`` or ``"inpaint"`` (case-insensitive).
        **kwargs: Constructor arguments (e.g. ``width=16``).

    Returns:
        A freshly initialised model (initialisation uses torch's global generator: seed first).

    Raises:
        UnknownNameError: ``name`` is not registered; the message lists the valid names.
        InputTypeError: ``name`` is not a string.

    Example:
        >>> build_model("autoencoder", width=16).__class__.__name__
        'ConvAutoencoder'
    """
    if not isinstance(name, str):
        raise InputTypeError(f"name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in MODELS:
        raise UnknownNameError(f"model name must be one of {', '.join(list_models())}; got {name!r}")
    return MODELS[key](**kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameters of ``model``."""
    if not isinstance(model, nn.Module):
        raise InputTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
