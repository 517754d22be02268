"""Images in, patches and corruptions out.

* :func:`builtin_images` - the real photographs bundled with scikit-image (offline);
* :func:`load_folder` - your own photographs (PNG/JPEG/TIFF/BMP/WebP), bad files skipped;
* :func:`make_patches` - random training crops and a grid of test crops, split by source image;
* :func:`inject_outliers`, :func:`hole_masks`, :func:`apply_holes`, :func:`add_noise` - corruptions.

Every image is a float32 ``(3, H, W)`` tensor in ``[0, 1]`` (grayscale replicated to 3 channels).
"""

from reconloss.data.builtin import BUILTIN_IMAGES, BuiltinImage, builtin_images, builtin_names, describe_builtin
from reconloss.data.corrupt import HoleKind, add_noise, apply_holes, hole_masks, inject_outliers
from reconloss.data.folder import IMAGE_EXTENSIONS, NoImagesError, SkippedFilesWarning, load_folder, load_image
from reconloss.data.patches import PatchSplit, make_patches, split_sources
from reconloss.data.records import ImageRecord, LoadedImages, SkippedFile, array_to_image

__all__ = [
    "BUILTIN_IMAGES",
    "BuiltinImage",
    "builtin_images",
    "builtin_names",
    "describe_builtin",
    "IMAGE_EXTENSIONS",
    "NoImagesError",
    "SkippedFilesWarning",
    "load_folder",
    "load_image",
    "ImageRecord",
    "LoadedImages",
    "SkippedFile",
    "array_to_image",
    "PatchSplit",
    "make_patches",
    "split_sources",
    "HoleKind",
    "inject_outliers",
    "hole_masks",
    "apply_holes",
    "add_noise",
]
