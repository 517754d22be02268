"""Test battery for the pixel losses (reconloss.losses.pixel)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import reconloss
from reconloss import (
    DTypeError,
    InputTypeError,
    MaskError,
    NonFiniteError,
    ParameterError,
    ShapeError,
)
from reconloss.losses import pixel

FUNCS = {
    "l1": pixel.l1_loss,
    "mse": pixel.mse_loss,
    "huber": pixel.huber_loss,
    "smooth_l1": pixel.smooth_l1_loss,
    "charbonnier": pixel.charbonnier_loss,
}
MODULES = {
    "l1": pixel.L1Loss,
    "mse": pixel.MSELoss,
    "huber": pixel.HuberLoss,
    "smooth_l1": pixel.SmoothL1Loss,
    "charbonnier": pixel.CharbonnierLoss,
}
NATIVE = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "huber": F.huber_loss,
    "smooth_l1": F.smooth_l1_loss,
}
KINDS = list(FUNCS)
IMPLS = ["native", "fused"]


def _pair(shape=(2, 3, 5, 6), dtype=torch.float32):
    return torch.rand(shape, dtype=dtype), torch.rand(shape, dtype=dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reduction_shapes(kind, impl, reduction):
    x, y = _pair()
    out = FUNCS[kind](x, y, reduction=reduction, impl=impl)
    assert out.shape == (() if reduction != "none" else x.shape)
    m = torch.rand(2, 1, 5, 6) > 0.5
    out = FUNCS[kind](x, y, reduction=reduction, impl=impl, mask=m)
    assert out.shape == (() if reduction != "none" else x.shape)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5, 2)])
def test_any_shape_unmasked(shape):
    x, y = _pair(shape)
    assert torch.equal(pixel.l1_loss(x, y, impl="native"), F.l1_loss(x, y))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_equals_function(kind, reduction):
    x, y = _pair()
    w = torch.rand(2, 1, 5, 6)
    mod = MODULES[kind](reduction=reduction)
    assert torch.equal(mod(x, y), FUNCS[kind](x, y, reduction=reduction))
    assert torch.equal(mod(x, y, weight=w), FUNCS[kind](x, y, reduction=reduction, weight=w))


def test_module_params_and_repr():
    assert pixel.HuberLoss(delta=0.3).delta == 0.3
    assert pixel.SmoothL1Loss(beta=0.2).beta == 0.2
    assert pixel.CharbonnierLoss(eps=0.01).eps == 0.01
    assert "delta=0.3" in repr(pixel.HuberLoss(delta=0.3))
    assert pixel.L2Loss is pixel.MSELoss and pixel.l2_loss is pixel.mse_loss
    x, y = _pair()
    assert torch.equal(pixel.HuberLoss(delta=0.3)(x, y), pixel.huber_loss(x, y, delta=0.3))
    m = torch.zeros(2, 1, 5, 6)
    assert pixel.L1Loss(empty="zero")(x, y, mask=m).item() == 0.0
    assert torch.isnan(pixel.L1Loss()(x, y, mask=m, empty="nan"))


@pytest.mark.parametrize("kind", list(NATIVE))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_native_is_bitwise_torch(kind, reduction, dtype):
    x, y = _pair((4, 3, 8, 8), dtype)
    kw = {"delta": 0.2} if kind == "huber" else ({"beta": 0.2} if kind == "smooth_l1" else {})
    ours = FUNCS[kind](x, y, reduction=reduction, impl="native", **kw)
    ref = NATIVE[kind](x, y, reduction=reduction, **kw)
    assert torch.equal(ours, ref)


def test_smooth_l1_beta_zero_is_l1():
    x, y = _pair()
    for impl in IMPLS:
        torch.testing.assert_close(pixel.smooth_l1_loss(x, y, beta=0.0, impl=impl), F.l1_loss(x, y))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_perfect_prediction(kind, impl):
    x = torch.rand(2, 3, 4, 4)
    value = FUNCS[kind](x, x.clone(), impl=impl)
    if kind == "charbonnier":
        # eps is not subtracted: L(x, x) = eps (documented convention)
        torch.testing.assert_close(value, torch.tensor(1e-3))
    else:
        assert value.item() == 0.0


def test_charbonnier_eps_unit_and_bound():
    x, y = _pair()
    eps = 0.01
    c = pixel.charbonnier_loss(x, y, eps=eps)
    l1 = F.l1_loss(x, y)
    assert l1 <= c <= l1 + eps
    expected = torch.sqrt((x - y) ** 2 + eps**2).mean()
    torch.testing.assert_close(c, expected)


def test_huber_closed_form():
    x = torch.zeros(1, 1, 1, 2)
    y = torch.tensor([[[[0.5, 3.0]]]])
    for impl in IMPLS:
        assert pixel.huber_loss(x, y, impl=impl).item() == pytest.approx(1.3125)
        assert pixel.smooth_l1_loss(x, y, beta=2.0, impl=impl).item() == pytest.approx((0.0625 + 2.0) / 2)


def test_masked_mean_denominator_by_hand():
    # 1 image, 2 channels, 1x3 pixels; mask selects pixels 0 and 2 -> denominator 2 * C = 4
    x = torch.tensor([[[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]]])
    y = torch.zeros_like(x)
    m = torch.tensor([[[[1.0, 0.0, 1.0]]]])
    for impl in IMPLS:
        assert pixel.l1_loss(x, y, mask=m, impl=impl).item() == pytest.approx((1 + 3 + 4 + 6) / 4)
        assert pixel.l1_loss(x, y, mask=m, reduction="sum", impl=impl).item() == pytest.approx(14.0)
        assert pixel.mse_loss(x, y, mask=m, impl=impl).item() == pytest.approx((1 + 9 + 16 + 36) / 4)
        # a weight divides by the weight sum expanded to channels: (0.5 + 2) * 2
        w = torch.tensor([[[[0.5, 0.0, 2.0]]]])
        assert pixel.l1_loss(x, y, weight=w, impl=impl).item() == pytest.approx((0.5 * 5 + 2 * 9) / 5)
        # 'none' is the weighted element-wise loss
        none = pixel.l1_loss(x, y, weight=w, reduction="none", impl=impl)
        torch.testing.assert_close(none, x * w)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_gradcheck_float64(kind, impl):
    x = torch.rand(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    kw = {"delta": 0.3} if kind == "huber" else ({"beta": 0.3} if kind == "smooth_l1" else {})
    if kind == "charbonnier":
        kw = {"eps": 0.1}
    m = (torch.rand(2, 1, 3, 3) > 0.4).double()
    w = torch.rand(2, 2, 3, 3, dtype=torch.float64)
    for red in ("mean", "sum"):
        for extra in ({}, {"mask": m}, {"weight": w}):
            fn = FUNCS[kind]
            assert torch.autograd.gradcheck(lambda a, b: fn(a, b, reduction=red, impl=impl, **kw, **extra), (x, y))


def test_native_supports_double_backward():
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert torch.autograd.gradgradcheck(lambda a: pixel.mse_loss(a, y, impl="native"), (x,))


# ---------------------------------------------------------------- properties (hypothesis)

_vals = st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=12, max_size=12)


def _t(v):
    return torch.tensor(v, dtype=torch.float64).reshape(1, 3, 2, 2)


@given(a=_vals, b=_vals, kind=st.sampled_from(KINDS), impl=st.sampled_from(IMPLS))
def test_prop_nonnegative_and_symmetric(a, b, kind, impl):
    x, y = _t(a), _t(b)
    v1 = FUNCS[kind](x, y, impl=impl)
    v2 = FUNCS[kind](y, x, impl=impl)
    assert v1.item() >= 0.0
    torch.testing.assert_close(v1, v2)


@given(a=_vals, b=_vals, k=st.floats(0.1, 10))
def test_prop_l2_scales_quadratically(a, b, k):
    x, y = _t(a), _t(b)
    torch.testing.assert_close(pixel.mse_loss(k * x, k * y), k * k * pixel.mse_loss(x, y), rtol=1e-9, atol=1e-9)


@given(a=_vals, b=_vals, kind=st.sampled_from(KINDS), impl=st.sampled_from(IMPLS))
def test_prop_ones_mask_is_no_mask(a, b, kind, impl):
    x, y = _t(a), _t(b)
    ones = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(FUNCS[kind](x, y, impl=impl, mask=ones), FUNCS[kind](x, y, impl=impl))


@given(
    a=_vals,
    b=_vals,
    m=st.lists(st.booleans(), min_size=4, max_size=4).filter(any),
    kind=st.sampled_from(KINDS),
    impl=st.sampled_from(IMPLS),
)
def test_prop_shared_mask_equals_repeated(a, b, m, kind, impl):
    x, y = _t(a), _t(b)
    m1 = torch.tensor(m).reshape(1, 1, 2, 2)
    mc = m1.repeat(1, 3, 1, 1)
    for red in ("mean", "sum", "none"):
        torch.testing.assert_close(
            FUNCS[kind](x, y, impl=impl, mask=m1, reduction=red), FUNCS[kind](x, y, impl=impl, mask=mc, reduction=red)
        )


# ---------------------------------------------------------------- bad inputs


def test_error_not_a_tensor():
    with pytest.raises(InputTypeError, match="generated must be a torch.Tensor, got list"):
        pixel.l1_loss([1.0], torch.zeros(1))


def test_error_shape_mismatch():
    msg = r"target must have the shape of generated \(32, 3, 64, 64\), got \(32, 1, 64, 64\)"
    with pytest.raises(ShapeError, match=msg):
        pixel.mse_loss(torch.zeros(32, 3, 64, 64), torch.zeros(32, 1, 64, 64))


def test_error_no_silent_broadcast_n1_vs_n():
    with pytest.raises(ShapeError, match=r"shape of generated \(5, 1\), got \(5,\)"):
        pixel.mse_loss(torch.zeros(5, 1), torch.zeros(5))


def test_error_int_dtype():
    with pytest.raises(DTypeError, match="floating dtype.*torch.int64"):
        pixel.l1_loss(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


def test_error_mixed_float_dtypes():
    with pytest.raises(DTypeError, match="target must have the dtype of generated"):
        pixel.l1_loss(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64))


def test_error_nan_inf_counts():
    x = torch.zeros(2, 3)
    y = torch.zeros(2, 3)
    y[0, 0] = float("nan")
    y[1, 1] = float("inf")
    y[1, 2] = float("-inf")
    with pytest.raises(NonFiniteError, match="target must be finite, got 1 NaN and 2 Inf"):
        pixel.l1_loss(x, y)


def test_error_bad_mask_shape():
    x, y = _pair()
    with pytest.raises(MaskError, match=r"mask must have shape \(2, 1, 5, 6\) or \(2, 3, 5, 6\).*got \(2, 2, 5, 6\)"):
        pixel.l1_loss(x, y, mask=torch.ones(2, 2, 5, 6))


def test_error_mask_needs_4d_images():
    with pytest.raises(ShapeError, match="4 dimensions"):
        pixel.l1_loss(torch.zeros(3, 4), torch.zeros(3, 4), mask=torch.ones(3, 4))


def test_error_negative_weights():
    x, y = _pair()
    w = torch.ones(2, 1, 5, 6)
    w[0, 0, 0, :2] = -1
    with pytest.raises(MaskError, match="weight must be non-negative, got 2 negative"):
        pixel.mse_loss(x, y, weight=w)


@pytest.mark.parametrize("impl", IMPLS)
def test_error_all_zero_mask(impl):
    x, y = _pair()
    with pytest.raises(MaskError, match="at least one element.*empty='zero'"):
        pixel.l1_loss(x, y, mask=torch.zeros(2, 1, 5, 6), impl=impl)
    assert pixel.l1_loss(x, y, mask=torch.zeros(2, 1, 5, 6), impl=impl, empty="zero").item() == 0.0
    assert torch.isnan(pixel.l1_loss(x, y, mask=torch.zeros(2, 1, 5, 6), impl=impl, empty="nan"))


def test_error_mask_and_weight():
    x, y = _pair()
    with pytest.raises(MaskError, match="either mask or weight, not both"):
        pixel.l1_loss(x, y, mask=torch.ones(2, 1, 5, 6), weight=torch.ones(2, 1, 5, 6))


def test_error_bad_reduction():
    x, y = _pair()
    with pytest.raises(ParameterError, match="reduction must be one of 'mean', 'sum', 'none', got 'avg'"):
        pixel.l1_loss(x, y, reduction="avg")
    with pytest.raises(ParameterError, match="reduction"):
        pixel.L1Loss(reduction="avg")


def test_error_bad_impl_and_empty():
    x, y = _pair()
    with pytest.raises(ParameterError, match="impl must be one of"):
        pixel.l1_loss(x, y, impl="cuda")
    with pytest.raises(ParameterError, match="empty must be one of"):
        pixel.l1_loss(x, y, empty="ignore")


@pytest.mark.parametrize(
    ("fn", "kw", "msg"),
    [
        (pixel.huber_loss, {"delta": -1.0}, "delta must be > 0, got -1"),
        (pixel.huber_loss, {"delta": 0.0}, "delta must be > 0, got 0"),
        (pixel.charbonnier_loss, {"eps": -1e-3}, "eps must be > 0, got -0.001"),
        (pixel.smooth_l1_loss, {"beta": -0.5}, "beta must be >= 0, got -0.5"),
    ],
)
def test_error_bad_params(fn, kw, msg):
    x, y = _pair()
    with pytest.raises(ParameterError, match=msg):
        fn(x, y, **kw)


def test_error_bad_params_modules():
    with pytest.raises(ParameterError, match="delta must be > 0"):
        pixel.HuberLoss(delta=-2)
    with pytest.raises(ParameterError, match="eps must be > 0"):
        pixel.CharbonnierLoss(eps=0)


def test_value_checks_switch_lets_nan_through():
    x, y = _pair()
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        pixel.l1_loss(x, y)
    with reconloss.value_checks(False):
        assert torch.isnan(pixel.l1_loss(x, y))
        assert torch.isnan(pixel.l1_loss(x, y, impl="fused"))
    with pytest.raises(NonFiniteError):
        pixel.l1_loss(x, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("impl", IMPLS)
def test_error_nan_under_mask_and_every_reduction(reduction, impl):
    # the finiteness check of mean/sum reads the loss value; a NaN outside the mask still counts
    x, y = _pair()
    x[1, 2, 4, 5] = float("nan")
    m = torch.zeros(2, 1, 5, 6)
    m[0] = 1
    with pytest.raises(NonFiniteError, match="generated must be finite, got 1 NaN and 0 Inf"):
        pixel.mse_loss(x, y, mask=m, reduction=reduction, impl=impl)


def test_overflowing_loss_is_not_a_nan_error():
    x = torch.full((2, 2), 3e38)
    y = torch.full((2, 2), -3e38)
    assert torch.isinf(pixel.l1_loss(x, y, reduction="sum"))


def test_bool_mask_same_as_float_mask_and_checked():
    x, y = _pair()
    m = torch.rand(2, 1, 5, 6) > 0.5
    m[0, 0, 0, 0] = True
    for impl in IMPLS:
        assert torch.equal(pixel.l1_loss(x, y, mask=m, impl=impl), pixel.l1_loss(x, y, mask=m.float(), impl=impl))
    with pytest.raises(MaskError, match=r"mask must have shape \(2, 1, 5, 6\) or \(2, 3, 5, 6\).*got \(2, 5, 6\)"):
        pixel.l1_loss(x, y, mask=m[:, 0])
    with pytest.raises(ShapeError, match="4 dimensions"):
        pixel.l1_loss(x.flatten(2), y.flatten(2), mask=m.flatten(2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_native_impl_is_bitwise_torch_nn_values_and_gradients(reduction):
    """impl='native' calls the aten ops behind torch.nn.functional directly (no broadcast wrapper):
    bit-identical values and gradients."""
    import torch.nn.functional as F

    from reconloss.losses import pixel as px

    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    pairs = [
        (px.l1_loss, F.l1_loss, {}, {}),
        (px.mse_loss, F.mse_loss, {}, {}),
        (px.huber_loss, F.huber_loss, {"delta": 0.3}, {"delta": 0.3}),
        (px.smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.3}, {"beta": 0.3}),
        (px.smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.0}, {"beta": 0.0}),
    ]
    for ours, theirs, kw_o, kw_t in pairs:
        a1, a2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        b1, b2 = y.clone().requires_grad_(), y.clone().requires_grad_()
        o = ours(a1, b1, reduction=reduction, impl="native", **kw_o)
        t = theirs(a2, b2, reduction=reduction, **kw_t)
        assert torch.equal(o, t)
        o.sum().backward()
        t.sum().backward()
        assert torch.equal(a1.grad, a2.grad) and torch.equal(b1.grad, b2.grad)
