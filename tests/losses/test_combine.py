"""Tests of weighted sums, schedules and the loss-spec parser."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from reconloss import InputTypeError, ParameterError, UnknownNameError
from reconloss.losses.combine import (
    CrossfadeSchedule,
    LambdaSchedule,
    SwitchSchedule,
    WeightedSum,
    build_loss,
    describe,
    parse_spec,
)
from reconloss.losses.pixel import L1Loss, MSELoss
from reconloss.losses.robust import AdaptiveRobustLoss


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(2, 3, 6, 6), torch.rand(2, 3, 6, 6)


class _Counting(nn.Module):
    """L1 that counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, generated: torch.Tensor, target: torch.Tensor, **kw: object) -> torch.Tensor:
        self.calls += 1
        return (generated - target).abs().mean()


# ---------------------------------------------------------------- weighted sum

def test_weighted_sum_equals_hand_sum_and_last_terms() -> None:
    g, t = _pair()
    loss = WeightedSum({"l1": (0.3, L1Loss()), "l2": (2.0, MSELoss())})
    l1 = (g - t).abs().mean()
    l2 = ((g - t) ** 2).mean()
    torch.testing.assert_close(loss(g, t), 0.3 * l1 + 2.0 * l2)
    terms = loss.last_terms
    assert set(terms) == {"l1", "l2"} and all(isinstance(v, float) for v in terms.values())
    assert terms["l1"] == pytest.approx(float(0.3 * l1), rel=1e-6)
    assert terms["l2"] == pytest.approx(float(2.0 * l2), rel=1e-6)
    assert loss.switch_steps == [] and loss.current_weights() == {"l1": 0.3, "l2": 2.0}


def test_weighted_sum_list_form_and_kwargs_pass_through() -> None:
    g, t = _pair()
    mask = torch.rand(2, 1, 6, 6) > 0.5
    loss = WeightedSum([("a", 1.0, L1Loss()), ("b", 0.5, MSELoss())])
    expected = L1Loss()(g, t, mask=mask) + 0.5 * MSELoss()(g, t, mask=mask)
    torch.testing.assert_close(loss(g, t, mask=mask), expected)


def test_weighted_sum_last_terms_are_lazy_tensors() -> None:
    g, t = _pair()
    loss = WeightedSum({"l1": (1.0, L1Loss())})
    loss(g, t)
    stored = loss._last["l1"]
    assert isinstance(stored, torch.Tensor) and not stored.requires_grad


def test_weighted_sum_registers_parameters() -> None:
    adaptive = AdaptiveRobustLoss(num_channels=3)
    loss = WeightedSum({"adaptive": (1.0, adaptive), "l1": (1.0, L1Loss())})
    params = list(loss.parameters())
    assert any(p is adaptive.latent_alpha for p in params) and any(p is adaptive.latent_scale for p in params)
    assert {"terms.adaptive.latent_alpha", "terms.adaptive.latent_scale", "step"} <= set(loss.state_dict())
    g, t = _pair()
    opt = torch.optim.SGD(loss.parameters(), lr=0.1)
    before = adaptive.latent_alpha.detach().clone()
    loss(g, t).backward()
    opt.step()
    assert not torch.equal(before, adaptive.latent_alpha.detach())


def test_zero_weight_term_is_not_evaluated() -> None:
    g, t = _pair()
    counting = _Counting()
    loss = WeightedSum({"l1": (1.0, L1Loss()), "skip": (0.0, counting)})
    loss(g, t)
    assert counting.calls == 0 and loss.last_terms["skip"] == 0.0


def test_all_zero_weights_give_differentiable_zero() -> None:
    g = torch.rand(1, 1, 4, 4, requires_grad=True)
    loss = WeightedSum({"l1": (0.0, L1Loss())})
    out = loss(g, torch.rand(1, 1, 4, 4))
    out.backward()
    assert float(out.detach()) == 0.0 and g.grad is not None


