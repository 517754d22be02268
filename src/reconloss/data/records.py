"""Plain records shared by the data loaders, and the one array -> tensor conversion they use.

Every image the package hands to a model is a float32 tensor of shape ``(3, H, W)`` with
values in ``[0, 1]``:

* grayscale images are replicated to three equal channels (so every loss and metric sees the
  same channel count, and colour and gray photographs can be mixed in one batch);
* an alpha channel is dropped (the colour values are kept as stored, not composited, so a
  transparent pixel shows whatever colour the file holds under it, often black);
* integer images are divided by their dtype's maximum (255 for 8-bit, 65535 for 16-bit);
  float images must already lie in ``[0, 1]`` (they are rejected otherwise, never rescaled by
  their own min/max, which would make the scale depend on the content).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from reconloss._checks import InputTypeError, NonFiniteError, RangeError, ShapeError

__all__ = ["ImageRecord", "SkippedFile", "LoadedImages", "array_to_image"]


@dataclass(frozen=True)
class ImageRecord:
    """One source image.

    Attributes:
        name: Identifier of the source; for a folder, the path relative to the folder with
            ``/`` separators, kept verbatim (no escaping: escape it where you render it); for a
            built-in image, its table name (``"astronaut"``).
        image: Float32 tensor of shape ``(3, H, W)``, values in ``[0, 1]``.
    """

    name: str
    image: Tensor

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[-2])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[-1])


@dataclass(frozen=True)
class SkippedFile:
    """A file the folder loader could not use.

    Attributes:
        path: Path relative to the loaded folder, ``/`` separators, verbatim.
        reason: Short human-readable reason (``"too small: 20x40 < min_size 32"``,
            ``"unreadable: image file is truncated ..."``).
    """

    path: str
    reason: str


@dataclass(frozen=True)
class LoadedImages:
    """What :func:`reconloss.data.load_folder` returns.

    Attributes:
        images: Usable images in deterministic order (sorted relative paths).
        skipped: Files with an image extension that were skipped, with reasons.
    """

    images: list[ImageRecord]
    skipped: list[SkippedFile]

    def __len__(self) -> int:
        return len(self.images)


def array_to_image(array: np.ndarray, name: str = "image") -> Tensor:
    """Convert a decoded image array to the package's image convention.

    Args:
        array: ``(H, W)`` grayscale, ``(H, W, 1)``, ``(H, W, 2)`` (gray + alpha), ``(H, W, 3)``
            RGB or ``(H, W, 4)`` RGBA; dtype bool, unsigned/signed integer or float (float values
            must lie in ``[0, 1]``).
        name: Used in error messages.

    Returns:
        Float32 tensor of shape ``(3, H, W)`` with values in ``[0, 1]``, contiguous.

    Raises:
        InputTypeError: ``array`` is not a numpy array, or has an unsupported dtype.
        ShapeError: The rank or channel count is not one of the above, or the image is empty.
        NonFiniteError: A float image holds NaN or Inf.
        RangeError: A float image has values outside ``[0, 1]``.
    """
    if not isinstance(array, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    a = array
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 2, 3, 4):
        # Channel-first arrays (rare from decoders) are moved to channel-last.
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4):
        raise ShapeError(
            f"{name} must be a (H, W) or (H, W, C) image with C in 1..4, got an array of shape {tuple(array.shape)}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"{name} must not be empty, got shape {tuple(array.shape)}")
    c = a.shape[-1]
    if c == 2:
        a = a[:, :, :1]
    elif c == 4:
        a = a[:, :, :3]
    if a.dtype == np.bool_:
        f = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.unsignedinteger):
        f = a.astype(np.float64) / float(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.signedinteger):
        # Signed integer images (PIL mode "I" for 16-bit PNG/TIFF) are read as 16-bit data.
        f = np.clip(a.astype(np.float64), 0, 65535) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float64)
        if not np.isfinite(f).all():
            raise NonFiniteError(f"{name} must be finite, got NaN or Inf values")
        lo, hi = float(f.min()), float(f.max())
        if lo < 0.0 or hi > 1.0:
            raise RangeError(f"{name} must have values in [0, 1] (a float image), got values in [{lo:.4g}, {hi:.4g}]")
    else:
        raise InputTypeError(f"{name} has unsupported dtype {a.dtype}")
    if f.shape[-1] == 1:
        f = np.repeat(f, 3, axis=-1)
    t = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1), dtype=np.float32))
    return t.clamp_(0.0, 1.0).contiguous()
