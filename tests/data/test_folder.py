"""Folder loader: formats, modes, skips with reasons, errors naming the folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reconloss._checks import ParameterError
from reconloss.data import NoImagesError, SkippedFilesWarning, load_folder

XSS = "<img src=x onerror=alert(1)>.png"


def _rgb(h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    (d / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(_rgb(seed=1)).save(d / "a.png")
    Image.fromarray(_rgb(seed=2)).save(d / "b.JPG", quality=95)
    Image.fromarray(_rgb(seed=3)).save(d / "c.tiff")
    Image.fromarray(_rgb(seed=4)).save(d / "d.bmp")
    Image.fromarray(_rgb(seed=5)).save(d / "e.webp", lossless=True)
    Image.fromarray(_rgb(seed=6)[:, :, 0]).save(d / "gray.png")
    rgba = np.concatenate([_rgb(seed=7), np.zeros((40, 48, 1), np.uint8)], axis=2)
    Image.fromarray(rgba, mode="RGBA").save(d / "rgba.png")
    g16 = np.full((40, 48), 65535, dtype=np.uint16)
    g16[0, 0] = 0
    g16[0, 1] = 1000
    Image.fromarray(g16).save(d / "sixteen.png")
    Image.fromarray(_rgb(seed=8)).save(d / "sub" / "deeper" / "nested.png")
    Image.fromarray(_rgb(seed=9)).save(d / XSS)
    good = (d / "a.png").read_bytes()
    (d / "truncated.png").write_bytes(good[: len(good) // 2])
    (d / "noise.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    Image.fromarray(_rgb(16, 48)).save(d / "small.png")
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture
def loaded(mixed_folder: Path) -> tuple:
    with pytest.warns(SkippedFilesWarning) as record:
        out = load_folder(mixed_folder)
    return out, record


def test_loads_all_formats_sorted(loaded: tuple) -> None:
    out, _ = loaded
    names = [r.name for r in out.images]
    expected = sorted(
        [XSS, "a.png", "b.JPG", "c.tiff", "d.bmp", "e.webp", "gray.png", "rgba.png", "sixteen.png",
         "sub/deeper/nested.png"]
    )
    assert names == expected
    for r in out.images:
        assert r.image.dtype == torch.float32 and r.image.shape[0] == 3
        assert float(r.image.min()) >= 0 and float(r.image.max()) <= 1


def test_exact_values(loaded: tuple, mixed_folder: Path) -> None:
    out, _ = loaded
    by = {r.name: r.image for r in out.images}
    src = torch.from_numpy(_rgb(seed=1)).permute(2, 0, 1).float() / 255
    assert torch.equal(by["a.png"], src)
    assert torch.equal(by["e.webp"], torch.from_numpy(_rgb(seed=5)).permute(2, 0, 1).float() / 255)
    g = by["gray.png"]
    assert torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])  # grayscale replicated
    rgba = by["rgba.png"]  # alpha dropped, colours kept (not composited on black)
    assert torch.equal(rgba, torch.from_numpy(_rgb(seed=7)).permute(2, 0, 1).float() / 255)
    s = by["sixteen.png"]
    assert float(s[0, 0, 0]) == 0.0 and float(s[0, 5, 5]) == 1.0
    assert abs(float(s[0, 0, 1]) - 1000 / 65535) < 1e-7  # full 16-bit precision


def test_skipped_with_reasons_and_one_warning(loaded: tuple) -> None:
    out, record = loaded
    skipped = {s.path: s.reason for s in out.skipped}
    assert set(skipped) == {"truncated.png", "noise.jpg", "small.png"}
    assert skipped["small.png"].startswith("too small: 16x48")
    assert "truncated" in skipped["truncated.png"] or "unreadable" in skipped["truncated.png"]
    assert skipped["noise.jpg"].startswith("unreadable")
    msgs = [str(w.message) for w in record if issubclass(w.category, SkippedFilesWarning)]
    assert len(msgs) == 1
    assert "skipped 3" in msgs[0] and "noise.jpg" in msgs[0]


def test_xss_name_kept_verbatim(loaded: tuple) -> None:
    out, _ = loaded
    assert XSS in [r.name for r in out.images]


def test_non_recursive(mixed_folder: Path) -> None:
    with pytest.warns(SkippedFilesWarning):
        out = load_folder(mixed_folder, recursive=False)
    assert "sub/deeper/nested.png" not in [r.name for r in out.images]


def test_min_size(mixed_folder: Path) -> None:
    with pytest.warns(SkippedFilesWarning):
        out = load_folder(mixed_folder, min_size=16)
    assert "small.png" in [r.name for r in out.images]
    with pytest.raises(ParameterError):
        load_folder(mixed_folder, min_size=0)


def test_clean_folder_no_warning(tmp_path: Path) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "one.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_folder(tmp_path)
    assert len(out.images) == 1 and out.skipped == []


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_folder(tmp_path / "nowhere")


def test_file_instead_of_folder(tmp_path: Path) -> None:
    f = tmp_path / "x.png"
    Image.fromarray(_rgb()).save(f)
    with pytest.raises(NotADirectoryError, match="x.png"):
        load_folder(f)


def test_empty_folder(tmp_path: Path) -> None:
    d = tmp_path / "empty_dir"
    d.mkdir()
    with pytest.raises(NoImagesError, match="empty_dir") as info:
        load_folder(d)
    assert isinstance(info.value, ValueError)
    assert "no files" in str(info.value)


def test_all_bad_folder(tmp_path: Path) -> None:
    d = tmp_path / "bad_dir"
    d.mkdir()
    (d / "x.jpg").write_bytes(b"garbage" * 10)
    (d / "readme.txt").write_text("hi")
    Image.fromarray(_rgb(8, 8)).save(d / "tiny.png")
    with pytest.warns(SkippedFilesWarning), pytest.raises(NoImagesError) as info:
        load_folder(d)
    msg = str(info.value)
    assert "bad_dir" in msg and ".jpg: 1" in msg and ".txt: 1" in msg and "too small" in msg and "unreadable" in msg


def test_only_unsupported_extensions(tmp_path: Path) -> None:
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(NoImagesError, match="supported extension"):
        load_folder(tmp_path)
