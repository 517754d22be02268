"""Structural losses: 1 - metric, reductions, modules, mix loss, range policy, errors."""

from __future__ import annotations

import pytest
import torch

from reconloss._checks import ParameterError, RangeError, ShapeError
from reconloss.losses.structural import MixLoss, MSSSIMLoss, SSIMLoss, mix_loss, ms_ssim_loss, ssim_loss
from reconloss.metrics.fidelity import mae, ms_ssim, ssim


def _pair(n: int = 3, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.rand(n, 3, size, size)
    g = (t + 0.1 * torch.randn_like(t)).clamp(0, 1)
    return g, t


def test_loss_is_one_minus_metric() -> None:
    g, t = _pair()
    assert torch.allclose(ssim_loss(g, t, reduction="none"), 1 - ssim(g, t))
    assert torch.allclose(ms_ssim_loss(g, t, reduction="none", scales=3), 1 - ms_ssim(g, t, scales=3))


@pytest.mark.parametrize(
    "fn",
    [ssim_loss, lambda g, t, **k: ms_ssim_loss(g, t, scales=3, **k), lambda g, t, **k: mix_loss(g, t, scales=3, **k)],
)
def test_reduction_shapes(fn) -> None:  # type: ignore[no-untyped-def]
    g, t = _pair()
    none = fn(g, t, reduction="none")
    assert none.shape == (3,)
    assert torch.allclose(fn(g, t, reduction="mean"), none.mean())
    assert torch.allclose(fn(g, t, reduction="sum"), none.sum())
    with pytest.raises(ParameterError, match="reduction"):
        fn(g, t, reduction="avg")


def test_module_equals_function() -> None:
    g, t = _pair()
    assert torch.equal(SSIMLoss(reduction="none")(g, t), ssim_loss(g, t, reduction="none"))
    assert torch.equal(MSSSIMLoss(scales=3)(g, t), ms_ssim_loss(g, t, scales=3))
    assert torch.equal(MixLoss(alpha=0.5, scales=3)(g, t), mix_loss(g, t, alpha=0.5, scales=3))
    assert "scales=3" in repr(MSSSIMLoss(scales=3))


def test_perfect_prediction_gives_zero() -> None:
    _, t = _pair()
    assert float(ssim_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(ms_ssim_loss(t, t, scales=3)) == pytest.approx(0.0, abs=1e-6)
    assert float(mix_loss(t, t, scales=3)) == pytest.approx(0.0, abs=1e-6)


def test_mix_loss_terms() -> None:
    g, t = _pair()
    assert torch.allclose(mix_loss(g, t, alpha=1.0, scales=3), ms_ssim_loss(g, t, scales=3))
    l1_like = mix_loss(g, t, alpha=0.0, scales=3, reduction="none")
    # the Gaussian-weighted L1 is a plain L1 with down-weighted borders: close to MAE
    assert torch.allclose(l1_like, mae(g, t), rtol=0.05)
    # data_range divides the L1 term: scale-free
    assert torch.allclose(mix_loss(g * 255, t * 255, data_range=255.0, scales=3), mix_loss(g, t, scales=3), atol=1e-5)
    with pytest.raises(ParameterError, match="alpha"):
        mix_loss(g, t, alpha=1.5, scales=3)
    with pytest.raises(ShapeError, match="161x161"):
        mix_loss(g, t)


def test_gradients_flow_and_gradcheck() -> None:
    g, t = _pair(2, 64)
    g.requires_grad_(True)
    mix_loss(g, t, scales=3).backward()
    assert g.grad is not None and torch.isfinite(g.grad).all() and g.grad.abs().sum() > 0
    a = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 2, 12, 12, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: ssim_loss(x, b), (a,))


def test_anticorrelated_ms_ssim_loss_is_finite() -> None:
    _, t = _pair(2, 64)
    g = (1 - t).requires_grad_(True)
    loss = ms_ssim_loss(g, t, scales=3)
    loss.backward()
    assert torch.isfinite(loss) and 0.0 <= float(loss.detach()) <= 1.0
    assert torch.isfinite(g.grad).all()


def test_range_policy_generated_free_target_checked() -> None:
    g, t = _pair(2, 32)
    out = ssim_loss(g * 1.05 - 0.02, t)  # generated slightly outside [0, 1]: allowed, not clamped
    assert torch.isfinite(out)
    with pytest.raises(RangeError, match="target"):
        ssim_loss(g, t * 2)
    with pytest.raises(RangeError, match="output"):
        ssim(g * 2, t)  # the metric checks both


def test_bad_inputs() -> None:
    g, t = _pair(2, 32)
    with pytest.raises(ShapeError, match="4 dimensions"):
        ssim_loss(g[0], t[0])
    with pytest.raises(ShapeError, match="at least 11x11"):
        ssim_loss(g[..., :8, :8], t[..., :8, :8])
    with pytest.raises(ShapeError, match="shape"):
        ssim_loss(g, t[:1])
    with pytest.raises(ParameterError, match="data_range"):
        SSIMLoss(data_range=-2)
    bad = g.clone()
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="finite"):
        ms_ssim_loss(bad, t, scales=1)
