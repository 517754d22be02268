"""In-memory training data: train/test tensors (and inpainting masks) with validated shapes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import DeviceError, MaskError, ShapeError, check_tensor

__all__ = ["TensorTask"]


@dataclass
class TensorTask:
    """A supervised image task held in memory.

    Shapes: inputs and targets ``(N, C, P, P)`` (train and test share ``C, P, P``; the target of
    a sample has the shape of its input); masks ``(N, 1, P, P)`` with 1 = hole (pixel to fill).
    When masks are given (both splits or neither), the model is called as
    ``model(input, mask)`` (inpainting), otherwise as ``model(input)``.

    Attributes:
        train_input: ``(N_train, C, P, P)`` model inputs (e.g. the masked/noisy image).
        train_target: ``(N_train, C, P, P)`` what the model should output.
        test_input: ``(N_test, C, P, P)``.
        test_target: ``(N_test, C, P, P)``.
        train_mask: ``(N_train, 1, P, P)`` or ``None``.
        test_mask: ``(N_test, 1, P, P)`` or ``None``.

    Example:
        >>> x = torch.rand(8, 3, 16, 16)
        >>> task = TensorTask(x, x, x[:2], x[:2])
        >>> (task.n_train, task.n_test, task.has_mask)
        (8, 2, False)
    """

    train_input: Tensor
    train_target: Tensor
    test_input: Tensor
    test_target: Tensor
    train_mask: Tensor | None = None
    test_mask: Tensor | None = None

    def __post_init__(self) -> None:
        for name in ("train_input", "train_target", "test_input", "test_target"):
            check_tensor(getattr(self, name), name, ndim=4, finite=True)
        for split in ("train", "test"):
            inp: Tensor = getattr(self, f"{split}_input")
            tgt: Tensor = getattr(self, f"{split}_target")
            if inp.shape != tgt.shape:
                raise ShapeError(f"{split}_target must have the shape of {split}_input {tuple(inp.shape)}, got {tuple(tgt.shape)}")
            if inp.shape[0] == 0:
                raise ShapeError(f"{split}_input must hold at least one sample, got shape {tuple(inp.shape)}")
        if self.train_input.shape[1:] != self.test_input.shape[1:]:
            raise ShapeError(
                f"test_input must have the (C, H, W) of train_input {tuple(self.train_input.shape[1:])}, "
                f"got {tuple(self.test_input.shape[1:])}"
            )
        devices = {t.device for t in (self.train_input, self.train_target, self.test_input, self.test_target)}
        if (self.train_mask is None) != (self.test_mask is None):
            raise MaskError("train_mask and test_mask must both be given or both be None, got only one")
        for split in ("train", "test"):
            mask = getattr(self, f"{split}_mask")
            if mask is None:
                continue
            inp = getattr(self, f"{split}_input")
            n, _, h, w = inp.shape
            check_tensor(mask, f"{split}_mask", ndim=4, floating=False, finite=False)
            if tuple(mask.shape) != (n, 1, h, w):
                raise MaskError(f"{split}_mask must have shape {(n, 1, h, w)} (1 = hole), got {tuple(mask.shape)}")
            if not mask.is_floating_point():
                setattr(self, f"{split}_mask", mask.to(inp.dtype))
            devices.add(mask.device)
        if len(devices) > 1:
            raise DeviceError(f"all tensors of a TensorTask must be on one device, got {sorted(str(d) for d in devices)}")

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.train_input.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.test_input.shape[0])

    @property
    def has_mask(self) -> bool:
        """Whether this is an inpainting task (model called as ``model(input, mask)``)."""
        return self.train_mask is not None

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.train_input.device

    def to(self, device: torch.device | str) -> TensorTask:
        """A copy with every tensor on ``device`` (``self`` when already there)."""
        device = torch.device(device)
        if self.device == device:
            return self

        def mv(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return TensorTask(
            self.train_input.to(device),
            self.train_target.to(device),
            self.test_input.to(device),
            self.test_target.to(device),
            mv(self.train_mask),
            mv(self.test_mask),
        )
