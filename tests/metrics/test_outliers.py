"""Outlier retention, halo and clean-region error on synthetic cases with hand-computed answers."""

from __future__ import annotations

import math

import pytest
import torch

from reconloss._checks import DeviceError, InputTypeError, ParameterError, ShapeError
from reconloss.metrics import outlier_metrics

CLEAN = 0.2
VALUE = 1.0
JUMP = VALUE - CLEAN  # 0.8


def _scene(n: int = 1, c: int = 3, size: int = 16) -> torch.Tensor:
    return torch.full((n, c, size, size), CLEAN)


def test_kept_outlier_retention_one_halo_zero() -> None:
    clean = _scene()
    out = clean.clone()
    out[0, :, 5, 7] = VALUE
    m = outlier_metrics(out, clean, torch.tensor([[0, 5, 7]]), VALUE)
    torch.testing.assert_close(m["retention"], torch.ones(1, 3))
    torch.testing.assert_close(m["halo"], torch.zeros(1))
    torch.testing.assert_close(m["clean_error"], torch.zeros(1))
    assert float(m["retention_mean"]) == pytest.approx(1.0)


def test_erased_outlier_retention_zero() -> None:
    clean = _scene()
    m = outlier_metrics(clean.clone(), clean, torch.tensor([[0, 5, 7]]), VALUE)
    torch.testing.assert_close(m["retention"], torch.zeros(1, 3))
    torch.testing.assert_close(m["halo"], torch.zeros(1))


def test_box_blurred_outlier_hand_computed() -> None:
    # A 3x3 box blur spreads the 0.8 excess evenly over 9 pixels: 0.8/9 each.
    clean = _scene()
    out = clean.clone()
    out[0, :, 4:7, 6:9] += JUMP / 9
    m = outlier_metrics(out, clean, torch.tensor([[0, 5, 7]]), VALUE, radius=2)
    # retention = (0.2 + 0.8/9 - 0.2) / (1.0 - 0.2) = 1/9
    torch.testing.assert_close(m["retention"], torch.full((1, 3), 1 / 9))
    # halo: 8 ring pixels x 0.8/9 each (the radius-2 ring adds nothing) = 0.7111...
    torch.testing.assert_close(m["halo"], torch.tensor([8 * 0.8 / 9]))
    torch.testing.assert_close(m["halo_fraction"], torch.tensor([8 / 9]))
    # Everything beyond Chebyshev distance 2 is untouched.
    torch.testing.assert_close(m["clean_error"], torch.zeros(1))


def test_clean_error_hand_computed_and_radius_exclusion() -> None:
    clean = _scene(c=1, size=10)
    out = clean.clone()
    out[0, 0, 5, 5] = VALUE  # kept outlier
    out[0, 0, 0, 0] += 0.1  # one error far away
    out[0, 0, 3, 5] += 0.3  # inside radius 2 of the outlier: excluded from clean_error, counted in halo
    m = outlier_metrics(out, clean, torch.tensor([[0, 5, 5]]), VALUE, radius=2)
    # 100 pixels minus the 5x5 = 25 near the outlier -> 75 pixels, one error of 0.1.
    torch.testing.assert_close(m["clean_error"], torch.tensor([0.1 / 75]))
    torch.testing.assert_close(m["halo"], torch.tensor([0.3]))
    m1 = outlier_metrics(out, clean, torch.tensor([[0, 5, 5]]), VALUE, radius=1)
    # radius 1: 9 pixels excluded, the 0.3 error is now "clean": (0.1 + 0.3) / 91.
    torch.testing.assert_close(m1["clean_error"], torch.tensor([0.4 / 91]))
    torch.testing.assert_close(m1["halo"], torch.tensor([0.0]))


def test_dark_halo_does_not_count_and_dark_outlier_counts_downwards() -> None:
    clean = _scene(c=1)
    out = clean.clone()
    out[0, 0, 4, 4] -= 0.1  # darker than clean next to a bright outlier: not a halo
    m = outlier_metrics(out, clean, torch.tensor([[0, 5, 5]]), VALUE)
    torch.testing.assert_close(m["halo"], torch.zeros(1))
    # A dark outlier (value 0 on a 0.2 background) whose blob is dark.
    out = clean.clone()
    out[0, 0, 5, 5] = 0.1
    out[0, 0, 5, 6] = 0.15
    m = outlier_metrics(out, clean, torch.tensor([[0, 5, 5]]), 0.0)
    torch.testing.assert_close(m["retention"], torch.tensor([[0.5]]))  # (0.1-0.2)/(0-0.2)
    torch.testing.assert_close(m["halo"], torch.tensor([0.05]))