@pytest.mark.parametrize(
    ("terms", "error", "words"),
    [
        ({"l1": (-1.0, L1Loss())}, ParameterError, "weight of 'l1' must be a finite number >= 0, got -1"),
        ({"l1": (float("inf"), L1Loss())}, ParameterError, "finite number >= 0"),
        ({"a.b": (1.0, L1Loss())}, ParameterError, "without '.'"),
        ({}, ParameterError, "at least one term"),
        ([("l1", 1.0)], InputTypeError, "(name, weight, module)"),
        ({"l1": (1.0, "not a module")}, InputTypeError, "must be an nn.Module"),
        ([("l1", 1.0, L1Loss()), ("l1", 1.0, L1Loss())], ParameterError, "unique"),
    ],
)
def test_weighted_sum_errors(terms: object, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        WeightedSum(terms)  # type: ignore[arg-type]


# ---------------------------------------------------------------- schedules

def test_switch_happens_exactly_at_the_step() -> None:
    g, t = _pair()
    sched = SwitchSchedule(("l1", L1Loss()), ("l2", MSELoss()), at_step=10)
    assert sched.switch_steps == [10]
    sched.set_step(9)
    assert sched.current_weights() == {"l1": 1.0, "l2": 0.0}
    torch.testing.assert_close(sched(g, t), (g - t).abs().mean())
    sched.set_step(10)
    assert sched.current_weights() == {"l1": 0.0, "l2": 1.0}
    torch.testing.assert_close(sched(g, t), ((g - t) ** 2).mean())
    assert sched.last_terms["l1"] == 0.0


def test_switch_at_fraction() -> None:
    sched = SwitchSchedule(L1Loss(), MSELoss(), at_fraction=0.25, total_steps=1000)
    assert sched.switch_steps == [250]
    assert list(sched.terms) == ["l1", "mse"]  # default names from the class names


def test_switch_same_loss_twice_gets_unique_names() -> None:
    sched = SwitchSchedule(L1Loss(), L1Loss(), at_step=3)
    assert list(sched.terms) == ["l1", "l1_2"]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({}, ParameterError, "exactly one of at_step or at_fraction"),
        ({"at_step": 5, "at_fraction": 0.5}, ParameterError, "exactly one of at_step or at_fraction"),
        ({"at_fraction": 0.5}, ParameterError, "needs total_steps"),
        ({"at_fraction": 1.5, "total_steps": 10}, ParameterError, r"must be in \[0, 1\], got 1.5"),
        ({"at_step": -1}, ParameterError, "at_step must be >= 0, got -1"),
        ({"at_step": 2.5}, InputTypeError, "at_step must be an integer"),
    ],
)
def test_switch_errors(kwargs: dict[str, object], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        SwitchSchedule(L1Loss(), MSELoss(), **kwargs)  # type: ignore[arg-type]


def test_crossfade_weights_are_linear() -> None:
    sched = CrossfadeSchedule(("l1", L1Loss()), ("l2", MSELoss()), start=100, end=200)
    assert sched.switch_steps == [100, 200]
    for step in (0, 100, 125, 150, 199, 200, 500):
        lam = min(max((step - 100) / 100, 0.0), 1.0)
        w = sched.weights_at(step)
        assert w["l2"] == pytest.approx(lam) and w["l1"] == pytest.approx(1 - lam)
    g, t = _pair()
    sched.set_step(175)
    torch.testing.assert_close(sched(g, t), 0.25 * (g - t).abs().mean() + 0.75 * ((g - t) ** 2).mean())


def test_crossfade_degenerate_window_is_a_switch_and_bad_window_rejected() -> None:
    sched = CrossfadeSchedule(L1Loss(), MSELoss(), start=5, end=5)
    assert sched.weights_at(4) == {"l1": 1.0, "mse": 0.0} and sched.weights_at(5) == {"l1": 0.0, "mse": 1.0}
    with pytest.raises(ParameterError, match="end must be >= start"):
        CrossfadeSchedule(L1Loss(), MSELoss(), start=5, end=4)


def test_lambda_schedule() -> None:
    counting = _Counting()
    sched = LambdaSchedule({"l1": L1Loss(), "c": counting}, lambda s: {"l1": 1.0, "c": 0.5 if s >= 3 else 0.0}, [3])
    g, t = _pair()
    sched(g, t)
    assert counting.calls == 0 and sched.switch_steps == [3]
    sched.set_step(3)
    out = sched(g, t)
    torch.testing.assert_close(out, 1.5 * (g - t).abs().mean())
    assert counting.calls == 1
    assert "fn" not in "".join(sched.state_dict())


def test_lambda_schedule_errors() -> None:
    sched = LambdaSchedule({"l1": L1Loss()}, lambda s: {"l2": 1.0})
    with pytest.raises(ParameterError, match=r"unknown term names \['l2'\]"):
        sched.current_weights()
    with pytest.raises(InputTypeError, match="fn must be callable"):
        LambdaSchedule({"l1": L1Loss()}, 3)  # type: ignore[arg-type]


def test_set_step_errors() -> None:
    sched = SwitchSchedule(L1Loss(), MSELoss(), at_step=3)
    with pytest.raises(ParameterError, match="step must be >= 0, got -2"):
        sched.set_step(-2)
    with pytest.raises(InputTypeError, match="step must be an integer"):
        sched.set_step("3")  # type: ignore[arg-type]


def test_state_dict_round_trip_resumes_schedule() -> None:
    sched = SwitchSchedule(("l1", L1Loss()), ("l2", MSELoss()), at_step=500)
    sched.set_step(700)
    state = sched.state_dict()
    assert state["step"].dtype == torch.long and int(state["step"]) == 700
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    resumed = SwitchSchedule(("l1", L1Loss()), ("l2", MSELoss()), at_step=500)
    assert resumed.current_weights() == {"l1": 1.0, "l2": 0.0}
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.current_step == 700 and int(resumed.step) == 700
    assert resumed.current_weights() == {"l1": 0.0, "l2": 1.0}
    resumed.set_step(resumed.current_step + 1)
    assert int(resumed.step) == 701


def test_nested_schedule_follows_set_step() -> None:
    inner = SwitchSchedule(("l1", L1Loss()), ("l2", MSELoss()), at_step=2)
    outer = WeightedSum({"inner": (1.0, inner)})
    outer.set_step(2)
    assert inner.current_step == 2 and inner.current_weights()["l2"] == 1.0


# ---------------------------------------------------------------- build_loss / describe

def test_build_single_names_and_aliases() -> None:
    assert isinstance(build_loss("l1"), L1Loss)
    assert isinstance(build_loss("MSE"), MSELoss)
    assert isinstance(build_loss(" L2 "), MSELoss)


def test_build_weighted_sum() -> None:
    loss = build_loss("0.25*l1 + 0.75*l2")
    assert isinstance(loss, WeightedSum) and loss.weights == {"l1": 0.25, "l2": 0.75}
    g, t = _pair()
    torch.testing.assert_close(loss(g, t), 0.25 * (g - t).abs().mean() + 0.75 * ((g - t) ** 2).mean())
    assert build_loss("l1+huber").weights == {"l1": 1.0, "huber": 1.0}


def test_build_switch_fraction_and_step() -> None:
    frac = build_loss("l1>l2@0.5", total_steps=1000)
    assert isinstance(frac, SwitchSchedule) and frac.switch_steps == [500]
    assert list(frac.terms) == ["l1", "l2"]
    step = build_loss("l1>l2@300")
    assert isinstance(step, SwitchSchedule) and step.switch_steps == [300]
    assert build_loss("l1>l2@1.0", total_steps=10).switch_steps == [10]


def test_build_crossfade() -> None:
    loss = build_loss("l1~l2@0.4:0.6", total_steps=1000)
    assert isinstance(loss, CrossfadeSchedule) and loss.switch_steps == [400, 600]
    assert build_loss("l1~l2@100:300").switch_steps == [100, 300]


def test_parse_spec_registry_names() -> None:
    parsed = parse_spec("0.84*MS-SSIM+0.16*mae")
    assert parsed.kind == "sum" and parsed.terms == ((0.84, "ms_ssim"), (0.16, "l1"))


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        ("l1", "L1"),
        ("mse", "L2"),
        ("0.84*ms_ssim+0.16*l1", "0.84 MS-SSIM + 0.16 L1"),
        ("l1>l2@0.5", "L1 then L2 (switch at 50%)"),
        ("l1>l2@300", "L1 then L2 (switch at step 300)"),
        ("l1~l2@0.4:0.6", "L1 to L2 (crossfade 40%-60%)"),
        ("l1~l2@100:300", "L1 to L2 (crossfade steps 100-300)"),
    ],
)
def test_describe(spec: str, label: str) -> None:
    assert describe(spec) == label


