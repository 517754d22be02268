"""Tests of the gradient (edge) loss, the FFT L1 loss and the focal frequency loss."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reconloss import MaskError, ParameterError, ShapeError
from reconloss.losses.frequency import (
    FocalFrequencyLoss,
    FrequencyLoss,
    GradientLoss,
    focal_frequency_loss,
    frequency_loss,
    gradient_loss,
)


def _pair(dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = (2, 3, 6, 7)) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(shape, dtype=dtype), torch.rand(shape, dtype=dtype)


def _grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


# ---------------------------------------------------------------- gradient loss

def test_gradient_reference_value() -> None:
    g, t = _pair(torch.float64)
    gx, gy = _grads(g)
    tx, ty = _grads(t)
    ex, ey = (gx - tx).abs(), (gy - ty).abs()
    expected = (ex.sum() + ey.sum()) / (ex.numel() + ey.numel())
    torch.testing.assert_close(gradient_loss(g, t), expected)
    torch.testing.assert_close(gradient_loss(g, t, reduction="sum"), ex.sum() + ey.sum())


def test_gradient_reduction_shapes_and_none_layout() -> None:
    g, t = _pair(torch.float64)
    none = gradient_loss(g, t, reduction="none")
    assert none.shape == g.shape
    assert gradient_loss(g, t).shape == () and gradient_loss(g, t, reduction="sum").shape == ()
    torch.testing.assert_close(none.sum(), gradient_loss(g, t, reduction="sum"))
    gx, gy = _grads(g - t)
    # last row holds only |dx|, last column only |dy|, bottom-right corner is 0
    torch.testing.assert_close(none[..., -1, :-1], gx[..., -1, :].abs())
    torch.testing.assert_close(none[..., :-1, -1], gy[..., :, -1].abs())
    assert (none[..., -1, -1] == 0).all()


def test_gradient_zero_for_constant_offset_and_perfect() -> None:
    g, _ = _pair()
    assert float(gradient_loss(g, g.clone())) == 0.0
    assert float(gradient_loss(g, g + 0.25)) == pytest.approx(0.0, abs=1e-6)


def test_gradient_module_equals_function() -> None:
    g, t = _pair()
    mask = torch.rand(2, 1, 6, 7) > 0.3
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(
            GradientLoss(reduction=reduction)(g, t, mask=mask), gradient_loss(g, t, reduction=reduction, mask=mask)
        )


def test_gradient_mask_counts_pairs_with_both_pixels_selected() -> None:
    g, t = _pair(torch.float64)
    mask = torch.zeros(2, 1, 6, 7, dtype=torch.float64)
    mask[:, :, 1:4, 2:6] = 1  # a 3x4 box: 3*3 horizontal and 2*4 vertical pairs inside it
    inside = gradient_loss(g[..., 1:4, 2:6], t[..., 1:4, 2:6], reduction="sum")
    torch.testing.assert_close(gradient_loss(g, t, mask=mask, reduction="sum"), inside)
    torch.testing.assert_close(gradient_loss(g, t, mask=mask), inside / (2 * 3 * (3 * 3 + 2 * 4)))
    # changing a pixel outside the box does not change the loss
    g2 = g.clone()
    g2[..., 0, 0] += 5
    torch.testing.assert_close(gradient_loss(g2, t, mask=mask), gradient_loss(g, t, mask=mask))


def test_gradient_all_ones_mask_equals_no_mask() -> None:
    g, t = _pair(torch.float64)
    ones = torch.ones(2, 1, 6, 7, dtype=torch.float64)
    torch.testing.assert_close(gradient_loss(g, t, mask=ones), gradient_loss(g, t))
    torch.testing.assert_close(gradient_loss(g, t, mask=ones, reduction="none"), gradient_loss(g, t, reduction="none"))


def test_gradient_empty_mask_policies() -> None:
    g, t = _pair()
    isolated = torch.zeros(2, 1, 6, 7)
    isolated[:, :, ::2, ::2] = 1  # no two selected pixels are neighbours: no gradient pair
    with pytest.raises(MaskError, match="at least one"):
        gradient_loss(g, t, mask=isolated)
    assert float(gradient_loss(g, t, mask=isolated, empty="zero")) == 0.0
    assert math.isnan(float(gradient_loss(g, t, mask=isolated, empty="nan")))


@pytest.mark.parametrize("use_mask", [False, True])
def test_gradient_gradcheck(use_mask: bool) -> None:
    g = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 4, 4, dtype=torch.float64)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.float64) if use_mask else None
    if mask is not None:
        mask[..., 0, :] = 0
    for reduction in ("mean", "none"):
        assert torch.autograd.gradcheck(lambda x: gradient_loss(x, t, reduction=reduction, mask=mask), (g,))


def test_gradient_error_too_small() -> None:
    with pytest.raises(ShapeError, match="at least 2x2 pixels for finite-difference gradients, got 1x5"):
        gradient_loss(torch.rand(1, 1, 1, 5), torch.rand(1, 1, 1, 5))


def test_gradient_error_mask_and_weight() -> None:
    g, t = _pair()
    m = torch.ones(2, 1, 6, 7)
    with pytest.raises(MaskError, match="either mask or weight"):
        gradient_loss(g, t, mask=m, weight=m)


def test_gradient_error_shape_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"target must have the shape of generated \(1, 3, 4, 4\), got \(1, 1, 4, 4\)"):
        gradient_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 1, 4, 4))


def test_gradient_error_not_4d() -> None:
    with pytest.raises(ShapeError, match="must have 4 dimensions"):
        gradient_loss(torch.rand(4, 4), torch.rand(4, 4))


# ---------------------------------------------------------------- frequency loss

def test_frequency_reference_value() -> None:
    g, t = _pair(torch.float64)
    expected = (torch.fft.fft2(g, norm="ortho") - torch.fft.fft2(t, norm="ortho")).abs().mean()
    torch.testing.assert_close(frequency_loss(g, t), expected)
    for norm in ("backward", "forward"):
        ref = (torch.fft.fft2(g, norm=norm) - torch.fft.fft2(t, norm=norm)).abs().mean()
        torch.testing.assert_close(frequency_loss(g, t, norm=norm), ref)


def test_frequency_reduction_shapes() -> None:
    g, t = _pair()
    none = frequency_loss(g, t, reduction="none")
    assert none.shape == g.shape and none.dtype == g.dtype
    torch.testing.assert_close(frequency_loss(g, t, reduction="sum"), none.sum())
    torch.testing.assert_close(frequency_loss(g, t), none.mean())


def test_frequency_parseval_with_ortho() -> None:
    g, t = _pair(torch.float64)
    spec = frequency_loss(g, t, reduction="none")
    torch.testing.assert_close((spec**2).sum(), ((g - t) ** 2).sum())


def test_frequency_module_equals_function_and_perfect() -> None:
    g, t = _pair()
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(FrequencyLoss(reduction=reduction)(g, t), frequency_loss(g, t, reduction=reduction))
    assert float(frequency_loss(g, g.clone())) == 0.0


def test_frequency_half_precision() -> None:
    g, t = _pair(torch.bfloat16)
    out = frequency_loss(g, t)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), frequency_loss(g.float(), t.float()), rtol=1e-2, atol=1e-2)


def test_frequency_gradcheck_and_finite_grad_at_perfect() -> None:
    g = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 4, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: frequency_loss(x, t), (g,))
    frequency_loss(g, g.detach().clone()).backward()
    assert g.grad is not None and torch.isfinite(g.grad).all()


def test_frequency_error_norm() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="norm must be one of 'ortho', 'backward', 'forward', got 'unit'"):
        frequency_loss(g, t, norm="unit")  # type: ignore[arg-type]


def test_frequency_error_reduction() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="reduction must be one of"):
        FrequencyLoss(reduction="max")  # type: ignore[arg-type]


# ---------------------------------------------------------------- focal frequency loss

def _focal_reference(g: torch.Tensor, t: torch.Tensor, alpha: float) -> torch.Tensor:
    fg = torch.fft.fft2(g, norm="ortho")
    ft = torch.fft.fft2(t, norm="ortho")
    diff = fg - ft
    dist = diff.real**2 + diff.imag**2
    w = dist.sqrt() ** alpha
    w = w / w.amax(dim=(1, 2, 3), keepdim=True)
    return (w * dist).mean()


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
def test_focal_reference_value(alpha: float) -> None:
    g, t = _pair(torch.float64)
    torch.testing.assert_close(focal_frequency_loss(g, t, alpha=alpha), _focal_reference(g, t, alpha))


def test_focal_alpha_zero_is_mean_squared_spectral_distance() -> None:
    g, t = _pair(torch.float64)
    # with ortho FFT and w = 1 this is the MSE by Parseval
    torch.testing.assert_close(focal_frequency_loss(g, t, alpha=0.0), ((g - t) ** 2).mean())


def test_focal_weights_in_unit_range_and_bounded_by_distance() -> None:
    g, t = _pair(torch.float64)
    none = focal_frequency_loss(g, t, reduction="none")
    dist = focal_frequency_loss(g, t, alpha=0.0, reduction="none")
    assert none.shape == g.shape
    assert (none >= 0).all() and (none <= dist + 1e-12).all()
    torch.testing.assert_close(focal_frequency_loss(g, t, reduction="sum"), none.sum())


def test_focal_weight_is_detached() -> None:
    g = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 4, 4, dtype=torch.float64)
    focal_frequency_loss(g, t, alpha=1.0).backward()
    diff = torch.fft.fft2(g.detach() - t, norm="ortho")
    w = diff.abs()
    w = (w / w.max()).detach()
    g2 = g.detach().clone().requires_grad_()
    d2 = torch.fft.fft2(g2 - t, norm="ortho")
    (w * (d2.real**2 + d2.imag**2)).mean().backward()
    torch.testing.assert_close(g.grad, g2.grad)


def test_focal_gradcheck_alpha_zero() -> None:
    g = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 4, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: focal_frequency_loss(x, t, alpha=0.0), (g,))


def test_focal_perfect_prediction_and_module() -> None:
    g, t = _pair()
    out = focal_frequency_loss(g, g.clone())
    assert float(out) == 0.0 and not torch.isnan(out)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(
            FocalFrequencyLoss(alpha=0.5, reduction=reduction)(g, t),
            focal_frequency_loss(g, t, alpha=0.5, reduction=reduction),
        )


def test_focal_error_alpha() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="alpha must be >= 0, got -1"):
        focal_frequency_loss(g, t, alpha=-1.0)
    with pytest.raises(ParameterError, match="alpha must be >= 0"):
        FocalFrequencyLoss(alpha=-1.0)


# ---------------------------------------------------------------- properties

@given(seed=st.integers(0, 10_000), shift=st.floats(-1, 1, width=32))
def test_property_symmetry_and_shift(seed: int, shift: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    g = torch.rand(1, 2, 5, 5, generator=gen, dtype=torch.float64)
    t = torch.rand(1, 2, 5, 5, generator=gen, dtype=torch.float64)
    for fn in (gradient_loss, frequency_loss, focal_frequency_loss):
        a = fn(g, t)
        assert float(a) >= 0
        torch.testing.assert_close(a, fn(t, g))
    # adding the same image to both does not change any of them
    torch.testing.assert_close(gradient_loss(g + shift, t + shift), gradient_loss(g, t))
    torch.testing.assert_close(frequency_loss(g + shift, t + shift), frequency_loss(g, t))
