"""Built-in photographs: offline, documented sizes, [0, 1], (3, H, W)."""

from __future__ import annotations

import hashlib
import socket

import pytest
import torch

from reconloss._checks import UnknownNameError
from reconloss.data import BUILTIN_IMAGES, builtin_images, builtin_names, describe_builtin
from reconloss.data.builtin import skimage_data_dir

SYNTHETIC = {"chessboard_GRAY", "chessboard_RGB", "logo", "phantom", "color", "horse"}


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the built-in images must not touch the network")


@pytest.fixture(scope="module")
def all_images() -> list:
    # Loaded once, with every socket connection refused: the images must come from disk.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(socket.socket, "connect_ex", _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        return builtin_images()


def test_all_load_offline_with_documented_sizes(all_images: list) -> None:
    records = all_images
    assert [r.name for r in records] == sorted(BUILTIN_IMAGES)
    for r in records:
        row = BUILTIN_IMAGES[r.name]
        assert r.image.dtype == torch.float32
        assert tuple(r.image.shape) == (3, row.height, row.width)
        assert float(r.image.min()) >= 0.0 and float(r.image.max()) <= 1.0
        assert r.image.is_contiguous()


def test_colour_flag_matches_content(all_images: list) -> None:
    for r in all_images:
        gray = bool(torch.equal(r.image[0], r.image[1]) and torch.equal(r.image[1], r.image[2]))
        assert gray == (not BUILTIN_IMAGES[r.name].color), r.name


def test_real_photographs_only() -> None:
    names = set(builtin_names())
    assert not names & SYNTHETIC
    assert "motorcycle_right" not in names  # stereo partner of motorcycle_left would leak across a split
    assert len(names) >= 12


def test_files_are_the_bundled_ones() -> None:
    # The bytes are the ones scikit-image registers for its bundled data (integrity, not a download).
    registry = pytest.importorskip("skimage.data._registry").registry
    folder = skimage_data_dir()
    for row in BUILTIN_IMAGES.values():
        digest = hashlib.sha256((folder / row.file).read_bytes()).hexdigest()
        assert registry[f"data/{row.file}"] == digest, row.name


def test_photographs_have_texture(all_images: list) -> None:
    # Real photographs: many distinct grey levels, not a handful as in drawings.
    for r in all_images:
        levels = torch.bincount((r.image[0, ::3, ::3] * 255).round().long().flatten(), minlength=256)
        assert int((levels > 0).sum()) > 64, r.name


def test_names_select_in_order_case_insensitive() -> None:
    recs = builtin_images(["Chelsea", "camera"])
    assert [r.name for r in recs] == ["chelsea", "camera"]
    assert [r.name for r in builtin_images("coins")] == ["coins"]


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="astronaut") as info:
        builtin_images(["lena"])
    assert "'lena'" in str(info.value)


def test_describe_builtin_markdown() -> None:
    md = describe_builtin()
    lines = md.strip().splitlines()
    assert lines[0].startswith("| name |")
    assert len(lines) == 2 + len(BUILTIN_IMAGES)
    assert "| `retina` | `retina.jpg` | 1411 x 1411 | RGB |" in md