@pytest.mark.parametrize(
    ("spec", "total_steps", "error", "words"),
    [
        ("", None, ParameterError, "it is empty"),
        ("l1>l2", None, ParameterError, "needs '@'"),
        ("l1>l2@0.5", None, ParameterError, "needs total_steps"),
        ("l1~l2@0.4:0.6", None, ParameterError, "needs total_steps"),
        ("l1>l2@abc", None, ParameterError, "'abc' is not a number"),
        ("l1>l2@2.5", 100, ParameterError, r"fraction of training must be in \[0, 1\]"),
        ("l1>l2@0.5:0.6", 100, ParameterError, "a window 'a:b' is for a crossfade"),
        ("l1~l2@0.6:0.4", 100, ParameterError, "must end after it starts"),
        ("l1~l2@0.4", 100, ParameterError, "window 'start:end'"),
        ("l1>l2>ssim@0.5", 100, ParameterError, "exactly two loss names"),
        ("l1>l2~ssim@0.5", 100, ParameterError, "exactly one of 'first>second'"),
        ("0.5*l1+0.5*l2>ssim@0.5", 100, ParameterError, "single loss name"),
        ("0.5*l1+", None, ParameterError, "empty term"),
        ("x*l1", None, ParameterError, "weight 'x' is not a number"),
        ("-1*l1", None, ParameterError, "weight must be a finite number >= 0, got '-1'"),
        ("0.5*l1+0.5*mae", None, ParameterError, "appears twice"),
        ("0.5**l1", None, ParameterError, "'weight\\*name' or 'name'"),
        ("l1@0.5", None, ParameterError, "an '@' needs"),
        ("l1:l2", None, ParameterError, "only allowed in a crossfade"),
        ("l1>l2@0.5@0.6", 100, ParameterError, "more than one '@'"),
        ("nosuchloss", None, UnknownNameError, "unknown loss 'nosuchloss' in loss spec 'nosuchloss'"),
        ("0.5*l1+0.5*foo", None, UnknownNameError, "unknown loss 'foo'"),
        ("l1>l2@0.5", 0, ParameterError, "total_steps must be >= 1"),
    ],
)
def test_build_loss_rejects_bad_specs(spec: str, total_steps: int | None, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words) as info:
        build_loss(spec, total_steps=total_steps)
    if error is ParameterError and "total_steps must be" not in words:
        assert repr(spec) in str(info.value) or "needs total_steps" in str(info.value)


