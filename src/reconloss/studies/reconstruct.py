"""Reconstruct study: clean patches in, the same patches out.

The autoencoder has a real bottleneck, so it must choose what to keep: this is where L1, L2 and
the other losses differ (claims 1, 2 and 4). Evaluation: the standard metric set
(:func:`reconloss.metrics.evaluate_images`) on the held-out test patches (from images never
seen in training).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from ._common import PreparedTask, clamp01, finite_or_none, prepared_task
from .spec import StudyPlan

__all__ = ["STUDY", "patches_for", "prepare", "evaluate"]

STUDY = "reconstruct"


def patches_for(images: Sequence[Any], plan: StudyPlan, seed: int) -> Any:
    """The seed's patches: new random training crops, and the same held-out images for every seed.

    The split of the images into training and test sources is fixed (``split_seed=0``), so a
    paired difference across seeds measures training noise (crops, initial weights, batch
    order) on one held-out set, not which photographs happened to land in the test set.
    Every loss trained with this seed sees exactly these patches (the comparison is paired).
    """
    from reconloss.data import make_patches

    return make_patches(
        list(images),
        patch_size=plan.patch_size,
        n_train=plan.n_train,
        seed=seed,
        test_fraction=0.25,
        max_test=plan.max_test,
        split_seed=0,
    )


def model_kwargs(plan: StudyPlan) -> dict[str, Any]:
    """Autoencoder settings of the studies (the width scales with the preset)."""
    return {"width": plan.width}


def prepare(images: Sequence[Any], plan: StudyPlan, condition: str, seed: int, split: Any = None) -> PreparedTask:
    """Clean patches as input and target.

    Args:
        images: Source images (``ImageRecord`` list).
        plan: The study plan.
        condition: Always ``"clean"``.
        seed: Seed of the patch split.
        split: A precomputed :func:`patches_for` result (optional, saves time).
    """
    from reconloss.train import TensorTask

    split = split if split is not None else patches_for(images, plan, seed)
    task = TensorTask(split.train, split.train, split.test, split.test)
    return prepared_task(
        STUDY, condition, seed, task, split, plan.n_samples,
        model="autoencoder", model_kwargs=model_kwargs(plan), test_images=sorted(set(split.test_sources)),
    )


def evaluate(prepared: PreparedTask, outputs: Tensor) -> dict[str, float | None]:
    """Standard metrics of the (clamped) test outputs against the clean test patches."""
    from reconloss.metrics import evaluate_images

    return finite_or_none(evaluate_images(clamp01(outputs), prepared.clean_test))
