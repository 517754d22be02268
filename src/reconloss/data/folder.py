"""Load a folder of the user's own photographs.

Rules, in one place:

* Formats: PNG, JPEG (``.jpg``/``.jpeg``), TIFF (``.tif``/``.tiff``), BMP and WebP, by file
  extension, case-insensitive. Other files are ignored (counted only in error messages).
* Decoding: Pillow (``Image.open`` + ``load()``, then the EXIF orientation is applied). If
  Pillow cannot identify or convert a file, ``skimage.io.imread`` is tried as a fallback (e.g.
  16-bit RGB or float TIFFs). Truncated files are *not* accepted: Pillow's
  ``LOAD_TRUNCATED_IMAGES`` is left off, and a file that fails while decoding is skipped.
  Multi-frame files (animated WebP, multi-page TIFF) contribute their first frame.
* Values: 8-bit data is divided by 255, 16-bit data by 65535 (full precision is kept for 16-bit
  grayscale; Pillow reduces 16-bit RGB PNGs to 8 bits), float data must be in ``[0, 1]``.
* Channels: grayscale is replicated to 3 channels; an alpha channel is dropped, keeping the
  stored colour values (no compositing); palette images are expanded; CMYK/YCbCr/LAB are
  converted to RGB by Pillow.
* Skipping: unreadable, truncated, unsupported or too-small files (``min(H, W) < min_size``)
  are skipped with a reason; the run goes on, and one :class:`SkippedFilesWarning` lists them.
* Order: sorted by relative path (``/`` separators), so a folder always loads the same way.
* Names: the relative path, kept verbatim (a file named ``<img src=x>.png`` keeps that name:
  escape it where you render it).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from reconloss._checks import InputTypeError, ParameterError, ReconlossError
from reconloss.data.records import ImageRecord, LoadedImages, SkippedFile, array_to_image

__all__ = ["IMAGE_EXTENSIONS", "NoImagesError", "SkippedFilesWarning", "load_folder", "load_image"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""Extensions the loader reads (compared in lower case)."""

_MAX_LISTED = 20


class NoImagesError(ReconlossError, ValueError):
    """A folder holds no usable image (empty, no supported extension, or every file skipped)."""


class SkippedFilesWarning(UserWarning):
    """Some files in a loaded folder were skipped; the message lists them with reasons."""


class _Unreadable(Exception):
    """Internal: a file could not be turned into an image; the message is the skip reason."""


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """Turn a loaded Pillow image into a numpy array the converter accepts (see module rules)."""
    mode = im.mode
    if mode in ("1", "L", "LA", "RGB", "RGBA"):
        return np.asarray(im)
    if mode == "P" or mode == "PA":
        return np.asarray(im.convert("RGBA"))
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return np.asarray(im).astype(np.int64) if mode == "I" else np.asarray(im).astype(np.uint16)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        return np.asarray(im.convert("RGB"))
    raise _Unreadable(f"unsupported pixel mode {mode!r}")


