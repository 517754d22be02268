"""Corruptions: outliers (rate, count, positions, margin), hole masks (area per kind), noise."""

from __future__ import annotations

import pytest
import torch

from reconloss._checks import ParameterError, ShapeError
from reconloss.data import add_noise, apply_holes, hole_masks, inject_outliers


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_outliers_fixed_positions() -> None:
    x = torch.rand(3, 3, 16, 16) * 0.5
    y, coords = inject_outliers(x, positions=[(4, 5), (10, 2)], value=1.0)
    assert coords.dtype == torch.long and coords.shape == (6, 3)
    assert coords.tolist() == [[b, r, c] for b in range(3) for r, c in [(4, 5), (10, 2)]]
    assert torch.all(y[:, :, 4, 5] == 1.0) and torch.all(y[:, :, 10, 2] == 1.0)
    changed = (y != x).any(1)
    assert int(changed.sum()) == 6
    assert torch.equal(x, x.clone())  # input untouched
    assert y.shape == x.shape and y.dtype == x.dtype


def test_outliers_rate_count_and_margin() -> None:
    x = torch.zeros(4, 3, 32, 32)
    y, coords = inject_outliers(x, rate=0.01, generator=_g(), margin=2)
    per = round(0.01 * 32 * 32)
    assert coords.shape == (4 * per, 3)
    for b in range(4):
        assert int((coords[:, 0] == b).sum()) == per
    assert int(coords[:, 1:].min()) >= 2 and int(coords[:, 1:].max()) <= 29
    assert torch.all(y[coords[:, 0], :, coords[:, 1], coords[:, 2]] == 1.0)
    assert int((y[:, 0] == 1.0).sum()) == coords.shape[0]  # one row per distinct pixel
    y2, c2 = inject_outliers(x, count_per_image=7, value=0.9, generator=_g(), margin=5)
    assert c2.shape == (28, 3) and int(c2[:, 1:].min()) >= 5 and int(c2[:, 1:].max()) <= 26
    assert torch.allclose(y2[c2[:, 0], :, c2[:, 1], c2[:, 2]], torch.tensor(0.9))


def test_outliers_deterministic_and_spacing() -> None:
    x = torch.zeros(2, 3, 32, 32)
    a = inject_outliers(x, count_per_image=10, generator=_g(1))[1]
    b = inject_outliers(x, count_per_image=10, generator=_g(1))[1]
    c = inject_outliers(x, count_per_image=10, generator=_g(2))[1]
    assert torch.equal(a, b) and not torch.equal(a, c)
    _, d = inject_outliers(x, count_per_image=10, generator=_g(0), min_distance=5)
    for bi in range(2):
        pts = d[d[:, 0] == bi, 1:]
        dist = (pts[:, None, :] - pts[None, :, :]).abs().amax(-1) + 100 * torch.eye(len(pts), dtype=torch.long)
        assert int(dist.min()) >= 5


def test_outlier_errors() -> None:
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ParameterError, match="exactly one"):
        inject_outliers(x)
    with pytest.raises(ParameterError, match="exactly one"):
        inject_outliers(x, rate=0.1, positions=[(5, 5)])
    with pytest.raises(ParameterError, match="margin"):
        inject_outliers(x, positions=[(1, 5)])
    with pytest.raises(ParameterError, match="rate"):
        inject_outliers(x, rate=1.5)
    with pytest.raises(ParameterError, match="cannot place"):
        inject_outliers(x, count_per_image=200)
    with pytest.raises(ShapeError):
        inject_outliers(torch.zeros(3, 16, 16), rate=0.1)


@pytest.mark.parametrize("kind", ["square", "stroke", "mixed"])
@pytest.mark.parametrize(("size", "area"), [(32, (0.1, 0.3)), (64, (0.05, 0.1)), (16, (0.2, 0.21))])
def test_hole_area_within_range(kind: str, size: int, area: tuple[float, float]) -> None:
    m = hole_masks(24, size, kind, area=area, generator=_g())  # type: ignore[arg-type]
    assert m.shape == (24, 1, size, size) and m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    frac = m.mean((1, 2, 3))
    assert bool((frac >= area[0] - 1e-9).all() and (frac <= area[1] + 1e-9).all()), frac


def test_hole_kinds_look_different() -> None:
    sq = hole_masks(8, 32, "square", generator=_g())
    for mk in sq:  # a square: the hole is its bounding box
        rows, cols = mk[0].nonzero(as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert int(box) == int(mk.sum())
    st = hole_masks(8, 32, "stroke", generator=_g())
    fills = []
    for mk in st:
        rows, cols = mk[0].nonzero(as_tuple=True)
        fills.append(float(mk.sum()) / float((rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)))
    assert sum(fills) / len(fills) < 0.8  # strokes do not fill their bounding box


def test_hole_masks_deterministic() -> None:
    assert torch.equal(hole_masks(6, 32, "mixed", generator=_g(5)), hole_masks(6, 32, "mixed", generator=_g(5)))
    assert not torch.equal(hole_masks(6, 32, "mixed", generator=_g(5)), hole_masks(6, 32, "mixed", generator=_g(6)))


def test_hole_mask_errors() -> None:
    with pytest.raises(ParameterError, match="kind"):
        hole_masks(2, 32, "circle")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="low <= high"):
        hole_masks(2, 32, area=(0.3, 0.1))
    with pytest.raises(ParameterError, match="whole pixel"):
        hole_masks(2, 4, area=(0.2, 0.24))


def test_apply_holes() -> None:
    x = torch.rand(2, 3, 8, 8) + 0.1
    m = torch.zeros(2, 1, 8, 8)
    m[:, :, 2:4, 2:4] = 1
    y = apply_holes(x, m)
    assert torch.all(y[:, :, 2:4, 2:4] == 0)
    assert torch.equal(y * (1 - m), x * (1 - m))
    with pytest.raises(ShapeError):
        apply_holes(x, torch.zeros(2, 2, 8, 8))


def test_add_noise() -> None:
    x = torch.full((4, 3, 32, 32), 0.5)
    a = add_noise(x, 0.1, generator=_g())
    assert torch.equal(a, add_noise(x, 0.1, generator=_g()))
    assert abs(float((a - x).std()) - 0.1) < 0.01
    assert float(add_noise(torch.ones(2, 3, 8, 8), 0.5, generator=_g()).max()) <= 1.0
    assert float(add_noise(torch.ones(2, 3, 8, 8), 0.5, generator=_g(), clip=False).max()) > 1.0
    assert torch.equal(add_noise(x, 0.0, generator=_g()), x)
    with pytest.raises(ParameterError):
        add_noise(x, -0.1)
