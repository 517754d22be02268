"""Sharpness ratios, radial power spectrum and artifact energy on real photographs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata
from skimage.filters import gaussian

from reconloss._checks import InputTypeError, NonFiniteError, ParameterError, ShapeError
from reconloss.metrics import artifact_energy, radial_power_spectrum, sharpness
from reconloss.metrics.sharpness import (
    SHARPNESS_KINDS,
    gradient_energy,
    high_frequency_energy,
    laplacian_variance,
)

SIGMAS = (0.5, 1.0, 2.0, 4.0)


def _crop(name: str, size: int = 96) -> torch.Tensor:
    img = getattr(skdata, name)().astype(np.float64) / 255.0
    if img.ndim == 2:
        img = img[..., None]
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return torch.from_numpy(img[top : top + size, left : left + size].transpose(2, 0, 1).copy()).float()


@pytest.fixture(scope="module")
def photos() -> dict[str, torch.Tensor]:
    """Centre crops (1, C, 96, 96) in [0, 1] of three real photographs (gray and colour)."""
    return {name: _crop(name)[None] for name in ("astronaut", "camera", "chelsea")}


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    out = gaussian(x[0].numpy().astype(np.float64), sigma=sigma, channel_axis=0, preserve_range=True)
    return torch.from_numpy(out).float()[None]


@pytest.mark.parametrize("kind", SHARPNESS_KINDS)
def test_target_itself_is_one(photos: dict[str, torch.Tensor], kind: str) -> None:
    for x in photos.values():
        torch.testing.assert_close(sharpness(x, x, kind), torch.ones(1))


@pytest.mark.parametrize("kind", SHARPNESS_KINDS)
def test_strictly_decreasing_with_blur(photos: dict[str, torch.Tensor], kind: str) -> None:
    for name, x in photos.items():
        vals = [float(sharpness(_blur(x, s), x, kind)) for s in SIGMAS]
        assert vals[0] < 1.0, (name, vals)
        assert all(a > b for a, b in zip(vals, vals[1:])), (name, kind, vals)
        assert vals[-1] >= 0.0


@pytest.mark.parametrize("kind", SHARPNESS_KINDS)
def test_unsharp_mask_increases(photos: dict[str, torch.Tensor], kind: str) -> None:
    for name, x in photos.items():
        sharpened = x + 0.8 * (x - _blur(x, 1.0))
        assert float(sharpness(sharpened, x, kind)) > 1.05, name


def test_batch_of_images_is_per_image(photos: dict[str, torch.Tensor]) -> None:
    x = torch.cat([photos["astronaut"], photos["chelsea"]])
    blurred = torch.cat([_blur(x[:1], 2.0), x[1:]])
    for kind in SHARPNESS_KINDS:
        r = sharpness(blurred, x, kind)
        assert r.shape == (2,)
        assert float(r[0]) < 0.9
        torch.testing.assert_close(r[1], torch.tensor(1.0))


def test_scale_invariant_and_gray_equals_luminance() -> None:
    x = torch.rand(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32)
    for kind in SHARPNESS_KINDS:
        torch.testing.assert_close(sharpness(3 * x, 3 * y, kind), sharpness(x, y, kind), rtol=1e-4, atol=1e-6)
    gray = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(gradient_energy(gray.expand(1, 3, 16, 16)), gradient_energy(gray), rtol=1e-5, atol=1e-7)


def test_statistics_closed_forms() -> None:
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16).contiguous()
    torch.testing.assert_close(gradient_energy(ramp), torch.tensor([1.0]))  # one unit per pixel
    torch.testing.assert_close(laplacian_variance(ramp), torch.tensor([0.0]))  # linear: Laplacian 0
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float().view(1, 1, 16, 16)
    hf = high_frequency_energy(checker)
    torch.testing.assert_close(hf, checker.var(unbiased=False).view(1), rtol=0.05, atol=0)  # all energy at Nyquist


def test_flat_images_give_one_not_nan() -> None:
    flat = torch.full((1, 3, 16, 16), 0.5)
    for kind in SHARPNESS_KINDS:
        torch.testing.assert_close(sharpness(flat, flat, kind), torch.ones(1))


def test_white_noise_spectrum_is_flat() -> None:
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(16, 3, 64, 64, generator=g) * 0.1
    freqs, power = radial_power_spectrum(noise)
    assert freqs.shape == (33,) and power.shape == (16, 33)
    torch.testing.assert_close(freqs[[0, -1]], torch.tensor([0.0, 0.5]))
    mean = power.mean(0)[2:]  # bin 1 shares the Hann window's main lobe with the removed DC term
    level = 0.01 / (64 * 64)  # variance / (H W) per FFT bin
    assert float(mean.min()) > 0.8 * level and float(mean.max()) < 1.2 * level
    assert float(power.mean(0)[0]) < 1e-6 * level  # the (window-weighted) mean was subtracted


def test_blurred_spectrum_falls_off(photos: dict[str, torch.Tensor]) -> None:
    x = photos["camera"]
    freqs, p_sharp = radial_power_spectrum(x)
    _, p_blur = radial_power_spectrum(_blur(x, 2.0))
    ratio = (p_blur / p_sharp)[0]
    hi = freqs > 0.25
    assert float(ratio[hi].max()) < 0.05
    assert float(ratio[1:4].min()) > 0.5
    # Natural images fall off with frequency too.
    assert float(p_sharp[0, 1:5].mean()) > 100 * float(p_sharp[0, -5:].mean())


def test_spectrum_bins_and_window() -> None:
    x = torch.rand(2, 3, 16, 24)
    freqs, power = radial_power_spectrum(x, n_bins=5)
    torch.testing.assert_close(freqs, torch.tensor([0.0, 0.125, 0.25, 0.375, 0.5]))
    assert power.shape == (2, 5) and bool((power >= 0).all())
    _, raw = radial_power_spectrum(x, window=False)
    assert raw.shape == (2, 9)
    with pytest.raises(ParameterError, match="n_bins"):
        radial_power_spectrum(x, n_bins=10)
    with pytest.raises(ParameterError, match="n_bins"):
        radial_power_spectrum(x, n_bins=1)


def test_artifact_zero_for_target_and_blur(photos: dict[str, torch.Tensor]) -> None:
    for x in photos.values():
        assert float(artifact_energy(x, x)) == 0.0
        for s in SIGMAS:
            assert float(artifact_energy(_blur(x, s), x)) < 1e-3
    # The 'error' mode counts missing detail too.
    x = photos["chelsea"]
    assert float(artifact_energy(_blur(x, 2.0), x, mode="error")) > 0.5


def test_artifact_positive_for_noise_and_ringing(photos: dict[str, torch.Tensor]) -> None:
    g = torch.Generator().manual_seed(0)
    for x in photos.values():
        weak = float(artifact_energy(x + 0.01 * torch.randn(x.shape, generator=g), x))
        strong = float(artifact_energy(x + 0.05 * torch.randn(x.shape, generator=g), x))
        assert 0.0 < weak < strong
        rows = torch.arange(x.shape[-2]).view(1, 1, -1, 1).float()
        ringing = x + 0.03 * torch.cos(torch.pi * 0.8 * rows)  # 0.4 cycles/pixel stripes
        assert float(artifact_energy(ringing, x)) > 0.05


def test_artifact_blurred_plus_noise_counts_the_noise(photos: dict[str, torch.Tensor]) -> None:
    x = photos["astronaut"]
    noisy_blur = _blur(x, 1.0) + 0.05 * torch.randn_like(x)
    assert float(artifact_energy(noisy_blur, x)) > 0.1


def test_validation_errors() -> None:
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ShapeError, match="shape"):
        sharpness(x, torch.rand(1, 1, 16, 16))
    with pytest.raises(ShapeError, match="4 dimensions"):
        sharpness(x[0], x[0])
    with pytest.raises(ParameterError, match="kind"):
        sharpness(x, x, "sobel")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="at least 8x8"):
        sharpness(torch.rand(1, 1, 6, 6), torch.rand(1, 1, 6, 6), "high_frequency")
    with pytest.raises(ShapeError, match="at least 8x8"):
        radial_power_spectrum(torch.rand(1, 1, 7, 16))
    with pytest.raises(ShapeError, match="at least 8x8"):
        artifact_energy(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
    with pytest.raises(ParameterError, match="cutoff"):
        artifact_energy(x, x, cutoff=1.5)
    with pytest.raises(ParameterError, match="mode"):
        artifact_energy(x, x, mode="missing")  # type: ignore[arg-type]
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="output"):
        sharpness(bad, x)
    with pytest.raises(InputTypeError):
        radial_power_spectrum(x.numpy())  # type: ignore[arg-type]
    # 3x3 filters work on tiny images, the spectrum does not.
    assert sharpness(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), "gradient").shape == (1,)


def test_half_precision_is_computed_in_float32() -> None:
    x = torch.rand(1, 3, 16, 16)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    r16 = sharpness(y.half(), x.half(), "high_frequency")
    assert r16.dtype == torch.float32
    torch.testing.assert_close(r16, sharpness(y, x, "high_frequency"), rtol=2e-2, atol=0)