def test_per_channel_value_and_nan_where_nothing_was_injected() -> None:
    clean = _scene(c=3)
    out = clean.clone()
    value = torch.tensor([1.0, 0.6, CLEAN])  # third channel unchanged by the injection
    out[0, :, 2, 2] = torch.tensor([0.6, 0.4, CLEAN])
    m = outlier_metrics(out, clean, torch.tensor([[0, 2, 2]]), value)
    r = m["retention"][0]
    torch.testing.assert_close(r[:2], torch.tensor([0.5, 0.5]))
    assert math.isnan(float(r[2]))
    assert float(m["retention_mean"]) == pytest.approx(0.5)


def test_several_images_border_and_neighbouring_outliers() -> None:
    clean = _scene(n=2, c=1, size=8)
    out = clean.clone()
    out[0, 0, 0, 0] = VALUE  # corner outlier, kept
    out[0, 0, 0, 1] = VALUE  # a second outlier right next to it: not a halo of the first
    out[1, 0, 7, 7] = CLEAN + 0.4  # half removed
    out[1, 0, 6, 7] = CLEAN + 0.2  # its ring, inside the image
    coords = torch.tensor([[0, 0, 0], [0, 0, 1], [1, 7, 7]])
    m = outlier_metrics(out, clean, coords, VALUE)
    torch.testing.assert_close(m["retention"], torch.tensor([[1.0], [1.0], [0.5]]))
    torch.testing.assert_close(m["halo"], torch.tensor([0.0, 0.0, 0.2]))
    assert m["clean_error"].shape == (2,)
    torch.testing.assert_close(m["halo_mean"], torch.tensor(0.2 / 3))


def test_no_outliers_gives_nan_summaries_and_plain_mae() -> None:
    clean = _scene(c=1, size=8)
    out = clean + 0.1
    m = outlier_metrics(out, clean, torch.zeros(0, 3, dtype=torch.long), VALUE)
    assert m["retention"].shape == (0, 1) and m["halo"].shape == (0,)
    assert math.isnan(float(m["retention_mean"]))
    torch.testing.assert_close(m["clean_error"], torch.tensor([0.1]))


def test_exclude_mask_leaves_pixels_out_of_clean_error() -> None:
    clean = _scene(c=1, size=8)
    out = clean.clone()
    out[0, 0, 0, :] += 0.5  # errors only in the first row
    exclude = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    exclude[0, 0, 0, :] = True
    m = outlier_metrics(out, clean, torch.tensor([[0, 5, 5]]), CLEAN, exclude=exclude)
    torch.testing.assert_close(m["clean_error"], torch.tensor([0.0]))
    everything = torch.ones(1, 1, 8, 8)
    assert math.isnan(float(outlier_metrics(out, clean, torch.tensor([[0, 5, 5]]), 1.0, exclude=everything)["clean_error"]))


def test_coordinate_errors_name_the_coordinate() -> None:
    clean = _scene(n=2, size=8)
    with pytest.raises(ParameterError, match=r"coords\[1\].*row 8 not in \[0, 7\]"):
        outlier_metrics(clean, clean, torch.tensor([[0, 1, 1], [0, 8, 3]]), VALUE)
    with pytest.raises(ParameterError, match=r"coords\[0\].*col -1"):
        outlier_metrics(clean, clean, torch.tensor([[1, 1, -1]]), VALUE)
    with pytest.raises(ParameterError, match=r"batch index 2 not in \[0, 1\]"):
        outlier_metrics(clean, clean, torch.tensor([[2, 1, 1]]), VALUE)
    with pytest.raises(ParameterError, match="integer dtype"):
        outlier_metrics(clean, clean, torch.tensor([[0.0, 1.0, 1.0]]), VALUE)
    with pytest.raises(ShapeError, match=r"\(K, 3\)"):
        outlier_metrics(clean, clean, torch.tensor([[0, 1]]), VALUE)
    with pytest.raises(ShapeError, match=r"\(K, 3\)"):
        outlier_metrics(clean, clean, torch.tensor([0, 1, 1]), VALUE)
    with pytest.raises(InputTypeError, match="coords"):
        outlier_metrics(clean, clean, [[0, 1, 1]], VALUE)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="radius"):
        outlier_metrics(clean, clean, torch.tensor([[0, 1, 1]]), VALUE, radius=0)
    with pytest.raises(ParameterError, match="radius"):
        outlier_metrics(clean, clean, torch.tensor([[0, 1, 1]]), VALUE, radius=1.5)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="value"):
        outlier_metrics(clean, clean, torch.tensor([[0, 1, 1]]), torch.ones(2))
    with pytest.raises(ShapeError, match="clean_target"):
        outlier_metrics(clean, clean[:, :1], torch.tensor([[0, 1, 1]]), VALUE)
    if torch.device("meta") != clean.device:
        with pytest.raises(DeviceError, match="coords"):
            outlier_metrics(clean, clean, torch.tensor([[0, 1, 1]], device="meta"), VALUE)