def test_build_loss_rejects_non_string() -> None:
    with pytest.raises(InputTypeError, match="loss spec must be a string, got int"):
        build_loss(3)  # type: ignore[arg-type]


def test_build_with_robust_and_frequency_names() -> None:
    loss = build_loss("0.5*adaptive+0.25*gradient+0.25*fft")
    assert isinstance(loss, WeightedSum) and list(loss.terms) == ["adaptive", "gradient", "frequency"]
    assert len(list(loss.parameters())) == 2  # the adaptive loss's alpha and scale
    g, t = _pair()
    out = loss(g, t)
    assert out.shape == () and set(loss.last_terms) == {"adaptive", "gradient", "frequency"}
    assert describe("barron>focal_frequency@0.5") == "Barron then Focal frequency (switch at 50%)"


def test_step_restored_when_loaded_through_a_parent_module() -> None:
    parent = nn.Module()
    parent.loss = CrossfadeSchedule(L1Loss(), MSELoss(), start=10, end=20)
    parent.loss.set_step(15)
    clone = nn.Module()
    clone.loss = CrossfadeSchedule(L1Loss(), MSELoss(), start=10, end=20)
    clone.load_state_dict(parent.state_dict())
    assert clone.loss.current_step == 15 and clone.loss.current_weights() == {"l1": 0.5, "mse": 0.5}


# --- parameterised terms: "huber(delta=0.05)" -------------------------------------------------


def test_spec_parameters_reach_the_constructor() -> None:
    from reconloss.losses.combine import build_loss, describe, parse_spec

    m = build_loss("huber(delta=0.05)")
    assert m.delta == 0.05
    parsed = parse_spec("0.84*mix(scales=2)+0.16*l1")
    assert parsed.term_params(0) == {"scales": 2} and parsed.term_params(1) == {}
    x = torch.rand(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32)
    total = build_loss("0.84*mix(scales=2)+0.16*l1")(x, y)
    from reconloss.losses.structural import mix_loss
    from reconloss.losses.pixel import l1_loss

    expected = 0.84 * mix_loss(x, y, scales=2) + 0.16 * l1_loss(x, y)
    torch.testing.assert_close(total, expected)
    sched = build_loss("l1>charbonnier(eps=0.01)@0.5", total_steps=10)
    assert sched.switch_steps == [5]
    assert describe("huber(delta=0.05)") == "Huber (delta=0.05)"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("huber(deltax=1)", "no parameter 'deltax'"),
        ("huber(delta)", "key=value"),
        ("huber((delta=1))", "parentheses"),
        ("huber(delta=1", "parentheses"),
        ("l1(reduction=sum)x", "must close the term"),
        ("huber(delta=1,delta=2)", "given twice"),
    ],
)
def test_bad_spec_parameters_are_named(spec: str, words: str) -> None:
    from reconloss.losses.combine import parse_spec

    with pytest.raises(ParameterError, match=words.replace("(", r"\(")):
        parse_spec(spec)
