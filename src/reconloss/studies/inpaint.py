"""Inpainting study: a patch with a hole (and the hole mask) in, the complete patch out.

Claim 5 compares training recipes of the same total length: L1 only, L2 only, L1 then L2
(the folklore), L2 then L1 (Zhao et al. 2017's order) and the MS-SSIM + L1 "mix". Holes are
random squares or brush strokes covering ``plan.hole_area`` of the patch
(:func:`reconloss.data.hole_masks`), drawn from the seed, so every recipe sees the same holes.

Evaluation (:func:`evaluate`), on the composited image (known pixels from the input, the
holes from the network): PSNR, SSIM, MAE, MSE and edge strength inside the hole (``hole_``
prefix) and the standard metric set over the whole patch (no prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ._common import PreparedTask, clamp01, finite_or_none, prepared_task, seed_generator
from .reconstruct import patches_for
from .spec import StudyPlan

__all__ = ["STUDY", "prepare", "evaluate", "composite_known"]

STUDY = "inpaint"


def prepare(images: Sequence[Any], plan: StudyPlan, condition: str, seed: int, split: Any = None) -> PreparedTask:
    """Masked patches plus masks in, clean patches as target."""
    from reconloss.data import apply_holes, hole_masks
    from reconloss.train import TensorTask

    split = split if split is not None else patches_for(images, plan, seed)
    p = plan.patch_size
    train_masks = hole_masks(split.train.shape[0], p, "mixed", plan.hole_area, seed_generator(seed, "holes", "train"))
    test_masks = hole_masks(split.test.shape[0], p, "mixed", plan.hole_area, seed_generator(seed, "holes", "test"))
    task = TensorTask(
        apply_holes(split.train, train_masks),
        split.train,
        apply_holes(split.test, test_masks),
        split.test,
        train_mask=train_masks,
        test_mask=test_masks,
    )
    return prepared_task(
        STUDY, condition, seed, task, split, plan.n_samples,
        model="inpaint", model_kwargs={"width": plan.width}, hole_area_mean=float(test_masks.mean()),
    )


def composite_known(prepared: PreparedTask, outputs: Tensor) -> Tensor:
    """The final inpainted image: known pixels from the input, holes from the (clamped) output."""
    from reconloss.models import composite

    mask = prepared.task.test_mask
    return clamp01(composite(outputs, prepared.task.test_input.to(outputs.dtype), mask.to(outputs.dtype)))


def _nanmean(x: Tensor) -> float:
    finite = torch.isfinite(x)
    return float(x[finite].double().mean()) if bool(finite.any()) else float("nan")


def _luma_gradient(x: Tensor) -> Tensor:
    """Sobel gradient magnitude of the BT.601 luminance, (N, 1, H, W), replicate padding."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    y = (x * w).sum(dim=1, keepdim=True) if x.shape[1] == 3 else x.mean(dim=1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype).view(1, 1, 3, 3) / 8.0
    yp = F.pad(y, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(yp, kx)
    gy = F.conv2d(yp, kx.transpose(2, 3))
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


def hole_gradient_ratio(output: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Edge strength inside the holes, pooled over the batch: the summed Sobel magnitude of the
    output over all hole pixels divided by the target's (0-dim tensor; 1 = as sharp as the
    photo, < 1 a blurry fill). Pooled rather than per image: a hole over a flat region has a
    near-zero target gradient and its per-image ratio would be meaningless."""
    m = (mask > 0.5).to(output.dtype)
    go = (_luma_gradient(output) * m).sum()
    gt = (_luma_gradient(target) * m).sum()
    return (go + 1e-12) / (gt + 1e-12)


def evaluate(prepared: PreparedTask, outputs: Tensor) -> dict[str, float | None]:
    """Metrics inside the hole (``hole_`` prefix) and over the whole composited patch.

    Hole metrics: ``hole_psnr``, ``hole_ssim`` (SSIM windows centred in the hole; images whose
    hole holds no valid window centre are left out of the mean), ``hole_mae``, ``hole_mse``,
    ``hole_sharp_gradient`` (:func:`hole_gradient_ratio`, pooled over the test set). Whole-patch metrics: the standard
    set (:func:`reconloss.metrics.evaluate_images`) of the composited image, whose sharpness
    and artifact values differ from the target's only through the filled holes.
    """
    from reconloss.metrics import evaluate_images, mae, mse, psnr, ssim

    out = composite_known(prepared, outputs)
    target = prepared.clean_test
    mask = prepared.task.test_mask.to(out.dtype)
    values = dict(evaluate_images(out, target))
    values["hole_psnr"] = _nanmean(psnr(out, target, mask=mask, empty="nan"))
    values["hole_ssim"] = _nanmean(ssim(out, target, mask=mask, empty="nan"))
    values["hole_mae"] = _nanmean(mae(out, target, mask=mask, empty="nan"))
    values["hole_mse"] = _nanmean(mse(out, target, mask=mask, empty="nan"))
    values["hole_sharp_gradient"] = float(hole_gradient_ratio(out, target, mask))
    return finite_or_none(values)
