from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from reconloss import ReconlossError
from reconloss.train import CheckpointError, TrainConfig, fit, load_checkpoint, save_checkpoint

from ._helpers import TinyNet, make_task, simple_eval, state_equal


def _cfg(**kw) -> TrainConfig:
    base = dict(steps=4, batch_size=8, progress=False, threads=1, checkpoint_every=2, eval_every=2)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    torch.set_num_threads(1)
    fit(_cfg(), make_task(), tmp_path, model=TinyNet, loss=torch.nn.L1Loss(), eval_fn=simple_eval)
    return tmp_path / "checkpoint.pt"


def test_roundtrip_weights_only(ckpt: Path) -> None:
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert raw["format"] == "reconloss.train.checkpoint" and raw["version"] == 1
    assert raw["step"] == 4 and raw["config"] == _cfg().to_dict()
    assert set(raw["rng"]) >= {"torch", "sampler"}
    assert [e["step"] for e in raw["history"]["eval"]] == [2, 4]
    data = load_checkpoint(ckpt, config=_cfg(eval_every=1, progress=True))  # cadence does not matter
    net = TinyNet()
    net.load_state_dict(data["model"])
    assert state_equal(net.state_dict(), raw["model"]) == []
    # save -> load again keeps everything
    again = ckpt.parent / "again.pt"
    save_checkpoint(again, {k: v for k, v in data.items() if k not in ("format", "version")})
    assert load_checkpoint(again)["config_hash"] == data["config_hash"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other_dict"])
def test_damaged_file_raises_naming_it(ckpt: Path, damage: str) -> None:
    blob = ckpt.read_bytes()
    if damage == "truncate":
        ckpt.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"\x00not a checkpoint" * 50)
    elif damage == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(2)}, ckpt)
    with pytest.raises(CheckpointError) as ei:
        load_checkpoint(ckpt)
    assert str(ckpt) in str(ei.value)
    assert isinstance(ei.value, ReconlossError) and isinstance(ei.value, ValueError)
    # fit refuses to silently restart from scratch
    with pytest.raises(CheckpointError):
        fit(_cfg(), make_task(), ckpt.parent, model=TinyNet, loss=torch.nn.L1Loss(), eval_fn=simple_eval)


def test_other_config_names_fields(ckpt: Path) -> None:
    other = dataclasses.replace(_cfg(), loss="l2", batch_size=4)
    with pytest.raises(CheckpointError) as ei:
        load_checkpoint(ckpt, config=other)
    msg = str(ei.value)
    assert str(ckpt) in msg and "loss" in msg and "batch_size" in msg and "'l2'" in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_wrong_model_shape_is_checkpoint_error(ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match="does not fit"):
        fit(_cfg(), make_task(), ckpt.parent, model=lambda: TinyNet(width=5), loss=torch.nn.L1Loss(), eval_fn=simple_eval)
