"""Cut training and evaluation patches from source images, split by source image.

Split policy (the point of this module: no test patch may come from a training image):

* With two or more images, whole images go to one side. ``round(n * test_fraction)`` images
  (at least 1, at most ``n - 1``) are drawn for the test side by a permutation seeded with
  ``split_seed`` (default: ``seed``); the rest train. Near-duplicate sources (two frames of one
  scene) would still leak: de-duplicate your folder first.
* With a single image, the image itself is split in space: the last ``test_fraction`` of its
  longer side (at least one patch, leaving at least one patch for training) is the test region,
  the rest the training region. Crops never straddle the boundary. Sources are then named
  ``"<name>#train"`` and ``"<name>#test"``, so the two sides still have disjoint sources.

Training patches are random crops pre-sampled once with a ``torch.Generator`` seeded with
``seed`` and held in memory as one tensor; every training image gets the same number of crops
(+-1), whatever its size, so one large photograph does not dominate. Evaluation patches are a
fixed grid (stride ``test_stride``, default ``patch_size``, i.e. non-overlapping) over each test
image; when there are more than ``max_test`` grid cells, each test image gets an equal share of
the budget (a small image's unused share goes to the others) and keeps evenly spaced cells of
its grid. The test set depends only on the images, the split and these sizes, not on ``seed``
beyond the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from reconloss._checks import InputTypeError, ParameterError, ShapeError, check_int, check_param
from reconloss.data.records import ImageRecord

__all__ = ["PatchSplit", "make_patches", "split_sources"]


@dataclass(frozen=True)
class PatchSplit:
    """Training and evaluation patches with the source image of every patch.

    Attributes:
        train: ``(n_train, C, P, P)`` float32 random crops, values as in the sources ([0, 1]).
        test: ``(n_test, C, P, P)`` float32 grid crops from the test images only.
        train_sources: Source name of each training patch (length ``n_train``).
        test_sources: Source name of each test patch (length ``n_test``); disjoint from
            ``train_sources`` as sets.
    """

    train: Tensor
    test: Tensor
    train_sources: list[str]
    test_sources: list[str]

    @property
    def train_images(self) -> list[str]:
        """Sorted distinct training source names."""
        return sorted(set(self.train_sources))

    @property
    def test_images(self) -> list[str]:
        """Sorted distinct test source names."""
        return sorted(set(self.test_sources))


def _as_records(images: Sequence[ImageRecord] | Sequence[Tensor]) -> list[ImageRecord]:
    if isinstance(images, (Tensor, ImageRecord)) or not isinstance(images, Sequence):
        raise InputTypeError(
            f"images must be a list of ImageRecord (or of (C, H, W) tensors), got {type(images).__name__}"
        )
    if len(images) == 0:
        raise ShapeError("images must hold at least one image, got an empty list")
    records: list[ImageRecord] = []
    for i, item in enumerate(images):
        if isinstance(item, ImageRecord):
            rec = item
        elif isinstance(item, Tensor):
            rec = ImageRecord(name=f"image{i}", image=item)
        else:
            raise InputTypeError(f"images[{i}] must be an ImageRecord or a tensor, got {type(item).__name__}")
        if not isinstance(rec.image, Tensor) or rec.image.ndim != 3:
            got = tuple(rec.image.shape) if isinstance(rec.image, Tensor) else type(rec.image).__name__
            raise ShapeError(f"image {rec.name!r} must be a (C, H, W) tensor, got {got}")
        if not rec.image.is_floating_point():
            raise InputTypeError(f"image {rec.name!r} must have a floating dtype, got {rec.image.dtype}")
        records.append(rec)
    channels = {int(r.image.shape[0]) for r in records}
    if len(channels) != 1:
        raise ShapeError(f"images must all have the same channel count, got {sorted(channels)}")
    names = [r.name for r in records]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ParameterError(f"image names must be unique (the split is by name), got duplicates {dups}")
    return records


def split_sources(n_images: int, test_fraction: float, split_seed: int) -> tuple[list[int], list[int]]:
    """Indices of training and test images for a split by source image.

    Args:
        n_images: Number of source images (>= 2).
        test_fraction: Fraction of images on the test side, in (0, 1).
        split_seed: Seed of the permutation.

    Returns:
        ``(train_indices, test_indices)``, each sorted, disjoint, both non-empty.
    """
    check_int(n_images, "n_images", 2)
    n_test = min(max(1, round(n_images * test_fraction)), n_images - 1)
    g = torch.Generator().manual_seed(int(split_seed))
    perm = torch.randperm(n_images, generator=g).tolist()
    return sorted(perm[n_test:]), sorted(perm[:n_test])


# A region: (source name, image tensor (C, H, W) view, row0, row1, col0, col1) in pixels, end-exclusive.
_Region = tuple[str, Tensor, int, int, int, int]


def _grid_quota(counts: list[int], budget: int | None) -> list[int]:
    if budget is None or sum(counts) <= budget:
        return list(counts)
    quota = [0] * len(counts)
    remaining = budget
    order = sorted(range(len(counts)), key=lambda i: (counts[i], i))
    for k, i in enumerate(order):
        share = remaining // (len(order) - k)
        quota[i] = min(counts[i], share)
        remaining -= quota[i]
    return quota


def make_patches(
    images: Sequence[ImageRecord] | Sequence[Tensor],
    patch_size: int = 32,
    n_train: int = 2048,
    seed: int = 0,
    test_fraction: float = 0.25,
    test_stride: int | None = None,
    max_test: int | None = 512,
    *,
    split_seed: int | None = None,
    hflip: bool = False,
) -> PatchSplit:
    """Split images by source, then cut random training crops and a grid of test crops.

    Args:
        images: Source images, each ``(C, H, W)`` float (same C for all), e.g. from
            :func:`builtin_images` or :func:`load_folder`. Plain tensors are named
            ``"image0"``, ``"image1"``, ... Names must be unique.
        patch_size: Side ``P`` of the square patches, >= 1. Every image must be at least
            ``P x P`` (a single image: at least ``P`` by ``2P`` along its longer side).
        n_train: Number of training crops, >= 1.
        seed: Seed of the crop positions (and of the split unless ``split_seed`` is given).
        test_fraction: Fraction of images (or, for a single image, of its longer side) used
            for evaluation, in (0, 1).
        test_stride: Step of the evaluation grid in pixels; defaults to ``patch_size``.
        max_test: Cap on the number of evaluation patches (``None``: no cap).
        split_seed: Seed of the split by source; defaults to ``seed``. Fix it to keep one test
            set across training seeds.
        hflip: Flip a random half of the training crops left-right (drawn from ``seed``).

    Returns:
        :class:`PatchSplit` with ``train`` ``(n_train, C, P, P)`` and ``test``
        ``(n_test, C, P, P)`` float32 contiguous tensors, and the source name per patch.

    Raises:
        InputTypeError: Wrong argument types.
        ShapeError: An image is smaller than a patch, or the list is empty.
        ParameterError: Out-of-range sizes or fractions, or duplicate names.

    Example:
        >>> import torch
        >>> from reconloss.data import ImageRecord, make_patches
        >>> imgs = [ImageRecord(f"im{i}", torch.rand(3, 64, 64)) for i in range(4)]
        >>> split = make_patches(imgs, patch_size=16, n_train=10, seed=0)
        >>> split.train.shape, split.test.shape
        (torch.Size([10, 3, 16, 16]), torch.Size([16, 3, 16, 16]))
        >>> set(split.train_sources) & set(split.test_sources)
        set()
    """
    records = _as_records(images)
    p = check_int(patch_size, "patch_size", 1)
    n_train = check_int(n_train, "n_train", 1)
    seed = check_int(seed, "seed", 0)
    frac = check_param(test_fraction, "test_fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    stride = p if test_stride is None else check_int(test_stride, "test_stride", 1)
    cap = None if max_test is None else check_int(max_test, "max_test", 1)
    sseed = seed if split_seed is None else check_int(split_seed, "split_seed", 0)

    for r in records:
        h, w = int(r.image.shape[1]), int(r.image.shape[2])
        if h < p or w < p:
            raise ShapeError(f"image {r.name!r} must be at least {p}x{p} pixels for patch_size={p}, got {h}x{w}")

    train_regions: list[_Region]
    test_regions: list[_Region]
    if len(records) == 1:
        r = records[0]
        h, w = int(r.image.shape[1]), int(r.image.shape[2])
        length = max(h, w)
        if length < 2 * p:
            raise ShapeError(
                f"a single image must be at least {2 * p} pixels along its longer side to split it into a train "
                f"and a test region of patch_size={p}, got {h}x{w} for {r.name!r}; add a second image"
            )
        cut = length - min(max(p, round(length * frac)), length - p)
        if w >= h:
            train_regions = [(f"{r.name}#train", r.image, 0, h, 0, cut)]
            test_regions = [(f"{r.name}#test", r.image, 0, h, cut, w)]
        else:
            train_regions = [(f"{r.name}#train", r.image, 0, cut, 0, w)]
            test_regions = [(f"{r.name}#test", r.image, cut, h, 0, w)]
    else:
        tr_idx, te_idx = split_sources(len(records), frac, sseed)
        train_regions = [
            (records[i].name, records[i].image, 0, records[i].image.shape[1], 0, records[i].image.shape[2])
            for i in tr_idx
        ]
        test_regions = [
            (records[i].name, records[i].image, 0, records[i].image.shape[1], 0, records[i].image.shape[2])
            for i in te_idx
        ]

    # Training crops: balanced over training regions, positions uniform inside each region.
    g = torch.Generator().manual_seed(seed)
    n_reg = len(train_regions)
    assign = (torch.arange(n_train) % n_reg)[torch.randperm(n_train, generator=g)]
    u_row = torch.rand(n_train, generator=g, dtype=torch.float64)
    u_col = torch.rand(n_train, generator=g, dtype=torch.float64)
    flips = torch.rand(n_train, generator=g) < 0.5 if hflip else torch.zeros(n_train, dtype=torch.bool)
    c = int(records[0].image.shape[0])
    train = torch.empty((n_train, c, p, p), dtype=torch.float32)
    train_sources: list[str] = []
    for k in range(n_train):
        name, img, r0, r1, c0, c1 = train_regions[int(assign[k])]
        row = r0 + min(int(u_row[k] * (r1 - r0 - p + 1)), r1 - r0 - p)
        col = c0 + min(int(u_col[k] * (c1 - c0 - p + 1)), c1 - c0 - p)
        crop = img[:, row : row + p, col : col + p]
        train[k] = crop.flip(-1) if bool(flips[k]) else crop
        train_sources.append(name)

    # Evaluation crops: a fixed grid per test region, capped with a balanced, evenly spaced subset.
    grids: list[list[tuple[int, int]]] = []
    for _name, _img, r0, r1, c0, c1 in test_regions:
        rows = range(r0, r1 - p + 1, stride)
        cols = range(c0, c1 - p + 1, stride)
        grids.append([(rr, cc) for rr in rows for cc in cols])
    quota = _grid_quota([len(gr) for gr in grids], cap)
    tests: list[Tensor] = []
    test_sources: list[str] = []
    for (name, img, *_), grid, q in zip(test_regions, grids, quota):
        if q < len(grid):
            picks = [grid[int((i + 0.5) * len(grid) / q)] for i in range(q)]
        else:
            picks = grid
        for rr, cc in picks:
            tests.append(img[:, rr : rr + p, cc : cc + p])
            test_sources.append(name)
    test = torch.stack(tests).to(torch.float32).contiguous()
    return PatchSplit(train=train.contiguous(), test=test, train_sources=train_sources, test_sources=test_sources)
