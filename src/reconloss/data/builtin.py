"""The real photographs bundled inside the installed scikit-image package.

scikit-image ships a handful of sample images inside its wheel (``skimage/data/*.png|jpg``);
everything else in :mod:`skimage.data` is downloaded on first use through ``pooch``. This module
reads only the bundled files, straight from the installed package folder with Pillow (it never
calls the :mod:`skimage.data` loader functions, which may try the network), so it works offline.

Selection policy: keep real photographs, i.e. images recorded by a camera, telescope, fundus
camera or microscope. Left out, and why:

* synthetic drawings: ``chessboard_GRAY``, ``chessboard_RGB``, ``logo``, ``phantom``
  (Shepp-Logan), ``color`` (a computed colour wheel), ``horse`` (a binary silhouette);
* near duplicates: ``motorcycle_right`` is the stereo partner of ``motorcycle_left``: both in
  the set would put the same scene on both sides of a split by source image;
* deliberately degraded or nearly empty: ``clock_motion`` (motion-blurred on purpose, a poor
  target for sharpness measurements), ``cell`` (a flat background around one blurred cell);
* tiny or not a still image: ``microaneurysms`` (102x102 crop of a retina photograph),
  ``no_time_for_that_tiny.gif`` (25x14 animation), ``multipage*.tif`` (test files),
  ``lfw_subset.npy`` (25x25 faces), ``motorcycle_disp.npz`` (a disparity map).

Grayscale photographs are replicated to three channels (see :mod:`reconloss.data.records`),
so every record is a float32 ``(3, H, W)`` tensor in ``[0, 1]``; the ``color`` column of the
table says which ones carry real colour.

Example:
    >>> from reconloss.data import builtin_images
    >>> [r.name for r in builtin_images(["camera", "chelsea"])]
    ['camera', 'chelsea']
    >>> builtin_images(["chelsea"])[0].image.shape
    torch.Size([3, 300, 451])
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from reconloss._checks import InputTypeError, UnknownNameError
from reconloss.data.records import ImageRecord, array_to_image

__all__ = ["BuiltinImage", "BUILTIN_IMAGES", "builtin_images", "builtin_names", "describe_builtin", "skimage_data_dir"]


@dataclass(frozen=True)
class BuiltinImage:
    """One row of :data:`BUILTIN_IMAGES`.

    Attributes:
        name: Table name (also the :class:`ImageRecord` name).
        file: File name inside the installed ``skimage/data`` folder.
        height: Height in pixels.
        width: Width in pixels.
        color: True for RGB photographs, False for grayscale ones (replicated to 3 channels).
        kind: ``"scene"``, ``"texture"``, ``"document"`` or ``"science"``.
        description: One line on what the photograph shows.
    """

    name: str
    file: str
    height: int
    width: int
    color: bool
    kind: str
    description: str


BUILTIN_IMAGES: dict[str, BuiltinImage] = {
    row.name: row
    for row in (
        BuiltinImage("astronaut", "astronaut.png", 512, 512, True, "scene", "Astronaut Eileen Collins (NASA portrait)"),
        BuiltinImage("brick", "brick.png", 512, 512, False, "texture", "Brick wall, close-up texture"),
        BuiltinImage("camera", "camera.png", 512, 512, False, "scene", "Cameraman on a field (classic test photo)"),
        BuiltinImage("chelsea", "chelsea.png", 300, 451, True, "scene", "Chelsea the cat, fur close-up"),
        BuiltinImage("coffee", "coffee.png", 400, 600, True, "scene", "Cup of coffee on a saucer"),
        BuiltinImage("coins", "coins.png", 303, 384, False, "scene", "Greek coins on a dark background"),
        BuiltinImage("grass", "grass.png", 512, 512, False, "texture", "Grass, close-up texture"),
        BuiltinImage("gravel", "gravel.png", 512, 512, False, "texture", "Gravel, close-up texture"),
        BuiltinImage(
            "hubble_deep_field",
            "hubble_deep_field.jpg",
            872,
            1000,
            True,
            "science",
            "Hubble eXtreme Deep Field: point-like galaxies on black (natural bright outliers)",
        ),
        BuiltinImage(
            "ihc", "ihc.png", 512, 512, True, "science", "Immunohistochemistry micrograph (stained tissue)"
        ),
        BuiltinImage("moon", "moon.png", 512, 512, False, "science", "Lunar surface, low contrast"),
        BuiltinImage(
            "motorcycle_left",
            "motorcycle_left.png",
            500,
            741,
            True,
            "scene",
            "Motorcycle in a workshop (left view of a Middlebury stereo pair)",
        ),
        BuiltinImage(
            "page", "page.png", 191, 384, False, "document", "Photograph of a printed book page, uneven light"
        ),
        BuiltinImage(
            "retina",
            "retina.jpg",
            1411,
            1411,
            True,
            "science",
            "Fundus photograph of a human retina (large black surround)",
        ),
        BuiltinImage("rocket", "rocket.jpg", 427, 640, True, "scene", "SpaceX Falcon 9 on the launch pad"),
        BuiltinImage("text", "text.png", 172, 448, False, "document", "Photograph of handwritten text on paper"),
    )
}
"""The bundled real photographs, keyed by name (sorted). Sizes are ``H x W`` in pixels."""


def skimage_data_dir() -> Path:
    """Folder of the installed ``skimage.data`` package, found without importing scikit-image.

    Returns:
        Path of the folder holding the bundled sample files.

    Raises:
        ModuleNotFoundError: scikit-image is not installed (install the ``study`` extra).
    """
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the built-in images are read from the scikit-image package, which is not installed; "
            "install it with `pip install reconloss[study]` or load your own photos with load_folder(path)"
        )
    return Path(spec.origin).parent / "data"


def builtin_names() -> list[str]:
    """Names of the built-in images, sorted."""
    return sorted(BUILTIN_IMAGES)


def _read_bundled(row: BuiltinImage, folder: Path) -> ImageRecord:
    path = folder / row.file
    if not path.is_file():
        raise FileNotFoundError(
            f"built-in image {row.name!r} should be bundled with scikit-image at {path}, but the file is missing; "
            "reinstall scikit-image (this package never downloads it)"
        )
    with Image.open(path) as im:
        im.load()
        array = np.asarray(im)
    image = array_to_image(array, name=f"built-in image {row.name!r}")
    h, w = int(image.shape[1]), int(image.shape[2])
    if (h, w) != (row.height, row.width):
        raise ValueError(
            f"built-in image {row.name!r} must be {row.height}x{row.width} as documented, got {h}x{w} from {path}"
        )
    return ImageRecord(name=row.name, image=image)


def builtin_images(names: Iterable[str] | None = None) -> list[ImageRecord]:
    """Load the built-in photographs (offline) as ``(3, H, W)`` float32 tensors in ``[0, 1]``.

    Args:
        names: Names from :data:`BUILTIN_IMAGES` (case-insensitive), in the order wanted;
            ``None`` loads all of them, sorted by name. A single string is accepted.

    Returns:
        One :class:`ImageRecord` per name. Sizes are those of the table (largest: ``retina``,
        1411x1411; all 16 together take about 72 MB as float32 and load in about 2 s).

    Raises:
        UnknownNameError: A name is not in the table (the message lists the valid names).
        InputTypeError: ``names`` is not an iterable of strings.
        ModuleNotFoundError: scikit-image is not installed.
        FileNotFoundError: A bundled file is missing from the installed scikit-image.
    """
    if names is None:
        wanted = builtin_names()
    else:
        if isinstance(names, str):
            names = [names]
        wanted = []
        for n in names:
            if not isinstance(n, str):
                raise InputTypeError(f"names must hold strings, got {type(n).__name__}")
            key = n.strip().lower()
            if key not in BUILTIN_IMAGES:
                valid = ", ".join(builtin_names())
                raise UnknownNameError(f"built-in image name must be one of {valid}; got {n!r}")
            wanted.append(key)
    folder = skimage_data_dir()
    return [_read_bundled(BUILTIN_IMAGES[n], folder) for n in wanted]


def describe_builtin() -> str:
    """The built-in image table as Markdown (header + one row per image), for the README.

    Returns:
        A Markdown table with columns name, file, size (H x W), colour, kind, description.
    """
    lines = [
        "| name | file | size (H x W) | colour | kind | description |",
        "|---|---|---|---|---|---|",
    ]
    for n in builtin_names():
        r = BUILTIN_IMAGES[n]
        colour = "RGB" if r.color else "gray (x3)"
        lines.append(f"| `{r.name}` | `{r.file}` | {r.height} x {r.width} | {colour} | {r.kind} | {r.description} |")
    return "\n".join(lines) + "\n"
