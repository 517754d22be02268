"""What the three studies share: the prepared task, prediction, spectra and the sample record.

A study module (``reconstruct``, ``outliers``, ``inpaint``) turns images into a
:class:`PreparedTask` (the :class:`~reconloss.train.TensorTask` to train on plus what its final
evaluation needs) and evaluates a trained model's test outputs into a flat ``{metric: float}``
dict. Everything is a deterministic function of ``(images, plan, condition, seed)``, so a worker
process rebuilds exactly the task the main process would have built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["PreparedTask", "prepared_task", "predict", "mean_spectrum", "sample_indices", "seed_generator", "finite_or_none"]


@dataclass
class PreparedTask:
    """A study's training task and what its evaluation needs.

    Attributes:
        study: Study name.
        condition: Condition name.
        seed: The seed the task was built with.
        task: The :class:`~reconloss.train.TensorTask` (train and test tensors, masks).
        clean_test: ``(N, 3, P, P)`` clean test images: the evaluation target.
        test_coords: ``(K, 3)`` outlier coordinates in the test inputs, or ``None``.
        outlier_value: Value of the injected outliers.
        model: Model registry name (``"autoencoder"`` or ``"inpaint"``).
        model_kwargs: Model constructor arguments.
        sample_idx: Indices of the test patches kept as example images.
        info: Extra facts for the metadata (patch counts, outlier counts...).
    """

    study: str
    condition: str
    seed: int
    task: Any
    clean_test: Tensor
    test_coords: Tensor | None
    outlier_value: float
    model: str
    model_kwargs: dict[str, Any]
    sample_idx: list[int]
    info: dict[str, Any] = field(default_factory=dict)


def seed_generator(*parts: int | str) -> torch.Generator:
    """A ``torch.Generator`` seeded from a tuple of ints/strings (stable across processes).

    Example:
        >>> a = torch.rand(2, generator=seed_generator(0, "rare"))
        >>> b = torch.rand(2, generator=seed_generator(0, "rare"))
        >>> bool((a == b).all())
        True
    """
    h = 1469598103934665603
    for p in parts:
        for byte in str(p).encode("utf-8") + b"\x00":
            h = ((h ^ byte) * 1099511628211) % (1 << 63)
    return torch.Generator().manual_seed(h)


def sample_indices(n_test: int, n_samples: int) -> list[int]:
    """Evenly spaced indices of ``min(n_samples, n_test)`` test patches (fixed, seed-independent).

    Example:
        >>> sample_indices(10, 3)
        [0, 4, 9]
    """
    k = max(1, min(n_samples, n_test))
    if k == 1:
        return [0]
    return sorted({round(i * (n_test - 1) / (k - 1)) for i in range(k)})


def prepared_task(
    study: str,
    condition: str,
    seed: int,
    task: Any,
    split: Any,
    n_samples: int,
    *,
    model: str,
    model_kwargs: dict[str, Any],
    test_coords: Tensor | None = None,
    outlier_value: float = 1.0,
    **info: Any,
) -> PreparedTask:
    """A :class:`PreparedTask` with what every study derives the same way from its patch
    ``split`` (``.train``, ``.test``): the clean test images, the example indices and the patch
    counts (``info`` starts with ``n_train``, ``n_test``, then the study's own ``info``)."""
    n_train, n_test = int(split.train.shape[0]), int(split.test.shape[0])
    return PreparedTask(
        study=study,
        condition=condition,
        seed=seed,
        task=task,
        clean_test=split.test,
        test_coords=test_coords,
        outlier_value=outlier_value,
        model=model,
        model_kwargs=model_kwargs,
        sample_idx=sample_indices(n_test, n_samples),
        info={"n_train": n_train, "n_test": n_test, **info},
    )


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: Tensor, mask: Tensor | None = None, batch_size: int = 128) -> Tensor:
    """Run ``model`` on ``inputs`` (and ``mask`` for inpainting) in eval mode, on the model's
    device, in batches; returns the raw outputs on the CPU (not clamped)."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = inputs.device
    outs: list[Tensor] = []
    for i in range(0, inputs.shape[0], batch_size):
        x = inputs[i : i + batch_size].to(device)
        if mask is None:
            y = model(x)
        else:
            y = model(x, mask[i : i + batch_size].to(device))
        outs.append(y.detach().float().cpu())
    if was_training:
        model.train()
    return torch.cat(outs)


def mean_spectrum(images: Tensor) -> tuple[Tensor, Tensor]:
    """Radially averaged power spectrum averaged over the images: ``(freqs (B,), power (B,))``."""
    from reconloss.metrics import radial_power_spectrum

    freqs, power = radial_power_spectrum(images.float())
    return freqs, power.mean(dim=0)


def finite_or_none(values: dict[str, float]) -> dict[str, float | None]:
    """Replace NaN/Inf by ``None`` (JSON null)."""
    out: dict[str, float | None] = {}
    for k, v in values.items():
        fv = float(v)
        out[k] = fv if math.isfinite(fv) else None
    return out


def clamp01(x: Tensor) -> Tensor:
    """Clamp to the images' range [0, 1] (the models have a linear output)."""
    return x.clamp(0.0, 1.0)


def subset(x: Tensor | None, idx: Sequence[int]) -> Tensor | None:
    """``x[idx]`` or ``None``."""
    return None if x is None else x[list(idx)].clone()