def _decode_pil(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block should not lose an otherwise good image
            oriented = im
        return _pil_to_array(oriented)


def _decode_fallback(path: Path) -> np.ndarray:
    from skimage import io as skio  # imported lazily: only needed for files Pillow cannot read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # imageio's plugin probing emits deprecation notices
        arr = skio.imread(str(path))
    return np.asarray(arr)


def load_image(path: str | os.PathLike[str], name: str | None = None) -> ImageRecord:
    """Decode one image file into an :class:`ImageRecord` (see the module rules).

    Args:
        path: The file.
        name: Record name; defaults to the file name.

    Returns:
        The record, image float32 ``(3, H, W)`` in ``[0, 1]``.

    Raises:
        ValueError: The file cannot be decoded (the message is the reason).
    """
    p = Path(path)
    label = name if name is not None else p.name
    try:
        array = _read_array(p)
        image = array_to_image(array, name=label)
    except _Unreadable as exc:
        raise ValueError(f"cannot load image {str(p)!r}: {exc}") from None
    except (ReconlossError, ValueError) as exc:
        raise ValueError(f"cannot load image {str(p)!r}: {_short(exc)}") from None
    return ImageRecord(name=label, image=image)


def _read_array(path: Path) -> np.ndarray:
    try:
        return _decode_pil(path)
    except Image.DecompressionBombError as exc:
        raise _Unreadable(f"too large to decode safely ({_short(exc)})") from None
    except (UnidentifiedImageError, _Unreadable) as exc:
        first = _short(exc)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Identified but failed while decoding: truncated or corrupt data. No fallback, on purpose.
        raise _Unreadable(f"unreadable (truncated or corrupt): {_short(exc)}") from None
    try:
        return _decode_fallback(path)
    except Exception as exc:  # any decoder failure is a skip reason, never a crash of the run
        raise _Unreadable(f"unreadable: Pillow: {first}; skimage.io: {_short(exc)}") from None


def _list_files(root: Path, recursive: bool) -> list[Path]:
    if recursive:
        found = [p for p in root.rglob("*") if p.is_file()]
    else:
        found = [p for p in root.iterdir() if p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _ext_label(p: Path) -> str:
    return p.suffix.lower() if p.suffix else "(no extension)"


def load_folder(path: str | os.PathLike[str], min_size: int = 32, recursive: bool = True) -> LoadedImages:
    """Load every usable photograph in a folder.

    Args:
        path: The folder.
        min_size: Smallest accepted side in pixels; images with ``min(H, W) < min_size`` are
            skipped (use at least the patch size you will cut). Must be >= 1.
        recursive: Also load files in sub-folders (names keep the sub-folder path).

    Returns:
        :class:`LoadedImages` with ``images`` (sorted by relative path; each float32
        ``(3, H, W)`` in ``[0, 1]``) and ``skipped`` (files with an image extension that could
        not be used, with reasons). When anything was skipped, one
        :class:`SkippedFilesWarning` lists the files (the first 20, then a count).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is a file.
        NoImagesError: No usable image was found; the message names the folder, the files
            found per extension and the skip reasons.
        ParameterError: ``min_size`` < 1.

    Example:
        >>> loaded = load_folder("my_photos", min_size=64)  # doctest: +SKIP
        >>> loaded.images[0].name, loaded.images[0].image.shape  # doctest: +SKIP
        ('holiday/beach.jpg', torch.Size([3, 768, 1024]))
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int):
        raise InputTypeError(f"min_size must be an int, got {type(min_size).__name__}")
    if min_size < 1:
        raise ParameterError(f"min_size must be >= 1, got {min_size}")
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"image folder {str(root)!r} is a file, not a folder")

    files = _list_files(root, recursive)
    per_ext = Counter(_ext_label(p) for p in files)
    images: list[ImageRecord] = []
    skipped: list[SkippedFile] = []
    for p in files:
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        rel = p.relative_to(root).as_posix()
        try:
            array = _read_array(p)
            image = array_to_image(array, name=rel)
        except _Unreadable as exc:
            skipped.append(SkippedFile(rel, str(exc)))
            continue
        except (ReconlossError, ValueError) as exc:
            skipped.append(SkippedFile(rel, f"unsupported content: {_short(exc)}"))
            continue
        h, w = int(image.shape[1]), int(image.shape[2])
        if min(h, w) < min_size:
            skipped.append(SkippedFile(rel, f"too small: {h}x{w} < min_size {min_size}"))
            continue
        images.append(ImageRecord(name=rel, image=image))

    if skipped:
        listed = "; ".join(f"{s.path!r} ({s.reason})" for s in skipped[:_MAX_LISTED])
        more = f"; and {len(skipped) - _MAX_LISTED} more" if len(skipped) > _MAX_LISTED else ""
        warnings.warn(
            f"skipped {len(skipped)} of {len(skipped) + len(images)} image files in {str(root)!r}: {listed}{more}",
            SkippedFilesWarning,
            stacklevel=2,
        )
    if not images:
        raise NoImagesError(_no_images_message(root, files, per_ext, skipped, recursive))
    return LoadedImages(images=images, skipped=skipped)


def _no_images_message(
    root: Path, files: list[Path], per_ext: Counter[str], skipped: list[SkippedFile], recursive: bool
) -> str:
    where = "in the folder and its sub-folders" if recursive else "directly in the folder"
    supported = ", ".join(IMAGE_EXTENSIONS)
    if not files:
        return f"no usable image in {str(root)!r}: it holds no files {where} (supported: {supported})"
    counts = ", ".join(f"{ext}: {n}" for ext, n in sorted(per_ext.items()))
    msg = f"no usable image in {str(root)!r}: found {len(files)} files {where} ({counts})"
    if skipped:
        kinds = Counter(s.reason.split(":")[0] for s in skipped)
        reasons = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
        first = "; ".join(f"{s.path!r} ({s.reason})" for s in skipped[:5])
        msg += f"; skipped {len(skipped)} ({reasons}), e.g. {first}"
    else:
        msg += f"; none has a supported extension ({supported})"
    return msg
