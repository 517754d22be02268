"""Outlier study: patches with bright outlier pixels (value 1.0 on every channel) in and out.

Both the input and the training target carry the outliers, as in a data set with hot pixels
or salt noise: the folklore asks what the loss makes the model do with them (claim 3). Three
conditions (:data:`reconloss.studies.spec.PRESETS`):

* ``rare``: random positions, about one outlier per ``1 / rate`` pixels (when that is less than
  one per patch, a random subset of the patches gets one outlier each);
* ``frequent``: random positions, ``rate`` of the pixels of every patch;
* ``fixed``: one outlier at the same position of every patch.

Evaluation: the test patches get outliers the same way (the ``rare`` condition puts one in
every test patch, so each seed measures hundreds of outliers). What an outlier *does* to the
output is measured against a counterfactual: the same trained model's output for the same
patch without the outlier. :func:`reconloss.metrics.outlier_metrics` with that output as the
reference gives ``outlier_retention`` (the fraction of the outlier's jump that the model
passes through at the pixel: 0 = the model ignores it, 1 = it keeps the bright pixel) and
``halo`` / ``halo_fraction`` (the brightness the outlier adds in the ring of radius 1-2 around
it: the "blurry blob"). Against the clean image itself these two would be dominated by the
model's ordinary reconstruction error, which is the same with or without the outlier.
``clean_error`` (away from the outliers) and the standard metric set compare the output with
the *clean* test patches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ._common import PreparedTask, clamp01, finite_or_none, prepared_task, seed_generator
from .reconstruct import model_kwargs, patches_for
from .spec import OutlierCondition, StudyPlan

__all__ = ["STUDY", "OUTLIER_VALUE", "corrupt", "prepare", "evaluate"]

STUDY = "outliers"
OUTLIER_VALUE = 1.0


def corrupt(images: Tensor, cond: OutlierCondition, generator: torch.Generator, *, test: bool = False) -> tuple[Tensor, Tensor]:
    """Inject outliers into ``images`` (N, C, P, P) under condition ``cond``.

    Returns ``(corrupted, coords (K, 3))``. With ``test=True`` a rare condition puts one
    outlier in every patch (evaluation needs many of them).
    """
    from reconloss.data import inject_outliers

    n, _, p, _ = images.shape
    if cond.fixed:
        return inject_outliers(images, positions=[cond.pixel_position(p)], value=OUTLIER_VALUE)
    rate = float(cond.rate or 0.0)
    per_patch = rate * p * p
    if per_patch >= 1.0:
        return inject_outliers(images, rate=rate, value=OUTLIER_VALUE, generator=generator)
    if test:
        return inject_outliers(images, count_per_image=1, value=OUTLIER_VALUE, generator=generator)
    chosen = (torch.rand(n, generator=generator) < per_patch).nonzero().flatten()
    out = images.clone()
    if chosen.numel() == 0:
        return out, torch.zeros(0, 3, dtype=torch.long)
    sub, coords = inject_outliers(images[chosen], count_per_image=1, value=OUTLIER_VALUE, generator=generator)
    out[chosen] = sub
    coords = coords.clone()
    coords[:, 0] = chosen[coords[:, 0]]
    return out, coords


def prepare(images: Sequence[Any], plan: StudyPlan, condition: str, seed: int, split: Any = None) -> PreparedTask:
    """Patches with injected outliers as input and target; clean test patches kept for evaluation."""
    from reconloss.train import TensorTask

    cond = plan.condition(condition)
    split = split if split is not None else patches_for(images, plan, seed)
    train, train_coords = corrupt(split.train, cond, seed_generator(seed, condition, "train"))
    test, test_coords = corrupt(split.test, cond, seed_generator(seed, condition, "test"), test=True)
    task = TensorTask(train, train, test, split.test)
    n_px = split.train.shape[0] * split.train.shape[2] * split.train.shape[3]
    return prepared_task(
        STUDY, condition, seed, task, split, plan.n_samples,
        model="autoencoder",
        model_kwargs=model_kwargs(plan),
        test_coords=test_coords.long(),
        outlier_value=OUTLIER_VALUE,
        train_outliers=int(train_coords.shape[0]),
        train_outlier_rate=float(train_coords.shape[0]) / float(n_px),
        test_outliers=int(test_coords.shape[0]),
    )


def evaluate(prepared: PreparedTask, outputs: Tensor, clean_outputs: Tensor | None = None) -> dict[str, float | None]:
    """Outlier metrics and the standard set.

    Args:
        prepared: the task (clean test patches, outlier coordinates and value).
        outputs: (N, 3, P, P) model outputs for the test patches *with* outliers.
        clean_outputs: (N, 3, P, P) the same model's outputs for the clean test patches: the
            reference of retention and halo (module docstring). Without it the clean patches
            themselves are the reference.
    """
    from reconloss.metrics import evaluate_images, outlier_metrics

    out = clamp01(outputs)
    values = dict(evaluate_images(out, prepared.clean_test))
    coords = prepared.test_coords if prepared.test_coords is not None else torch.zeros(0, 3, dtype=torch.long)
    reference = clamp01(clean_outputs) if clean_outputs is not None else prepared.clean_test
    effect = outlier_metrics(out, reference, coords, prepared.outlier_value, radius=2)
    fidelity = outlier_metrics(out, prepared.clean_test, coords, prepared.outlier_value, radius=2)
    values["outlier_retention"] = float(effect["retention_mean"])
    values["halo"] = float(effect["halo_mean"])
    values["halo_fraction"] = float(effect["halo_fraction_mean"])
    values["clean_error"] = float(fidelity["clean_error_mean"])
    return finite_or_none(values)
