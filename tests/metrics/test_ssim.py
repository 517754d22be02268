"""SSIM / MS-SSIM / PSNR / MAE / MSE metrics: references, fused == eager, masks, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import reconloss
from reconloss._checks import DTypeError, MaskError, NonFiniteError, ParameterError, RangeError, ShapeError
from reconloss.metrics._ssim import _FusedSSIM, ms_ssim_weights, ssim_per_channel
from reconloss.metrics.fidelity import mae, ms_ssim, mse, psnr, ssim

skimage = pytest.importorskip("skimage")
from skimage import data as skdata  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402


def _photo(name: str, size: int) -> np.ndarray:
    img = {"astronaut": skdata.astronaut, "camera": skdata.camera, "chelsea": skdata.chelsea}[name]()
    if img.ndim == 2:
        img = img[:, :, None]
    r0, c0 = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[r0 : r0 + size, c0 : c0 + size].astype(np.float64) / 255.0


def _pair(name: str, size: int, sigma: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    img = _photo(name, size)
    rng = np.random.default_rng(1)
    noisy = np.clip(img + rng.normal(0, sigma, img.shape), 0, 1)
    return img, noisy


def _t(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None].to(dtype)


@pytest.mark.parametrize("name", ["astronaut", "camera", "chelsea"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_matches_skimage_on_photographs(name: str, dtype: torch.dtype) -> None:
    img, noisy = _pair(name, 96)
    ref = structural_similarity(
        img, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2
    )
    got = ssim(_t(noisy, dtype), _t(img, dtype))
    assert got.shape == (1,)
    assert abs(float(got) - ref) < 1e-4


def test_ssim_data_range_255_matches_skimage() -> None:
    img, noisy = _pair("astronaut", 64)
    ref = structural_similarity(
        img * 255, noisy * 255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2
    )
    assert abs(float(ssim(_t(noisy * 255), _t(img * 255), data_range=255.0)) - ref) < 1e-6


def test_ssim_and_ms_ssim_match_pytorch_msssim() -> None:
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    a, b = _pair("chelsea", 192, 0.1)
    c, d = _pair("astronaut", 192, 0.05)
    x = torch.cat([_t(b), _t(d)])
    y = torch.cat([_t(a), _t(c)])
    ref = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ssim(x, y), ref, atol=1e-4)
    ref_ms = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ms_ssim(x, y), ref_ms, atol=1e-4)
    # 161 px (odd sizes at every scale) still works
    assert ms_ssim(x[..., :161, :161], y[..., :161, :161]).shape == (2,)


def test_fused_equals_eager_values_and_gradients() -> None:
    x = torch.rand(2, 3, 20, 18, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 3, 20, 18, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, 1, 10, 8, dtype=torch.float64)
    for weight in (None, w):
        outs = {}
        for impl in ("fused", "eager"):
            s, cs = ssim_per_channel(x, y, weight=weight, impl=impl)
            loss = (s * torch.arange(1.0, 4.0, dtype=torch.float64)).sum() + 0.3 * cs.sum()
            gx, gy = torch.autograd.grad(loss, (x, y))
            outs[impl] = (s.detach(), cs.detach(), gx, gy)
        for a, b in zip(outs["fused"], outs["eager"]):
            assert torch.allclose(a, b, atol=1e-10)


def test_fused_gradcheck_float64() -> None:
    x = torch.rand(1, 2, 12, 13, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 2, 12, 13, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 2, 2, 3, dtype=torch.float64)

    def both(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _FusedSSIM.apply(a, b, None, 11, 1.5, 1e-4, 9e-4)

    assert torch.autograd.gradcheck(both, (x, y))
    assert torch.autograd.gradcheck(lambda a: _FusedSSIM.apply(a, y.detach(), w, 11, 1.5, 1e-4, 9e-4)[0], (x,))
    assert torch.autograd.gradcheck(lambda b: _FusedSSIM.apply(x.detach(), b, w, 11, 1.5, 1e-4, 9e-4)[1], (y,))


def test_ms_ssim_anticorrelated_is_finite_and_in_range() -> None:
    img = _t(_photo("camera", 64))
    x = img.clone().requires_grad_(True)
    v = ms_ssim(x, 1 - img, scales=3)
    assert torch.isfinite(v).all() and 0.0 <= float(v.detach()) <= 1.0
    v.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_ms_ssim_small_images_policy() -> None:
    x = torch.rand(2, 3, 64, 64)
    with pytest.raises(ShapeError, match=r"161x161.*scales=3"):
        ms_ssim(x, x)
    assert torch.allclose(ms_ssim(x, x, scales=3), torch.ones(2))
    y = (x + 0.1 * torch.rand_like(x)).clamp(0, 1)
    v = ms_ssim(x, y, scales=3)
    assert v.shape == (2,) and bool((v > 0).all()) and bool((v < 1).all())
    assert math.isclose(sum(ms_ssim_weights(3)), 1.0)
    assert torch.allclose(ms_ssim(x, y, weights=ms_ssim_weights(3)), v)
    with pytest.raises(ParameterError, match="scales"):
        ms_ssim(x, y, scales=6)
    with pytest.raises(ShapeError, match="41x41"):
        ms_ssim(x[..., :40, :40], y[..., :40, :40], scales=3)


def test_all_ones_mask_equals_unmasked() -> None:
    x = torch.rand(2, 3, 32, 32)
    y = (x + 0.2 * torch.rand_like(x)).clamp(0, 1)
    ones = torch.ones(2, 1, 32, 32)
    for f in (ssim, psnr):
        assert torch.allclose(f(x, y, mask=ones), f(x, y), atol=1e-6)
    for f in (mae, mse):
        assert torch.allclose(f(x, y, mask=ones), f(x, y), atol=1e-7)
    assert torch.allclose(ms_ssim(x, y, mask=torch.ones_like(x), scales=2), ms_ssim(x, y, scales=2), atol=1e-6)


def test_masked_ssim_is_mean_over_selected_centres() -> None:
    from reconloss.metrics._ssim import ssim_map

    x = torch.rand(1, 2, 24, 24, dtype=torch.float64)
    y = torch.rand(1, 2, 24, 24, dtype=torch.float64)
    mask = torch.zeros(1, 1, 24, 24, dtype=torch.bool)
    mask[..., 6:12, 8:20] = True
    expected = ssim_map(x, y)[..., 1:7, 3:14].mean()
    assert torch.allclose(ssim(x, y, mask=mask), expected.reshape(1))
    with pytest.raises(MaskError, match="window centre"):
        ssim(x, y, mask=torch.zeros(1, 1, 24, 24))
    assert torch.isnan(ssim(x, y, mask=torch.zeros(1, 1, 24, 24), empty="nan")).all()
    assert float(ssim(x, y, mask=torch.zeros(1, 1, 24, 24), empty="zero")) == 0.0


def test_psnr_matches_skimage_and_identical_is_inf() -> None:
    img, noisy = _pair("astronaut", 48)
    ref = peak_signal_noise_ratio(img, noisy, data_range=1.0)
    assert abs(float(psnr(_t(noisy), _t(img))) - ref) < 1e-8
    x = torch.rand(2, 3, 8, 8)
    assert torch.isinf(psnr(x, x)).all()


def test_mae_mse_values() -> None:
    x = torch.zeros(2, 1, 4, 4)
    y = torch.full((2, 1, 4, 4), 0.5)
    assert torch.allclose(mae(x, y), torch.full((2,), 0.5))
    assert torch.allclose(mse(x, y), torch.full((2,), 0.25))


def test_identical_and_half_precision() -> None:
    x = torch.rand(2, 3, 24, 24)
    assert torch.allclose(ssim(x, x), torch.ones(2))
    xb = x.to(torch.bfloat16)
    v = ssim(xb, (xb * 0.9))
    assert v.dtype == torch.bfloat16 and v.shape == (2,)


def test_bad_inputs() -> None:
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ShapeError, match="4 dimensions"):
        ssim(x[0], x[0])
    with pytest.raises(ShapeError, match="at least 11x11"):
        ssim(x[..., :10], x[..., :10])
    with pytest.raises(RangeError, match=r"\[0, 1\]"):
        ssim(x * 2, x)
    with pytest.raises(RangeError, match="target"):
        ms_ssim(x, x * 3, scales=1)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        ssim(bad, x)
    with pytest.raises(ShapeError, match="shape"):
        ssim(x, x[:, :1])
    with pytest.raises(ParameterError, match="data_range"):
        ssim(x, x, data_range=0.0)
    with pytest.raises(ParameterError, match="data_range"):
        psnr(x, x, data_range=-1.0)
    with pytest.raises(DTypeError):
        ssim((x * 255).to(torch.uint8), (x * 255).to(torch.uint8))
    with pytest.raises(ParameterError, match="win_size"):
        ssim(x, x, win_size=4)
    with pytest.raises(MaskError):
        ssim(x, x, mask=torch.ones(1, 2, 32, 32))
    with reconloss.value_checks(False):
        assert ssim(x * 2, x).shape == (1,)
