"""The installed environment: no torchvision (it breaks torchmetrics beside the CPU torch), typed package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

import reconloss


def test_torchvision_is_not_installed() -> None:
    # piq, lpips, pyiqa and basicsr pull torchvision in; none of them may be a dependency.
    assert importlib.util.find_spec("torchvision") is None


def test_torch_is_the_pinned_cpu_build() -> None:
    assert torch.__version__.split("+")[0] == "2.13.0"


def test_package_is_typed() -> None:
    assert (Path(reconloss.__file__).parent / "py.typed").is_file()


def test_torchmetrics_imports() -> None:
    import torchmetrics

    assert hasattr(torchmetrics, "Metric")
