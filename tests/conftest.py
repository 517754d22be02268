"""Shared pytest settings: deterministic, quick hypothesis runs; a place for test artifacts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "reconloss",
    max_examples=int(os.environ.get("RECONLOSS_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile("reconloss")

ARTIFACTS = Path(os.environ.get("RECONLOSS_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


# One thread: on 2 shared cores a 2-thread torch op slows ~10-20x when another process holds a
# core (measured, see benchmarks/README.md), and single-threaded reductions are deterministic.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def artifacts_dir() -> Path:
    """Folder for files a test keeps for humans (screenshots...), ignored by git."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
