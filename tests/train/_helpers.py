"""Tiny stand-ins shared by the train tests (and the kill/restart and DDP child processes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reconloss.train import TensorTask

REPO = Path(__file__).resolve().parents[2]


class TinyNet(nn.Module):
    """conv-relu-conv, (N,3,P,P) -> (N,3,P,P); ``sleep_s`` slows each forward (numerics unchanged)."""

    def __init__(self, width: int = 4, sleep_s: float = 0.0) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, width, 3, padding=1)
        self.b = nn.Conv2d(width, 3, 3, padding=1)
        self.sleep_s = sleep_s

    def forward(self, x: Tensor) -> Tensor:
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return self.b(torch.relu(self.a(x)))


class TinyInpaint(nn.Module):
    """forward(masked_image, mask) -> image."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, width, 3, padding=1)
        self.b = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.b(torch.relu(self.a(torch.cat([x, mask], 1))))


class ScheduledL1L2(nn.Module):
    """l1 before ``switch`` then l2; step in a buffer; ``last_terms``; optional NaN at ``nan_at``."""

    def __init__(self, switch: int = 3, nan_at: int | None = None) -> None:
        super().__init__()
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.switch_steps = [switch]
        self.nan_at = nan_at
        self.last_terms: dict[str, float] = {}
        self.seen_steps: list[int] = []

    def set_step(self, step: int) -> None:
        self.step.fill_(step)
        self.seen_steps.append(step)

    def forward(self, out: Tensor, target: Tensor) -> Tensor:
        s = int(self.step)
        if s < self.switch_steps[0]:
            name, value = "l1", (out - target).abs().mean()
        else:
            name, value = "l2", ((out - target) ** 2).mean()
        if self.nan_at is not None and s == self.nan_at:
            value = value * float("nan")
        self.last_terms = {"l1": 0.0, "l2": 0.0}
        self.last_terms[name] = float(value.detach())
        return value


class AdaptiveLaplace(nn.Module):
    """Laplace NLL with a learnable log-scale (an nn.Parameter the optimizer must train)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, out: Tensor, target: Tensor) -> Tensor:
        return ((out - target).abs() / self.log_scale.exp() + self.log_scale).mean()


def make_task(n_train: int = 32, n_test: int = 8, size: int = 8, masked: bool = False, seed: int = 123) -> TensorTask:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n_train + n_test, 3, size, size, generator=g)
    # smooth-ish images so a tiny conv can learn something
    img = torch.nn.functional.avg_pool2d(base, 3, stride=1, padding=1)
    if not masked:
        return TensorTask(img[:n_train], img[:n_train], img[n_train:], img[n_train:])
    mask = (torch.rand(n_train + n_test, 1, size, size, generator=g) < 0.25).float()
    inp = img * (1 - mask)
    return TensorTask(inp[:n_train], img[:n_train], inp[n_train:], img[n_train:], mask[:n_train], mask[n_train:])


def simple_eval(model: nn.Module, task: TensorTask) -> dict[str, float]:
    out = model(task.test_input) if task.test_mask is None else model(task.test_input, task.test_mask)
    return {"mae": float((out - task.test_target).abs().mean()), "mse": float(((out - task.test_target) ** 2).mean())}


def state_equal(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Names of the tensors that differ (bitwise) between two state dicts (plus missing keys)."""
    bad = sorted(set(a) ^ set(b))
    for k in set(a) & set(b):
        if isinstance(a[k], Tensor) and not torch.equal(a[k], b[k]):
            bad.append(k)
    return bad
