from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reconloss.train import CheckpointError, FitResult, NonFiniteLossError, TrainConfig, fit, load_checkpoint

from ._helpers import AdaptiveLaplace, ScheduledL1L2, TinyInpaint, TinyNet, make_task, simple_eval, state_equal


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def cfg(**kw) -> TrainConfig:
    base = dict(steps=12, batch_size=8, lr=1e-2, progress=False, threads=1, eval_every=6, log_every=2, checkpoint_every=6)
    base.update(kw)
    return TrainConfig(**base)


def run(tmp: Path, c: TrainConfig, **kw) -> FitResult:
    kw.setdefault("model", TinyNet)
    kw.setdefault("loss", torch.nn.L1Loss())
    kw.setdefault("eval_fn", simple_eval)
    return fit(c, kw.pop("task", make_task()), tmp, **kw)


def test_same_seed_same_weights_different_seed_differs(tmp_path: Path) -> None:
    a = run(tmp_path / "a", cfg())
    b = run(tmp_path / "b", cfg())
    c = run(tmp_path / "c", cfg(seed=1))
    assert state_equal(a.model.state_dict(), b.model.state_dict()) == []
    assert state_equal(a.model.state_dict(), c.model.state_dict()) != []
    assert a.history == b.history


def test_loss_decreases_and_history_shape(tmp_path: Path) -> None:
    res = run(tmp_path, cfg(steps=60, eval_every=20, log_every=10, checkpoint_every=0))
    train = res.history["train"]
    assert [r["step"] for r in train] == [0, 10, 20, 30, 40, 50, 59]
    assert [r["step"] for r in res.history["eval"]] == [20, 40, 60]
    assert res.history["eval"][-1]["mae"] < 0.6 * res.history["eval"][0]["mae"] or train[-1]["loss"] < train[0]["loss"]
    assert train[-1]["loss"] < train[0]["loss"]
    assert res.final_metrics == {k: v for k, v in res.history["eval"][-1].items() if k != "step"}
    assert res.resumed_from_step is None and res.steps_per_s > 0
    assert res.checkpoint_path == tmp_path / "checkpoint.pt" and res.checkpoint_path.exists()
    assert (tmp_path / "history.json").exists()
    assert res.device == "cpu"


def test_inpaint_task_calls_model_with_mask(tmp_path: Path) -> None:
    res = run(tmp_path, cfg(), model=TinyInpaint, task=make_task(masked=True))
    assert res.history["eval"][-1]["mae"] > 0


def test_adaptive_parameters_are_trained_and_restored(tmp_path: Path) -> None:
    res = run(tmp_path / "a", cfg(steps=10, checkpoint_every=5), loss=AdaptiveLaplace())
    assert float(res.loss.log_scale.detach()) != 0.0
    ck = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    assert torch.equal(ck["loss"]["log_scale"], res.loss.log_scale.detach())
    # resume a 5-step run to 10 steps: same adaptive parameter as the straight run
    half = tmp_path / "b"
    c5 = cfg(steps=10, checkpoint_every=5)
    with pytest.raises(NonFiniteLossError):  # stop right after the step-5 checkpoint
        run(half, c5, loss=_NanAfter(AdaptiveLaplace(), 6))
    again = run(half, c5, loss=AdaptiveLaplace())
    assert again.resumed_from_step == 5
    assert torch.equal(again.loss.log_scale, res.loss.log_scale)
    assert state_equal(again.model.state_dict(), res.model.state_dict()) == []


class _NanAfter(torch.nn.Module):
    """Wraps a loss (keeping its state_dict keys) and returns NaN from step ``k`` on."""

    def __init__(self, inner: torch.nn.Module, k: int) -> None:
        super().__init__()
        self.inner = inner
        self.k = k
        self.s = 0

    def set_step(self, s: int) -> None:
        self.s = s

    def forward(self, o, t):
        v = self.inner(o, t)
        return v * float("nan") if self.s >= self.k else v

    def state_dict(self, *a, **kw):  # same keys as the bare inner loss
        return self.inner.state_dict(*a, **kw)

    def load_state_dict(self, sd, strict: bool = True, assign: bool = False):
        return self.inner.load_state_dict(sd, strict=strict, assign=assign)


