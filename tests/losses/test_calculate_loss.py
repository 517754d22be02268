"""reconloss.calculate_loss: the classic entry point, bit-exact against torch.nn."""

from __future__ import annotations

import pytest
import torch

import reconloss
from reconloss import (
    DeviceError,
    DTypeError,
    MaskError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
    calculate_loss,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(32, 3, 64, 64), (7, 5), (1000,)])
def test_bitwise_equal_to_torch_nn(dtype, shape):
    g = torch.randn(shape, dtype=dtype)
    t = torch.randn(shape, dtype=dtype)
    assert torch.equal(calculate_loss(g, t, "L1"), torch.nn.L1Loss()(g, t))
    assert torch.equal(calculate_loss(g, t, "L2"), torch.nn.MSELoss()(g, t))
    assert torch.equal(calculate_loss(g, t), torch.nn.MSELoss()(g, t))  # default is L2


def test_bitwise_gradients_equal_to_torch_nn():
    g = torch.randn(4, 3, 16, 16, requires_grad=True)
    t = torch.randn(4, 3, 16, 16)
    calculate_loss(g, t, "L1").backward()
    ours = g.grad.clone()
    g.grad = None
    torch.nn.L1Loss()(g, t).backward()
    assert torch.equal(ours, g.grad)


def test_seed_example():
    generated_images = torch.randn(32, 3, 64, 64)
    target_images = torch.randn(32, 3, 64, 64)
    l1 = calculate_loss(generated_images, target_images, "L1")
    l2 = calculate_loss(generated_images, target_images, "L2")
    text = f"L1 Loss: {l1.item():.2f}, L2 Loss: {l2.item():.2f}"
    assert text.startswith("L1 Loss: 1.1") and "L2 Loss: 2.0" in text  # E|N(0,2)| = 2/sqrt(pi), E[.^2] = 2


@pytest.mark.parametrize("name", ["l1", "L1", "mae", "MAE", "L1Loss", " l1 "])
def test_l1_aliases_case_insensitive(name):
    g, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert torch.equal(calculate_loss(g, t, name), torch.nn.L1Loss()(g, t))


@pytest.mark.parametrize("name", ["l2", "MSE", "mse", "MSELoss", "L2loss"])
def test_l2_aliases_case_insensitive(name):
    g, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert torch.equal(calculate_loss(g, t, name), torch.nn.MSELoss()(g, t))


def test_params_reach_the_loss():
    g, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert torch.equal(calculate_loss(g, t, "L1", reduction="sum"), torch.nn.L1Loss(reduction="sum")(g, t))
    assert calculate_loss(g, t, "l2", reduction="none").shape == (2, 3, 4, 4)
    assert torch.equal(calculate_loss(g, t, "huber", delta=0.1), torch.nn.HuberLoss(delta=0.1)(g, t))
    assert torch.equal(calculate_loss(g, t, "smooth_l1", beta=0.1), torch.nn.SmoothL1Loss(beta=0.1)(g, t))
    c = calculate_loss(g, t, "charbonnier", eps=0.5)
    torch.testing.assert_close(c, torch.sqrt((g - t) ** 2 + 0.25).mean())
    m = torch.zeros(2, 1, 4, 4)
    m[:, :, :2] = 1
    masked = calculate_loss(g, t, "L1", mask=m)
    torch.testing.assert_close(masked, (g - t).abs()[:, :, :2].mean())
    assert calculate_loss(g, t, "L1", mask=torch.zeros(2, 1, 4, 4), empty="zero").item() == 0.0
    w = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(calculate_loss(g, t, "mse", weight=w), ((g - t) ** 2 * w).sum() / w.sum())
    assert torch.equal(calculate_loss(g, t, "L1", impl="fused"), reconloss.l1_loss(g, t, impl="fused"))


def test_unknown_loss_type_lists_valid_names():
    g, t = torch.rand(2, 3), torch.rand(2, 3)
    with pytest.raises(UnknownNameError, match=r"one of l1 \(mae, l1loss\), l2 \(mse.*got 'L3'"):
        calculate_loss(g, t, "L3")
    with pytest.raises(ValueError):
        calculate_loss(g, t, "perceptual")


def test_validation_runs_first():
    msg = r"target must have the shape of generated \(32, 3, 64, 64\), got \(32, 1, 64, 64\)"
    with pytest.raises(ShapeError, match=msg):
        calculate_loss(torch.zeros(32, 3, 64, 64), torch.zeros(32, 1, 64, 64), "L2")
    with pytest.raises(ShapeError, match="shape"):
        calculate_loss(torch.zeros(8, 1), torch.zeros(8), "L2")  # torch.nn would broadcast to (8, 8)
    with pytest.raises(DTypeError, match="floating dtype"):
        calculate_loss(torch.zeros(2, 3, dtype=torch.uint8), torch.zeros(2, 3, dtype=torch.uint8), "L1")
    with pytest.raises(DTypeError, match="dtype of generated"):
        calculate_loss(torch.zeros(2, 3), torch.zeros(2, 3).double(), "L1")
    bad = torch.zeros(2, 3)
    bad[0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="generated must be finite, got 0 NaN and 1 Inf"):
        calculate_loss(bad, torch.zeros(2, 3), "L1")
    with pytest.raises(MaskError, match="mask must have shape"):
        calculate_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), "L1", mask=torch.ones(2, 4, 4))


def test_device_mismatch():
    if not torch.cuda.is_available():
        meta = torch.zeros(2, 3, device="meta")
        with pytest.raises(DeviceError, match="device of generated"):
            calculate_loss(torch.zeros(2, 3), meta, "L1")
        return
    with pytest.raises(DeviceError, match="device"):
        calculate_loss(torch.zeros(2, 3), torch.zeros(2, 3, device="cuda"), "L1")


def test_value_checks_off_nan_passes_through():
    g = torch.zeros(2, 3)
    g[1, 1] = float("nan")
    with reconloss.value_checks(False):
        assert torch.isnan(calculate_loss(g, torch.zeros(2, 3), "L2"))
