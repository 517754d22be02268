"""The loss registry: names, aliases, lazy loading, parameters, errors."""

from __future__ import annotations

import importlib.util
import inspect

import pytest
from torch import nn

import reconloss
from reconloss import UnknownNameError
from reconloss.losses import (
    LOSSES,
    LossInfo,
    build_loss,
    get_loss,
    get_loss_function,
    list_losses,
    loss_names,
    loss_parameters,
    resolve_loss_name,
)
from reconloss.losses import pixel

CANONICAL = [
    "l1", "l2", "huber", "smooth_l1", "charbonnier", "barron", "adaptive",
    "ssim", "ms_ssim", "mix", "gradient", "frequency", "focal_frequency",
]  # fmt: skip


def test_canonical_names_in_order():
    assert list(LOSSES) == CANONICAL
    assert all(isinstance(i, LossInfo) for i in list_losses())
    assert [i.name for i in list_losses()] == CANONICAL
    assert loss_names() == CANONICAL
    assert {"mae", "mse", "fft", "ffl", "msssim"} <= set(loss_names(aliases=True))


@pytest.mark.parametrize(
    ("alias", "canon"),
    [
        ("L1", "l1"), ("MAE", "l1"), ("l1loss", "l1"), ("L2", "l2"), ("mse", "l2"), ("MSELoss", "l2"),
        ("l2loss", "l2"), ("Smooth-L1", "smooth_l1"), ("smoothl1", "smooth_l1"), ("  huber ", "huber"),
        ("robust", "barron"), ("General", "barron"), ("adaptive_robust", "adaptive"), ("adaptive-robust", "adaptive"),
        ("MS-SSIM", "ms_ssim"), ("msssim", "ms_ssim"), ("zhao_mix", "mix"), ("edge", "gradient"),
        ("FFT", "frequency"), ("ffl", "focal_frequency"), ("focal-frequency", "focal_frequency"),
    ],
)  # fmt: skip
def test_resolve_aliases(alias, canon):
    assert resolve_loss_name(alias) == canon


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError, match="got 'l3'") as info:
        resolve_loss_name("l3")
    assert isinstance(info.value, ValueError)
    for name in ("l1 (mae, l1loss)", "charbonnier", "ms_ssim (msssim)", "focal_frequency (ffl)"):
        assert name in str(info.value)
    with pytest.raises(UnknownNameError, match="must be a string"):
        resolve_loss_name(1)
    with pytest.raises(UnknownNameError, match="valid|one of"):
        get_loss("nope")


def test_aliases_are_unique():
    seen = []
    for info in LOSSES.values():
        seen += [info.name, *info.aliases]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("name", "cls", "fn"),
    [
        ("l1", pixel.L1Loss, pixel.l1_loss),
        ("l2", pixel.MSELoss, pixel.mse_loss),
        ("huber", pixel.HuberLoss, pixel.huber_loss),
        ("smooth_l1", pixel.SmoothL1Loss, pixel.smooth_l1_loss),
        ("charbonnier", pixel.CharbonnierLoss, pixel.charbonnier_loss),
    ],
)
def test_pixel_entries_load(name, cls, fn):
    assert isinstance(get_loss(name), cls)
    assert get_loss_function(name) is fn


def test_get_loss_passes_params():
    loss = get_loss("Huber", delta=0.5, reduction="sum")
    assert loss.delta == 0.5 and loss.reduction == "sum"
    with pytest.raises(reconloss.ParameterError, match="delta must be > 0"):
        get_loss("huber", delta=-1)
    with pytest.raises(TypeError):
        get_loss("l1", delta=1.0)


def test_loss_parameters():
    assert loss_parameters("huber") == {"delta": 1.0, "reduction": "mean", "empty": "raise", "impl": "auto"}
    assert loss_parameters("charbonnier")["eps"] == 1e-3
    assert loss_parameters("smooth_l1")["beta"] == 1.0
    assert "reduction" in loss_parameters("mae")


def _importable(module_path: str) -> bool:
    return importlib.util.find_spec(module_path.partition(":")[0]) is not None


@pytest.mark.parametrize("name", CANONICAL)
def test_every_entry_points_at_a_module_class(name):
    info = LOSSES[name]
    if not _importable(info.module):
        pytest.skip(f"{info.module} not written yet")
    cls = info.load_class()
    assert issubclass(cls, nn.Module)
    if info.function is not None:
        assert callable(info.load_function())
    params = loss_parameters(name)
    assert all(isinstance(k, str) for k in params)
    assert not any(p is inspect.Parameter.empty for p in params.values()), f"{name} needs defaults for get_loss()"


def test_adaptive_has_no_function():
    assert LOSSES["adaptive"].function is None


def test_build_loss_wrapper():
    if importlib.util.find_spec("reconloss.losses.combine") is None:
        with pytest.raises(ImportError):
            build_loss("l1")
        return
    assert isinstance(build_loss("l1"), nn.Module)


def test_top_level_reexports():
    assert reconloss.get_loss is get_loss
    assert reconloss.list_losses is list_losses
    assert callable(reconloss.build_loss)
    assert reconloss.l1_loss is pixel.l1_loss and reconloss.L2Loss is pixel.MSELoss
