"""METRICS registry, orientation helpers and evaluate_images."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import reconloss.metrics as rm
from reconloss._checks import UnknownNameError
from reconloss.metrics import (
    METRICS,
    MetricInfo,
    better,
    distance_to_ideal,
    evaluate_images,
    metric_info,
    rank_key,
)


def _pair(n: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.nn.functional.avg_pool2d(torch.rand(n, 3, size, size), 3, 1, 1, count_include_pad=False)
    output = (target + 0.05 * torch.randn_like(target)).clamp(0, 1)
    return output, target


def test_public_api_is_reexported() -> None:
    for name in (
        "psnr", "ssim", "ms_ssim", "mae", "mse", "sharpness", "radial_power_spectrum", "artifact_energy",
        "outlier_metrics", "ImageMetrics", "METRICS", "MetricInfo", "metric_info", "evaluate_images",
    ):
        assert name in rm.__all__ and hasattr(rm, name), name


def test_every_evaluate_key_is_registered_and_oriented() -> None:
    out, tgt = _pair()
    res = evaluate_images(out, tgt, ms_ssim_scales=2)
    assert set(res) == {"psnr", "ssim", "ms_ssim", "mae", "mse", "sharp_gradient", "sharp_laplacian", "sharp_hf", "artifact"}
    assert all(isinstance(v, float) for v in res.values())
    for key in res:
        info = METRICS[key]
        assert info.name == key and info.description and info.unit
    assert METRICS["psnr"].higher_is_better is True and math.isinf(METRICS["psnr"].ideal)
    for key in ("ssim", "ms_ssim"):
        assert METRICS[key].higher_is_better is True and METRICS[key].ideal == 1.0
    for key in ("mae", "mse", "artifact", "halo", "halo_fraction", "clean_error"):
        assert METRICS[key].higher_is_better is False and METRICS[key].ideal == 0.0
    for key in ("sharp_gradient", "sharp_laplacian", "sharp_hf"):
        assert METRICS[key].higher_is_better is None and METRICS[key].ideal == 1.0
    assert METRICS["outlier_retention"].higher_is_better is None and METRICS["outlier_retention"].ideal == 0.0


def test_perfect_reconstruction_hits_every_ideal() -> None:
    _, tgt = _pair()
    res = evaluate_images(tgt, tgt, ms_ssim_scales=2)
    for key, value in res.items():
        assert distance_to_ideal(key, value) == pytest.approx(0.0, abs=1e-6), key


def test_ranking_needs_no_special_cases() -> None:
    assert better("psnr", 30.0, 25.0) and not better("psnr", 25.0, 30.0)
    assert better("mae", 0.01, 0.02)
    assert better("sharp_hf", 0.95, 0.8) and better("sharp_hf", 1.05, 1.2) and better("sharp_hf", 0.95, 1.1)
    assert not better("sharp_hf", 1.0, 1.0)
    assert better("outlier_retention", 0.1, 0.9) and better("outlier_retention", 0.05, -0.1)
    assert better("hole_psnr", 30.0, float("nan"))  # NaN ranks last
    runs = [{"sharp_gradient": v} for v in (0.5, 1.3, 0.97, 1.02)]
    ranked = sorted(runs, key=lambda r: rank_key("sharp_gradient", r["sharp_gradient"]))
    assert [r["sharp_gradient"] for r in ranked] == [1.02, 0.97, 1.3, 0.5]
    assert distance_to_ideal("sharp_hf", 0.7) == pytest.approx(0.3)
    assert distance_to_ideal("psnr", 40.0) == math.inf


def test_metric_info_prefixes_and_aliases() -> None:
    info = metric_info("hole_psnr")
    assert info.name == "hole_psnr"
    assert dataclasses.replace(info, name="psnr") == METRICS["psnr"]
    assert metric_info("eval_hole_ssim").higher_is_better is True
    assert metric_info("test_sharp_hf").ideal == 1.0
    assert metric_info("retention_mean").ideal == 0.0
    assert metric_info("halo_mean").higher_is_better is False
    assert metric_info("PSNR").higher_is_better is True
    assert isinstance(metric_info("mae"), MetricInfo)
    with pytest.raises(UnknownNameError, match="psnr"):
        metric_info("lpips")
    with pytest.raises(UnknownNameError):
        metric_info("hole_")


def test_outlier_metric_keys_resolve() -> None:
    clean = torch.full((1, 1, 8, 8), 0.2)
    res = rm.outlier_metrics(clean, clean, torch.tensor([[0, 3, 3]]), 1.0)
    for key in res:
        metric_info(key)


def test_all_ones_mask_equals_unmasked() -> None:
    out, tgt = _pair(size=48)
    plain = evaluate_images(out, tgt, ms_ssim_scales=3)
    masked = evaluate_images(out, tgt, mask=torch.ones(2, 1, 48, 48), ms_ssim_scales=3)
    assert set(masked) == set(plain)
    for key in plain:
        assert masked[key] == pytest.approx(plain[key], rel=1e-5, abs=1e-7), key


def test_mask_restricts_fidelity_only() -> None:
    out, tgt = _pair(size=32)
    out = out.clone()
    out[:, :, :16] = tgt[:, :, :16]  # top half perfect
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, :16] = 1
    res = evaluate_images(out, tgt, mask=mask)
    assert res["mae"] == 0.0 and res["mse"] == 0.0 and math.isinf(res["psnr"])
    full = evaluate_images(out, tgt)
    assert res["sharp_gradient"] == full["sharp_gradient"] and res["artifact"] == full["artifact"]


def test_evaluate_small_images_omits_spectral_keys() -> None:
    out, tgt = _pair(size=32)
    res = evaluate_images(out[..., :6, :6], tgt[..., :6, :6])
    assert set(res) == {"psnr", "mae", "mse", "sharp_gradient", "sharp_laplacian"}
    res = evaluate_images(out[..., :10, :10], tgt[..., :10, :10])
    assert set(res) == {"psnr", "mae", "mse", "sharp_gradient", "sharp_laplacian", "sharp_hf", "artifact"}