def test_scheduled_loss_step_and_terms(tmp_path: Path) -> None:
    c = cfg(steps=8, checkpoint_every=4, log_every=1)
    loss = ScheduledL1L2(switch=3)
    res = run(tmp_path, c, loss=loss)
    assert loss.seen_steps == list(range(8))
    assert res.switch_steps == [3]
    assert res.history["train"][0]["l1"] > 0 and res.history["train"][0]["l2"] == 0
    assert res.history["train"][5]["l2"] > 0 and res.history["train"][5]["l1"] == 0
    assert int(load_checkpoint(tmp_path / "checkpoint.pt")["loss"]["step"]) == 7
    # resume from the step-4 checkpoint: the schedule's buffer is restored, then set_step continues
    first = tmp_path / "r"
    with pytest.raises(NonFiniteLossError):
        run(first, c, loss=ScheduledL1L2(switch=3, nan_at=5))
    fresh = ScheduledL1L2(switch=3)
    again = run(first, c, loss=fresh)
    assert again.resumed_from_step == 4
    assert fresh.seen_steps == [4, 5, 6, 7]
    assert state_equal(again.model.state_dict(), res.model.state_dict()) == []


def test_nan_at_step_k_names_step_and_term_keeps_checkpoint(tmp_path: Path) -> None:
    k = 7
    c = cfg(steps=12, checkpoint_every=3)
    with pytest.raises(NonFiniteLossError) as ei:
        run(tmp_path, c, loss=ScheduledL1L2(switch=3, nan_at=k))
    err = ei.value
    assert err.step == k and err.term == "l2"
    assert f"step {k}" in str(err) and "'l2'" in str(err)
    assert isinstance(err, FloatingPointError)
    ck = load_checkpoint(tmp_path / "checkpoint.pt", config=c)
    assert ck["step"] == 6 and ck["step"] < k
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    assert err.checkpoint == tmp_path / "checkpoint.pt"


def test_nan_without_terms_names_loss_spec(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError) as ei:
        run(tmp_path, cfg(loss="l1"), loss=_NanAfter(torch.nn.L1Loss(), 2))
    assert ei.value.step == 2 and ei.value.term == "l1"
    assert "no checkpoint written yet" in str(ei.value)


def test_other_config_checkpoint_refused(tmp_path: Path) -> None:
    run(tmp_path, cfg(steps=4, checkpoint_every=2))
    with pytest.raises(CheckpointError) as ei:
        run(tmp_path, cfg(steps=4, checkpoint_every=2, lr=0.5, seed=3))
    msg = str(ei.value)
    assert str(tmp_path / "checkpoint.pt") in msg and "lr" in msg and "seed" in msg
    # cadence/progress changes are not another config; resume=False starts over
    res = run(tmp_path, cfg(steps=4, checkpoint_every=1, eval_every=1))
    assert res.resumed_from_step == 4
    res = run(tmp_path, cfg(steps=4, lr=0.5), resume=False)
    assert res.resumed_from_step is None


def test_batch_not_divisible_and_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        fit({"steps": 1}, make_task(), tmp_path)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        run(tmp_path, cfg(), model=3)


def test_grad_clip_and_adamw_run(tmp_path: Path) -> None:
    res = run(tmp_path, cfg(steps=4, grad_clip=0.01, optimizer="adamw", weight_decay=0.1))
    assert len(res.history["eval"]) == 1


def test_real_modules_if_present(tmp_path: Path) -> None:
    models = pytest.importorskip("reconloss.models")
    losses = pytest.importorskip("reconloss.losses")
    metrics = pytest.importorskip("reconloss.metrics")
    if not all(hasattr(m, a) for m, a in [(models, "build_model"), (losses, "build_loss"), (metrics, "evaluate_images")]):
        pytest.skip("real models/losses/metrics not there yet")
    task = make_task(n_train=16, n_test=4, size=32)
    c = TrainConfig(steps=4, batch_size=4, progress=False, threads=1, eval_every=2, checkpoint_every=2,
                    loss="l1>l2@0.5", model_kwargs={})
    res = fit(c, task, tmp_path / "ae")
    assert "psnr" in res.final_metrics and res.switch_steps == [2]
    mtask = make_task(n_train=16, n_test=4, size=32, masked=True)
    res = fit(TrainConfig(model="inpaint", loss="adaptive", steps=3, batch_size=4, progress=False, threads=1), mtask, tmp_path / "inp")
    assert "hole_psnr" in res.final_metrics
    assert any(p.requires_grad for p in res.loss.parameters())
