from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest
import torch

from reconloss import ParameterError
from reconloss.train import TrainConfig, add_dataclass_arguments, config_hash, dataclass_from_args
from reconloss.train.config import HASH_EXCLUDED_FIELDS, config_diff
from reconloss.train.loop import resolve_device


def test_defaults_valid_and_roundtrip_dict() -> None:
    cfg = TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.betas == (0.9, 0.999)


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"betas": (0.9,)}, "betas"),
        ({"betas": (0.9, 1.5)}, "betas"),
        ({"device": "tpu"}, "device"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"threads": 0}, "threads"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"model_kwargs": {"f": object()}}, "model_kwargs"),
    ],
)
def test_validation_names_field(kw: dict, word: str) -> None:
    with pytest.raises((ParameterError, TypeError)) as ei:
        TrainConfig(**kw)
    assert word in str(ei.value)


def test_hash_covers_weight_fields_only() -> None:
    base = TrainConfig()
    h = config_hash(base)
    for name, value in [("loss", "l2"), ("seed", 1), ("lr", 1e-3), ("steps", 10), ("batch_size", 8),
                        ("model_kwargs", {"width": 8}), ("grad_clip", 1.0), ("betas", (0.5, 0.9))]:
        assert config_hash(dataclasses.replace(base, **{name: value})) != h, name
    for name, value in [("progress", False), ("device", "cpu"), ("threads", 1), ("eval_every", 7),
                        ("checkpoint_every", 3), ("log_every", 1)]:
        assert name in HASH_EXCLUDED_FIELDS
        assert config_hash(dataclasses.replace(base, **{name: value})) == h, name
    assert config_diff(base.to_dict(), dataclasses.replace(base, seed=3, lr=0.1).to_dict()) == ["lr", "seed"]


def test_argparse_roundtrip() -> None:
    p = argparse.ArgumentParser()
    add_dataclass_arguments(p, TrainConfig)
    assert dataclass_from_args(TrainConfig, p.parse_args([])) == TrainConfig()
    ns = p.parse_args(["--steps", "5", "--loss", "0.5*l1+0.5*l2", "--betas", "0.8", "0.99", "--no-progress",
                       "--grad-clip", "1.5", "--threads", "none", "--model-kwargs", '{"width": 8}', "--optimizer", "adamw"])
    cfg = dataclass_from_args(TrainConfig, ns)
    assert cfg == TrainConfig(steps=5, loss="0.5*l1+0.5*l2", betas=(0.8, 0.99), progress=False, grad_clip=1.5,
                              threads=None, model_kwargs={"width": 8}, optimizer="adamw")
    with pytest.raises(SystemExit):
        p.parse_args(["--optimizer", "sgd"])
    # a custom dataclass with prefix, Literal, list, required field
    @dataclass
    class Spec:
        name: str
        kind: Literal["a", "b"] = "a"
        seeds: list[int] = field(default_factory=lambda: [0, 1], metadata={"help": "seeds"})

    q = argparse.ArgumentParser()
    add_dataclass_arguments(q, Spec, prefix="s_")
    spec = dataclass_from_args(Spec, q.parse_args(["--s-name", "x", "--s-seeds", "3", "4", "--s-kind", "b"]), prefix="s_")
    assert spec == Spec("x", "b", [3, 4])
    assert "seeds" in q.format_help()


def test_device_auto_is_cpu_here() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("auto") == torch.device("cpu")
