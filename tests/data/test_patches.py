"""Patches: split by source image, determinism per seed, shapes, caps."""

from __future__ import annotations

import pytest
import torch

from reconloss._checks import InputTypeError, ParameterError, ShapeError
from reconloss.data import ImageRecord, make_patches, split_sources


def _images(n: int = 6, h: int = 48, w: int = 64) -> list[ImageRecord]:
    # Each image is constant with a distinct value, so a patch tells which image it came from.
    return [ImageRecord(f"img{i}", torch.full((3, h + 8 * i, w), (i + 1) / (n + 1))) for i in range(n)]


def _value_to_name(n: int) -> dict[float, str]:
    return {round((i + 1) / (n + 1), 5): f"img{i}" for i in range(n)}


def test_shapes_and_dtype() -> None:
    s = make_patches(_images(), patch_size=16, n_train=100, seed=0)
    assert s.train.shape == (100, 3, 16, 16) and s.train.dtype == torch.float32
    assert s.test.ndim == 4 and s.test.shape[1:] == (3, 16, 16)
    assert len(s.train_sources) == 100 and len(s.test_sources) == s.test.shape[0]
    assert s.train.is_contiguous() and s.test.is_contiguous()


def test_split_by_source_no_leak() -> None:
    n = 6
    s = make_patches(_images(n), patch_size=16, n_train=200, seed=3)
    assert not set(s.train_sources) & set(s.test_sources)
    assert set(s.train_images) | set(s.test_images) == {f"img{i}" for i in range(n)}
    # The pixels agree with the recorded sources: no test patch holds a training image's pixels.
    lookup = _value_to_name(n)
    for patch, src in zip(s.test, s.test_sources):
        assert torch.all(patch == patch.flatten()[0])
        assert lookup[round(float(patch.flatten()[0]), 5)] == src
    for patch, src in zip(s.train, s.train_sources):
        assert lookup[round(float(patch.flatten()[0]), 5)] == src
        assert src not in s.test_images


def test_every_side_non_empty() -> None:
    for n, frac in [(2, 0.01), (2, 0.99), (3, 0.5), (10, 0.25)]:
        tr, te = split_sources(n, frac, 0)
        assert tr and te and not set(tr) & set(te) and sorted(tr + te) == list(range(n))
    assert len(split_sources(10, 0.25, 0)[1]) == 2  # round(2.5) -> 2


def test_deterministic_per_seed() -> None:
    imgs = [ImageRecord(f"r{i}", torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(i))) for i in range(5)]
    a = make_patches(imgs, 16, 64, seed=1)
    b = make_patches(imgs, 16, 64, seed=1)
    c = make_patches(imgs, 16, 64, seed=2)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert a.train_sources == b.train_sources and a.test_sources == b.test_sources
    assert not torch.equal(a.train, c.train)
    # split_seed pins the test set across training seeds
    d = make_patches(imgs, 16, 64, seed=2, split_seed=1)
    assert torch.equal(a.test, d.test) and not torch.equal(a.train, d.train)


def test_balanced_training_crops() -> None:
    s = make_patches(_images(5), 16, 101, seed=0, test_fraction=0.2)
    counts = [s.train_sources.count(n) for n in s.train_images]
    assert max(counts) - min(counts) <= 1


def test_single_image_spatial_split() -> None:
    img = torch.arange(64 * 128, dtype=torch.float32).reshape(1, 64, 128).expand(3, 64, 128) / (64 * 128)
    s = make_patches([ImageRecord("solo", img.contiguous())], 16, 50, seed=0, test_fraction=0.25)
    assert set(s.train_sources) == {"solo#train"} and set(s.test_sources) == {"solo#test"}
    cut = 128 - 32  # last quarter of the width is the test region
    cols_train = (s.train[:, 0] * 64 * 128).round().long() % 128
    cols_test = (s.test[:, 0] * 64 * 128).round().long() % 128
    assert int(cols_train.max()) < cut and int(cols_test.min()) >= cut
    assert s.test.shape[0] == (64 // 16) * (32 // 16)


def test_single_image_too_small_to_split() -> None:
    with pytest.raises(ShapeError, match="second image"):
        make_patches([ImageRecord("x", torch.rand(3, 20, 20))], 16, 4)


def test_test_grid_cap_and_stride() -> None:
    imgs = [ImageRecord(f"b{i}", torch.rand(3, 64, 64)) for i in range(4)]
    full = make_patches(imgs, 16, 8, seed=0, test_fraction=0.5, max_test=None)
    assert full.test.shape[0] == 2 * 16
    capped = make_patches(imgs, 16, 8, seed=0, test_fraction=0.5, max_test=10)
    assert capped.test.shape[0] == 10
    assert sorted(capped.test_sources.count(n) for n in capped.test_images) == [5, 5]
    dense = make_patches(imgs, 16, 8, seed=0, test_fraction=0.5, test_stride=8, max_test=None)
    assert dense.test.shape[0] == 2 * 49


def test_hflip_option() -> None:
    imgs = [ImageRecord(f"r{i}", torch.rand(3, 32, 32)) for i in range(3)]
    a = make_patches(imgs, 32, 40, seed=0)
    b = make_patches(imgs, 32, 40, seed=0, hflip=True)
    flipped = [not torch.equal(x, y) for x, y in zip(a.train, b.train)]
    assert 0 < sum(flipped) < 40


def test_errors() -> None:
    with pytest.raises(ShapeError, match="'tiny'"):
        make_patches([ImageRecord("tiny", torch.rand(3, 8, 8)), ImageRecord("ok", torch.rand(3, 40, 40))], 16, 4)
    with pytest.raises(ParameterError, match="test_fraction"):
        make_patches(_images(), 16, 4, test_fraction=1.0)
    with pytest.raises(ParameterError, match="unique"):
        make_patches([ImageRecord("a", torch.rand(3, 32, 32))] * 2, 16, 4)
    with pytest.raises(ShapeError):
        make_patches([], 16, 4)
    with pytest.raises(InputTypeError):
        make_patches(torch.rand(2, 3, 32, 32), 16, 4)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="n_train"):
        make_patches(_images(), 16, 0)


def test_plain_tensors_are_named() -> None:
    s = make_patches([torch.rand(3, 32, 32), torch.rand(3, 32, 32)], 16, 4)
    assert set(s.train_sources) | set(s.test_sources) == {"image0", "image1"}
