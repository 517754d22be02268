"""A small U-Net for inpainting: masked image + mask in, full image out.

Unlike :class:`~reconloss.models.autoencoder.ConvAutoencoder` this network *has* skip
connections: the known pixels should pass through untouched, and the question the inpainting
study asks is what each loss puts into the holes. Upsampling is resize-convolution (nearest x2
then 3x3 conv, no checkerboard artifacts) and the output is linear (no sigmoid), for the same
reasons as the autoencoder.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reconloss._checks import ParameterError, ShapeError, check_tensor

__all__ = ["InpaintNet", "composite"]


def _check_pos_int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.SiLU(),
    )


class _Up(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1), nn.SiLU()
        )
        self.fuse = nn.Sequential(nn.Conv2d(c_out, c_out, 3, padding=1), nn.SiLU())

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.fuse(self.up(x) + skip)


class InpaintNet(nn.Module):
    """U-Net ``(masked image, mask) -> image`` with ``depth`` stride-2 levels.

    With the defaults (``channels=3, width=24, depth=2``) the model has **235,251 parameters**.
    Level ``i`` has ``width * 2**i`` channels. Encoder: a 3x3 convolution of the ``C + 1`` input
    channels at full resolution, then per level a stride-2 3x3 convolution and a 3x3
    convolution. Decoder, per level: nearest x2 + 3x3 convolution, *added* to the encoder
    features of that level (additive skips, LinkNet-style: half the full-resolution cost of
    concatenation), then a 3x3 fusion convolution. A final 3x3 convolution gives ``C`` linear
    outputs. SiLU activations, no normalisation.

    Args:
        channels: Image channels ``C``, >= 1.
        width: Full-resolution feature channels, >= 1.
        depth: Number of stride-2 levels (>= 1); ``H`` and ``W`` must be divisible by
            ``2**depth``.

    Shapes:
        ``masked_image`` ``(N, C, H, W)`` float; ``mask`` ``(N, 1, H, W)`` with 1 = hole,
        0 = known. Output ``(N, C, H, W)``, unbounded (linear). The input's hole pixels are set
        to 0 inside :meth:`forward` whatever they held, so passing the clean image cannot leak
        the answer. Use :func:`composite` to keep the known pixels exactly.

    Example:
        >>> import torch
        >>> net = InpaintNet()
        >>> x, m = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.8).float()
        >>> net(x * (1 - m), m).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, channels: int = 3, width: int = 24, depth: int = 2) -> None:
        super().__init__()
        self.channels = _check_pos_int(channels, "channels")
        self.width = _check_pos_int(width, "width")
        self.depth = _check_pos_int(depth, "depth")
        widths = [width * 2**i for i in range(depth + 1)]
        self.inc = nn.Sequential(nn.Conv2d(channels + 1, widths[0], 3, padding=1), nn.SiLU())
        self.downs = nn.ModuleList([_block(widths[i], widths[i + 1], stride=2) for i in range(depth)])
        self.ups = nn.ModuleList([_Up(widths[i + 1], widths[i]) for i in reversed(range(depth))])
        self.out = nn.Conv2d(widths[0], channels, 3, padding=1)

    def forward(self, masked_image: Tensor, mask: Tensor) -> Tensor:
        """Fill the holes: ``(N, C, H, W), (N, 1, H, W) -> (N, C, H, W)`` (raw output everywhere)."""
        check_tensor(masked_image, "masked_image", ndim=4, finite=False)
        check_tensor(mask, "mask", ndim=4, floating=False, finite=False)
        n, c, h, w = masked_image.shape
        if c != self.channels:
            raise ShapeError(f"masked_image must have {self.channels} channels, got shape {tuple(masked_image.shape)}")
        if tuple(mask.shape) != (n, 1, h, w):
            raise ShapeError(f"mask must have shape {(n, 1, h, w)}, got {tuple(mask.shape)}")
        f = 2**self.depth
        if h % f or w % f:
            raise ShapeError(f"masked_image must have height and width divisible by 2**depth = {f}, got {h}x{w}")
        m = mask.to(masked_image.dtype)
        x = torch.cat([masked_image * (1.0 - m), m], dim=1)
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.out(y)


def composite(output: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """Keep the known pixels of ``image`` and take the holes from ``output``.

    Args:
        output: ``(N, C, H, W)`` network output.
        image: ``(N, C, H, W)`` original (or masked) image; only its known pixels are used.
        mask: ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = hole.

    Returns:
        ``mask * output + (1 - mask) * image``, shape ``(N, C, H, W)``.
    """
    check_tensor(output, "output", ndim=4, finite=False)
    check_tensor(image, "image", ndim=4, finite=False)
    if output.shape != image.shape:
        raise ShapeError(f"image must have the shape of output {tuple(output.shape)}, got {tuple(image.shape)}")
    n, c, h, w = output.shape
    if mask.ndim != 4 or mask.shape[0] != n or mask.shape[2:] != output.shape[2:] or mask.shape[1] not in (1, c):
        raise ShapeError(f"mask must have shape {(n, 1, h, w)} or {(n, c, h, w)}, got {tuple(mask.shape)}")
    m = mask.to(output.dtype)
    return m * output + (1.0 - m) * image
