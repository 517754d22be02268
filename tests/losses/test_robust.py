"""Tests of Barron's general robust loss and the adaptive robust loss."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reconloss import DeviceError, InputTypeError, MaskError, ParameterError, ShapeError, value_checks
from reconloss.losses.robust import (
    AdaptiveRobustLoss,
    BarronLoss,
    adaptive_robust_loss,
    barron_loss,
    barron_rho,
    log_partition,
)

# K1(1), modified Bessel function of the second kind: Z(alpha=1) = 2 e K1(1)
BESSEL_K1_AT_1 = 0.6019072301972346


def _pair(dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = (2, 3, 5, 6)) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(shape, dtype=dtype), torch.rand(shape, dtype=dtype)


# ---------------------------------------------------------------- closed forms, special cases

CLOSED_FORMS = {
    2.0: lambda z: 0.5 * z**2,
    1.0: lambda z: torch.sqrt(z**2 + 1) - 1,
    0.0: lambda z: torch.log(0.5 * z**2 + 1),
    -2.0: lambda z: 2 * z**2 / (z**2 + 4),
    -math.inf: lambda z: 1 - torch.exp(-0.5 * z**2),
    math.inf: lambda z: torch.exp(0.5 * z**2) - 1,
}


@pytest.mark.parametrize("alpha", list(CLOSED_FORMS))
@pytest.mark.parametrize("as_tensor", [False, True])
def test_special_cases_match_closed_forms(alpha: float, as_tensor: bool) -> None:
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    scale = 0.7
    a = torch.tensor(alpha, dtype=torch.float64) if as_tensor else alpha
    expected = CLOSED_FORMS[alpha](x / scale)
    torch.testing.assert_close(barron_rho(x, a, scale), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.5, 3.0, -1.0, -5.0])
def test_general_formula_matches_direct_evaluation(alpha: float) -> None:
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    b = abs(alpha - 2)
    direct = b / alpha * (((x / 0.3) ** 2 / b + 1) ** (alpha / 2) - 1)
    torch.testing.assert_close(barron_rho(x, alpha, 0.3), direct, rtol=1e-10, atol=1e-12)


def _naive_rho(x: torch.Tensor, alpha: float) -> torch.Tensor:
    b = abs(alpha - 2)
    return b / alpha * ((x.double() ** 2 / b + 1) ** (alpha / 2) - 1)


@pytest.mark.parametrize("center", [0.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_accurate_near_zero_and_two(center: float, dtype: torch.dtype) -> None:
    x = torch.linspace(-5, 5, 101, dtype=dtype)
    rtol = 1e-5 if dtype == torch.float32 else 1e-9
    for d in (1e-2, 1e-3, 1e-5):
        for a in (center - d, center + d):
            reference = _naive_rho(x, a).to(dtype)
            for alpha in (a, torch.tensor(a, dtype=dtype)):
                torch.testing.assert_close(barron_rho(x, alpha, 1.0), reference, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("center", [0.0, 2.0])
def test_continuous_into_zero_and_two(center: float) -> None:
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    at = barron_rho(x, center, 1.0)
    gaps = []
    for d in (1e-2, 1e-4, 1e-6, 1e-9):
        near = torch.stack([barron_rho(x, center - d, 1.0), barron_rho(x, center + d, 1.0)])
        gaps.append(float((near - at).abs().max()))
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[-1] < 1e-6


def test_tiny_alpha_below_epsilon_is_the_log_limit() -> None:
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    torch.testing.assert_close(barron_rho(x, 1e-20, 1.0), barron_rho(x, 0.0, 1.0), rtol=1e-12, atol=1e-12)


def test_loss_alpha_two_is_half_scaled_mse() -> None:
    g, t = _pair(torch.float64)
    expected = 0.5 * ((g - t) / 0.1) ** 2
    torch.testing.assert_close(barron_loss(g, t, alpha=2.0, scale=0.1), expected.mean())


# ---------------------------------------------------------------- reductions, masks, module

def test_reduction_shapes() -> None:
    g, t = _pair()
    assert barron_loss(g, t, reduction="mean").shape == ()
    assert barron_loss(g, t, reduction="sum").shape == ()
    assert barron_loss(g, t, reduction="none").shape == g.shape
    none = barron_loss(g, t, reduction="none")
    torch.testing.assert_close(barron_loss(g, t, reduction="sum"), none.sum())
    torch.testing.assert_close(barron_loss(g, t, reduction="mean"), none.mean())


def test_per_channel_alpha_and_scale() -> None:
    g, t = _pair(torch.float64)
    alpha = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    scale = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    out = barron_loss(g, t, alpha=alpha, scale=scale, reduction="none")
    for c in range(3):
        expected = barron_loss(g[:, c : c + 1], t[:, c : c + 1], alpha=float(alpha[c]), scale=float(scale[c]), reduction="none")
        torch.testing.assert_close(out[:, c : c + 1], expected)


def test_module_equals_function() -> None:
    g, t = _pair()
    mask = torch.rand(2, 1, 5, 6) > 0.5
    for reduction in ("mean", "sum", "none"):
        mod = BarronLoss(alpha=0.5, scale=0.2, reduction=reduction)
        torch.testing.assert_close(mod(g, t, mask=mask), barron_loss(g, t, alpha=0.5, scale=0.2, reduction=reduction, mask=mask))


def test_perfect_prediction_is_zero() -> None:
    g, _ = _pair()
    for alpha in (-math.inf, -2.0, 0.0, 0.5, 1.0, 2.0, 4.0):
        assert float(barron_loss(g, g.clone(), alpha=alpha)) == 0.0


def test_masked_mean_divides_by_selected_elements() -> None:
    g, t = _pair(torch.float64)
    mask = torch.zeros(2, 1, 5, 6, dtype=torch.float64)
    mask[:, :, 1:3, 2:5] = 1
    elem = barron_loss(g, t, reduction="none")
    expected = (elem * mask).sum() / (mask.sum() * 3)
    torch.testing.assert_close(barron_loss(g, t, mask=mask), expected)
    assert barron_loss(g, t, mask=mask, reduction="none").shape == g.shape


def test_all_zero_mask_policies() -> None:
    g, t = _pair()
    zero = torch.zeros(2, 1, 5, 6)
    with pytest.raises(MaskError, match="at least one"):
        barron_loss(g, t, mask=zero)
    assert float(barron_loss(g, t, mask=zero, empty="zero")) == 0.0
    assert math.isnan(float(barron_loss(g, t, mask=zero, empty="nan")))
    assert float(BarronLoss(empty="zero")(g, t, mask=zero)) == 0.0


def test_weight_is_accepted() -> None:
    g, t = _pair(torch.float64)
    w = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    elem = barron_loss(g, t, reduction="none")
    torch.testing.assert_close(barron_loss(g, t, weight=w), (elem * w).sum() / w.sum())


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("alpha", [-math.inf, -2.0, 0.0, 1e-3, 0.5, 1.0, 2.0 - 1e-3, 2.0, 2.0 + 1e-3, 3.0])
def test_gradcheck_inputs(alpha: float) -> None:
    g = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    mask = (torch.rand(1, 1, 3, 3) > 0.3).double()
    mask[0, 0, 0, 0] = 1
    assert torch.autograd.gradcheck(lambda x: barron_loss(x, t, alpha=alpha, scale=0.3, mask=mask), (g,))
    assert torch.autograd.gradcheck(lambda x: barron_loss(x, t, alpha=alpha, scale=0.3, reduction="none"), (g,))


@pytest.mark.parametrize("alpha0", [1e-3, 0.7, 1.5, 2.0 - 1e-3, 2.0 + 1e-3, -1.0])
def test_gradcheck_alpha_and_scale_tensors(alpha0: float) -> None:
    g = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    alpha = torch.tensor([alpha0, alpha0 * 0.9], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([0.2, 0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a, s: barron_loss(x, t, alpha=a, scale=s), (g, alpha, scale))


def test_no_nan_gradient_at_perfect_prediction() -> None:
    g = torch.rand(1, 3, 4, 4, requires_grad=True)
    for alpha in (-math.inf, 0.0, 1.0, 2.0, torch.tensor([0.0, 1.0, 2.0])):
        g.grad = None
        barron_loss(g, g.detach().clone(), alpha=alpha).backward()
        assert g.grad is not None and torch.isfinite(g.grad).all()


# ---------------------------------------------------------------- errors

def test_error_scale_not_positive() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="scale must be > 0, got 0"):
        barron_loss(g, t, scale=0.0)
    with pytest.raises(ParameterError, match="scale must be finite and > 0"):
        barron_loss(g, t, scale=torch.tensor([0.1, -0.1, 0.1]))


def test_error_alpha_nan() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="alpha must be a finite number, got nan"):
        barron_loss(g, t, alpha=float("nan"))
    with pytest.raises(ParameterError, match="alpha must not be NaN"):
        barron_loss(g, t, alpha=torch.tensor([0.0, float("nan"), 1.0]))


def test_error_alpha_wrong_shape() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match=r"alpha must be .* shape \(3,\).*got a tensor of shape \(2,\)"):
        barron_loss(g, t, alpha=torch.tensor([1.0, 2.0]))


def test_error_alpha_wrong_type() -> None:
    g, t = _pair()
    with pytest.raises(InputTypeError, match="alpha must be a number or a torch.Tensor, got str"):
        barron_loss(g, t, alpha="1")  # type: ignore[arg-type]


def test_error_shape_mismatch() -> None:
    g = torch.rand(2, 3, 4, 4)
    with pytest.raises(ShapeError, match=r"target must have the shape of generated \(2, 3, 4, 4\), got \(2, 1, 4, 4\)"):
        barron_loss(g, torch.rand(2, 1, 4, 4))


def test_error_mask_and_weight() -> None:
    g, t = _pair()
    m = torch.ones(2, 1, 5, 6)
    with pytest.raises(MaskError, match="either mask or weight"):
        barron_loss(g, t, mask=m, weight=m)


def test_error_bad_mask_shape() -> None:
    g, t = _pair()
    with pytest.raises(MaskError, match="mask must have shape"):
        barron_loss(g, t, mask=torch.ones(2, 2, 5, 6))


def test_error_bad_reduction() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="reduction must be one of"):
        barron_loss(g, t, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="reduction must be one of"):
        BarronLoss(reduction="avg")  # type: ignore[arg-type]


def test_error_module_scale() -> None:
    with pytest.raises(ParameterError, match="scale must be > 0"):
        BarronLoss(scale=-1.0)


def test_value_checks_off_skips_tensor_scale_check() -> None:
    g, t = _pair()
    with value_checks(False):
        barron_loss(g, t, scale=torch.tensor([0.1, 0.1, 0.1]))


# ---------------------------------------------------------------- properties

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)


@given(
    x=st.lists(finite, min_size=1, max_size=8),
    alpha=st.one_of(st.sampled_from([-math.inf, -2.0, 0.0, 1.0, 2.0]), st.floats(-10, 10, width=64)),
    scale=st.floats(0.01, 10, width=64),
)
def test_property_non_negative_and_symmetric(x: list[float], alpha: float, scale: float) -> None:
    xt = torch.tensor(x, dtype=torch.float64)
    rho = barron_rho(xt, alpha, scale)
    assert (rho >= 0).all()
    torch.testing.assert_close(rho, barron_rho(-xt, alpha, scale))


@given(alpha=st.floats(-4, 4, width=64), seed=st.integers(0, 1000))
def test_property_all_ones_mask_equals_no_mask(alpha: float, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    g = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    t = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        barron_loss(g, t, alpha=alpha, mask=torch.ones(2, 1, 4, 4, dtype=torch.float64)), barron_loss(g, t, alpha=alpha)
    )


@given(alpha=st.floats(-4, 4, width=64), scale=st.floats(0.05, 5, width=64))
def test_property_symmetric_in_arguments(alpha: float, scale: float) -> None:
    g, t = _pair(torch.float64, (1, 3, 3, 3))
    torch.testing.assert_close(barron_loss(g, t, alpha=alpha, scale=scale), barron_loss(t, g, alpha=alpha, scale=scale))


# ---------------------------------------------------------------- log partition

def test_log_partition_closed_forms() -> None:
    a = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64)
    expected = torch.tensor(
        [0.5 * math.log(2 * math.pi), math.log(math.pi * math.sqrt(2)), math.log(2 * math.e * BESSEL_K1_AT_1)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(log_partition(a), expected, rtol=0, atol=1e-12)


def test_log_partition_matches_brute_force_integration() -> None:
    x = torch.linspace(-2000, 2000, 4_000_001, dtype=torch.float64)
    for alpha in (0.5, 1.5):
        z = torch.trapezoid(torch.exp(-barron_rho(x, alpha, 1.0)), x)
        assert abs(float(log_partition(torch.tensor(alpha, dtype=torch.float64))) - math.log(float(z))) < 1e-7


def test_log_partition_float32_and_shape() -> None:
    a = torch.tensor([[0.001, 1.0], [1.5, 1.999]])
    out = log_partition(a)
    assert out.shape == (2, 2) and out.dtype == torch.float32
    torch.testing.assert_close(out, log_partition(a.double()).float())


def test_log_partition_gradcheck() -> None:
    a = torch.tensor([0.01, 0.5, 1.0, 1.9, 1.999], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(log_partition, (a,))


def test_log_partition_rejects_negative_alpha() -> None:
    with pytest.raises(ParameterError, match="alpha must be >= 0 for the partition function"):
        log_partition(torch.tensor([-0.5]))


# ---------------------------------------------------------------- adaptive loss

def test_adaptive_parameters_and_properties() -> None:
    loss = AdaptiveRobustLoss(num_channels=3, alpha_init=1.0, scale_init=0.5)
    names = {n for n, _ in loss.named_parameters()}
    assert names == {"latent_alpha", "latent_scale"}
    assert len(list(loss.parameters())) == 2
    torch.testing.assert_close(loss.alpha.detach(), torch.full((3,), 1.0))
    torch.testing.assert_close(loss.scale.detach(), torch.full((3,), 0.5))
    default = AdaptiveRobustLoss(num_channels=1)
    torch.testing.assert_close(default.alpha.detach(), torch.tensor([1.0]))
    assert set(loss.state_dict()) == {"latent_alpha", "latent_scale"}


def test_adaptive_nll_formula_and_module_equals_function() -> None:
    g, t = _pair(torch.float64)
    loss = AdaptiveRobustLoss(num_channels=3, alpha_init=0.5, scale_init=0.2).double()
    a = loss.alpha.detach()
    s = loss.scale.detach()
    rho = barron_loss(g, t, alpha=a, scale=s, reduction="none")
    expected = rho + torch.log(s).view(1, 3, 1, 1) + log_partition(a).view(1, 3, 1, 1)
    torch.testing.assert_close(loss(g, t), expected.mean())
    torch.testing.assert_close(adaptive_robust_loss(g, t, alpha=a, scale=s, reduction="none"), expected)
    for reduction in ("mean", "sum", "none"):
        mod = AdaptiveRobustLoss(num_channels=3, alpha_init=0.5, scale_init=0.2, reduction=reduction).double()
        out = mod(g, t)
        assert out.shape == (() if reduction != "none" else g.shape)
        torch.testing.assert_close(out, adaptive_robust_loss(g, t, alpha=a, scale=s, reduction=reduction))


def test_adaptive_gaussian_case_is_gaussian_nll() -> None:
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    nll = adaptive_robust_loss(
        x, torch.zeros_like(x), alpha=torch.tensor([2.0], dtype=torch.float64), scale=torch.tensor([1.0], dtype=torch.float64)
    )
    expected = (0.5 * x**2 + 0.5 * math.log(2 * math.pi)).mean()
    torch.testing.assert_close(nll, expected)


def test_adaptive_nll_can_be_negative() -> None:
    g = torch.rand(2, 3, 4, 4)
    loss = AdaptiveRobustLoss(num_channels=3, scale_init=1e-3)
    assert float(loss(g, g + 1e-4).detach()) < 0
    assert float(loss(g, g).detach()) < 0  # the perfect prediction is not 0 for an NLL


def test_adaptive_gradients_reach_alpha_and_scale() -> None:
    loss = AdaptiveRobustLoss(num_channels=2, alpha_init=0.3, scale_init=0.5).double()
    g = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    value = loss(g, t)
    value.backward()
    assert loss.latent_alpha.grad is not None and (loss.latent_alpha.grad != 0).all()
    assert loss.latent_scale.grad is not None and (loss.latent_scale.grad != 0).all()

    def fn(x: torch.Tensor, la: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
        alpha = 0.001 + 1.998 * torch.sigmoid(la)
        scale = torch.nn.functional.softplus(ls) + 1e-5
        return adaptive_robust_loss(x, t, alpha=alpha, scale=scale)

    la = loss.latent_alpha.detach().clone().requires_grad_()
    ls = loss.latent_scale.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(fn, (g, la, ls))


def test_adaptive_optimizer_step_changes_parameters() -> None:
    loss = AdaptiveRobustLoss(num_channels=3)
    opt = torch.optim.SGD(loss.parameters(), lr=0.1)
    before = [p.detach().clone() for p in loss.parameters()]
    a0, s0 = loss.alpha.detach().clone(), loss.scale.detach().clone()
    g, t = _pair()
    loss(g, t).backward()
    opt.step()
    for b, p in zip(before, loss.parameters()):
        assert not torch.equal(b, p.detach())
    assert not torch.equal(a0, loss.alpha.detach())
    assert not torch.equal(s0, loss.scale.detach())


def test_adaptive_fits_scale_of_gaussian_data() -> None:
    torch.manual_seed(1)
    x = 0.3 * torch.randn(1, 1, 32, 32)
    loss = AdaptiveRobustLoss(num_channels=1, alpha_init=1.9, scale_init=1.0)
    opt = torch.optim.Adam(loss.parameters(), lr=0.1)
    for _ in range(60):
        opt.zero_grad()
        loss(x, torch.zeros_like(x)).backward()
        opt.step()
    assert abs(float(loss.scale.detach()) - 0.3) < 0.05  # near-Gaussian data: scale -> std
    assert float(loss.alpha.detach()) > 1.5


def test_adaptive_masked() -> None:
    g, t = _pair()
    loss = AdaptiveRobustLoss(num_channels=3)
    mask = torch.zeros(2, 1, 5, 6)
    mask[:, :, :2] = 1
    full = loss(g[..., :2, :], t[..., :2, :])
    torch.testing.assert_close(loss(g, t, mask=mask), full)


def test_adaptive_error_channels() -> None:
    loss = AdaptiveRobustLoss(num_channels=3)
    with pytest.raises(ShapeError, match=r"must have shape \(N, 3, H, W\).*got \(2, 1, 4, 4\)"):
        loss(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha_lo": -0.5}, "alpha_lo must be >= 0"),
        ({"alpha_lo": 1.0, "alpha_hi": 0.5}, "alpha_hi must be > 1"),
        ({"alpha_init": 1.999}, "alpha_init must be < 1.999"),
        ({"scale_lo": 0.0}, "scale_lo must be > 0"),
        ({"scale_init": 1e-6}, "scale_init must be > 1e-05"),
        ({"num_channels": 0}, "num_channels must be a positive integer"),
    ],
)
def test_adaptive_error_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        AdaptiveRobustLoss(**kwargs)  # type: ignore[arg-type]


def test_adaptive_function_rejects_negative_alpha() -> None:
    g, t = _pair()
    with pytest.raises(ParameterError, match="alpha must be >= 0"):
        adaptive_robust_loss(g, t, alpha=torch.tensor([-0.5, 1.0, 1.0]), scale=torch.ones(3))


def test_adaptive_function_requires_tensors() -> None:
    g, t = _pair()
    with pytest.raises(InputTypeError, match="alpha must be a torch.Tensor of shape"):
        adaptive_robust_loss(g, t, alpha=1.0, scale=torch.ones(3))  # type: ignore[arg-type]


def test_device_mismatch_of_alpha() -> None:
    g, t = _pair()
    meta = torch.ones(3, device="meta")
    with pytest.raises(DeviceError, match="alpha must be on the device of the images"):
        barron_loss(g, t, alpha=meta)
