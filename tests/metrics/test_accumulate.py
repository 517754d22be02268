"""ImageMetrics: batch accumulation equals one pass, and a 2-process gloo run equals one process."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reconloss._checks import ParameterError, ShapeError
from reconloss.metrics import ImageMetrics, MaskedImageMetrics, evaluate_images, ms_ssim
from reconloss.metrics.accumulate import STANDARD_KEYS, image_metric_values


def _data(n: int = 8, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth-ish targets and noisy/blurred outputs in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 4, size // 4, generator=g)
    target = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    target = (target + 0.05 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)
    noise = 0.03 * torch.randn(n, 3, size, size, generator=g)
    output = (torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False) + noise).clamp(0, 1)
    return output, target


def _close(a: dict[str, torch.Tensor], b: dict[str, float]) -> None:
    assert set(a) == set(b)
    for k in a:
        assert float(a[k]) == pytest.approx(b[k], rel=1e-5, abs=1e-7), k


def test_batches_equal_single_pass() -> None:
    out, tgt = _data()
    whole = evaluate_images(out, tgt)
    m = ImageMetrics()
    for sl in (slice(0, 3), slice(3, 4), slice(4, 8)):
        m.update(out[sl], tgt[sl])
    _close(m.compute(), whole)
    m.reset()
    m.update(out, tgt)
    _close(m.compute(), whole)


def test_keys_and_size_dependent_skips() -> None:
    out, tgt = _data(n=2, size=16)
    vals = image_metric_values(out, tgt)
    assert all(v.shape == (2,) for v in vals.values())
    assert set(vals) <= set(STANDARD_KEYS)
    assert {"psnr", "mae", "mse", "sharp_gradient", "sharp_hf", "artifact"} <= set(vals)
    assert "ms_ssim" not in vals  # 16 px < 161 px needed by 5 scales
    m = ImageMetrics()
    m.update(out, tgt)
    assert set(m.compute()) == set(vals)
    # Tiny images: no spectral metrics, and they are omitted rather than reported as 0.
    tiny_out, tiny_tgt = out[:, :, :6, :6], tgt[:, :, :6, :6]
    keys = set(image_metric_values(tiny_out, tiny_tgt, kinds=("mae", "sharp_gradient", "sharp_hf", "artifact")))
    assert keys == {"mae", "sharp_gradient"}


def test_kinds_subset_and_validation() -> None:
    out, tgt = _data(n=2, size=16)
    m = ImageMetrics(kinds=("mae", "sharp_hf"))
    m.update(out, tgt)
    res = m.compute()
    assert set(res) == {"mae", "sharp_hf"}
    assert res["mae"].dtype == torch.float64
    with pytest.raises(ParameterError, match="kinds"):
        ImageMetrics(kinds=("mae", "lpips"))
    with pytest.raises(ParameterError, match="data_range"):
        ImageMetrics(data_range=0)
    with pytest.raises(ShapeError):
        m.update(out, tgt[:, :1])


def test_masked_variant_and_all_ones_mask() -> None:
    out, tgt = _data(n=4, size=32)
    ones = torch.ones(4, 1, 32, 32)
    plain = evaluate_images(out, tgt)
    masked = evaluate_images(out, tgt, mask=ones)
    assert set(masked) == set(plain)
    for k in plain:
        assert masked[k] == pytest.approx(plain[k], rel=1e-5, abs=1e-7), k
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1
    mm = MaskedImageMetrics(kinds=("mae", "mse", "sharp_gradient"))
    mm.update(out[:2], tgt[:2], mask[:2])
    mm.update(out[2:], tgt[2:], mask[2:])
    res = mm.compute()
    want_mae = float(((out - tgt).abs() * mask).flatten(1).sum(1).div(mask.flatten(1).sum(1) * 3).mean())
    assert float(res["mae"]) == pytest.approx(want_mae, rel=1e-5)
    assert float(res["sharp_gradient"]) == pytest.approx(plain["sharp_gradient"], rel=1e-5)  # whole-image
    with pytest.raises(ParameterError, match="mask"):
        mm.update(out, tgt, None)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, result_path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        out, tgt = _data()
        mine = slice(rank * 4, rank * 4 + 4)  # rank 0: images 0-3, rank 1: images 4-7
        m = ImageMetrics(kinds=("psnr", "ssim", "mae", "mse", "sharp_gradient", "sharp_laplacian", "sharp_hf", "artifact"))
        m.update(out[mine][:1], tgt[mine][:1])  # uneven batches on purpose
        m.update(out[mine][1:], tgt[mine][1:])
        res = {k: float(v) for k, v in m.compute().items()}
        if rank == 0:
            torch.save(res, result_path)
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_one_process(tmp_path: Path) -> None:
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    result = tmp_path / "rank0.pt"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(2, _free_port(), str(result)), nprocs=2, join=True)
    got = torch.load(result, weights_only=True)
    out, tgt = _data()
    want = evaluate_images(out, tgt)
    assert set(got) == set(want) - {"ms_ssim"}
    for k, v in got.items():
        assert v == pytest.approx(want[k], rel=1e-5, abs=1e-7), k
        assert math.isfinite(v)


def test_ms_ssim_scales_follow_image_size() -> None:
    out, tgt = _data(n=2, size=48)
    assert "ms_ssim" not in evaluate_images(out, tgt)
    three = evaluate_images(out, tgt, ms_ssim_scales=3)  # 41 px needed
    assert three["ms_ssim"] == pytest.approx(float(ms_ssim(out, tgt, scales=3).mean()), rel=1e-6)
    m = ImageMetrics(kinds=("ms_ssim", "mae"), ms_ssim_scales=3)
    m.update(out[:1], tgt[:1])
    m.update(out[1:], tgt[1:])
    assert float(m.compute()["ms_ssim"]) == pytest.approx(three["ms_ssim"], rel=1e-5)
    with pytest.raises(ParameterError, match="ms_ssim_scales"):
        ImageMetrics(ms_ssim_scales=6)
    big_out, big_tgt = _data(n=1, size=164)
    assert "ms_ssim" in evaluate_images(big_out, big_tgt)


def test_ratio_keys_aggregate_as_ratio_of_totals() -> None:
    from reconloss.metrics import artifact_energy, sharpness
    from reconloss.metrics.sharpness import sharpness_terms

    out, tgt = _data(n=3, size=32)
    tgt = tgt.clone()
    tgt[0] = 0.5  # a flat target: its per-image ratios explode
    out = out.clone()
    out[0] = (0.5 + 0.02 * torch.randn(3, 32, 32)).clamp(0, 1)
    per_image = sharpness(out, tgt, "high_frequency")
    assert float(per_image[0]) > 1e3
    num, den = sharpness_terms(out, tgt, "high_frequency")
    res = evaluate_images(out, tgt)
    assert res["sharp_hf"] == pytest.approx(float(num.sum() / den.sum()), rel=1e-5)
    assert res["sharp_hf"] < 10 < float(per_image.mean())
    assert 0 < res["artifact"] < float(artifact_energy(out, tgt).mean())
    m = ImageMetrics(kinds=("sharp_hf", "artifact", "mae"))
    m.update(out[:1], tgt[:1])
    m.update(out[1:], tgt[1:])
    got = m.compute()
    assert float(got["sharp_hf"]) == pytest.approx(res["sharp_hf"], rel=1e-5)
    assert float(got["artifact"]) == pytest.approx(res["artifact"], rel=1e-5)


def test_empty_skip_leaves_out_images_whose_mask_selects_nothing() -> None:
    """A thin hole has no SSIM window centre: 'raise' says so, 'skip' averages the other images."""
    import pytest

    from reconloss import MaskError
    from reconloss.metrics import evaluate_images, ssim

    torch.manual_seed(3)
    out = torch.rand(2, 3, 32, 32)
    tgt = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[0, :, 8:24, 8:24] = 1.0  # big hole: SSIM window centres inside
    mask[1, :, 0:2, 0:2] = 1.0  # corner sliver: none after the window crop
    with pytest.raises(MaskError):
        evaluate_images(out, tgt, mask=mask)
    got = evaluate_images(out, tgt, mask=mask, empty="skip")
    only_first = float(ssim(out[:1], tgt[:1], mask=mask[:1]).mean())
    assert abs(got["ssim"] - only_first) < 1e-12
    # mae still counts both images (both masks select pixels)
    both = float(((out - tgt).abs() * mask).flatten(1).sum(1).div(mask.flatten(1).sum(1) * 3).mean())
    assert abs(got["mae"] - both) < 1e-6
