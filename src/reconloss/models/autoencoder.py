"""A small convolutional autoencoder with a real bottleneck.

Design choices, each made so the loss comparison is not confounded by the architecture:

* **Real bottleneck, no skip connections.** With the defaults a ``3 x 32 x 32`` patch (3072
  numbers) passes through a ``8 x 8 x 8`` code (512 numbers): a 6x compression, so the network
  cannot copy its input and must choose what to keep, which is where the losses differ.
* **Resize-convolution upsampling** (nearest-neighbour x2, then a 3x3 convolution), not
  transposed convolutions, whose uneven kernel overlap paints checkerboard artifacts that
  would be blamed on the loss (Odena et al., "Deconvolution and Checkerboard Artifacts",
  Distill 2016).
* **Linear output** (no sigmoid, no clamp): a sigmoid saturates near 0 and 1, so reproducing a
  bright outlier (value 1.0) would need an infinite pre-activation and the gradient would
  vanish exactly where the outlier study looks. The loss sees the raw output; clamp to
  ``[0, 1]`` only for display or metrics.
* No normalisation layers (outputs do not depend on the batch), SiLU activations.

Layout for ``channels=C, width=w, latent_channels=L, downsamples=d`` (feature widths
``w_0 = w_1 = w`` and ``w_i = w * 2**(i-1)`` for deeper levels, capped at ``4w``: full
resolution is kept narrow because it dominates the cost)::

    encoder: conv3x3(C->w) SiLU, then d x [conv3x3 stride 2 (w_i -> w_{i+1}) SiLU],
             conv1x1(w_d -> L)                                             -> code (L, H/2^d, W/2^d)
    decoder: conv3x3(L -> w_d) SiLU, then d x [nearest x2, conv3x3(w_{i+1} -> w_i) SiLU],
             conv3x3(w -> C)                                               -> output (C, H, W)
"""

from __future__ import annotations

from torch import Tensor, nn

from reconloss._checks import ParameterError, ShapeError, check_tensor

__all__ = ["ConvAutoencoder"]


def _check_pos_int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(f"{name} must be an int >= {low}, got {value!r}")
    return value


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder ``x -> code -> x_hat`` with a spatial bottleneck.

    With the defaults (``channels=3, width=32, latent_channels=8, downsamples=2``) the model has
    **62,411 parameters**; a ``(N, 3, 32, 32)`` input maps to a ``(N, 8, 8, 8)`` code, a
    compression ratio of 3072 / 512 = **6.0** (:meth:`compression_ratio`). Measured speed on one
    CPU thread (shared 2-core machine): see ``benchmarks/notes_data.md``.

    Args:
        channels: Image channels ``C`` (input and output), >= 1.
        width: Channels of the full-resolution features ``w``, >= 1.
        latent_channels: Channels ``L`` of the code, >= 1.
        downsamples: Number of stride-2 stages ``d`` (>= 1); inputs need ``H`` and ``W``
            divisible by ``2**d``.

    Shapes:
        Input ``(N, C, H, W)`` float, any range (usually [0, 1]); output the same shape,
        unbounded (linear output). Code ``(N, L, H / 2**d, W / 2**d)``.

    Example:
        >>> import torch
        >>> model = ConvAutoencoder()
        >>> model(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
        >>> model.compression_ratio(32, 32)
        6.0
    """

    def __init__(self, channels: int = 3, width: int = 32, latent_channels: int = 8, downsamples: int = 2) -> None:
        super().__init__()
        self.channels = _check_pos_int(channels, "channels")
        self.width = _check_pos_int(width, "width")
        self.latent_channels = _check_pos_int(latent_channels, "latent_channels")
        self.downsamples = _check_pos_int(downsamples, "downsamples")
        widths = [width * min(2 ** max(i - 1, 0), 4) for i in range(downsamples + 1)]

        enc: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.SiLU()]
        for i in range(downsamples):
            enc += [nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), nn.SiLU()]
        enc.append(nn.Conv2d(widths[-1], latent_channels, 1))
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(latent_channels, widths[-1], 3, padding=1), nn.SiLU()]
        for i in reversed(range(downsamples)):
            dec += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i + 1], widths[i], 3, padding=1),
                nn.SiLU(),
            ]
        dec.append(nn.Conv2d(widths[0], channels, 3, padding=1))
        self.decoder = nn.Sequential(*dec)

    def _check_input(self, x: Tensor) -> None:
        check_tensor(x, "x", ndim=4, finite=False)
        if x.shape[1] != self.channels:
            raise ShapeError(f"x must have {self.channels} channels (N, C, H, W), got shape {tuple(x.shape)}")
        f = 2**self.downsamples
        if x.shape[2] % f or x.shape[3] % f:
            raise ShapeError(
                f"x must have height and width divisible by 2**downsamples = {f}, got {x.shape[2]}x{x.shape[3]}"
            )

    def encode(self, x: Tensor) -> Tensor:
        """Map ``(N, C, H, W)`` images to the ``(N, L, H/2^d, W/2^d)`` code."""
        self._check_input(x)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Map a ``(N, L, h, w)`` code to ``(N, C, h*2^d, w*2^d)`` images (linear output)."""
        check_tensor(z, "z", ndim=4, finite=False)
        if z.shape[1] != self.latent_channels:
            raise ShapeError(f"z must have {self.latent_channels} channels, got shape {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct ``x``: ``(N, C, H, W) -> (N, C, H, W)``, raw (unclamped) output."""
        self._check_input(x)
        return self.decoder(self.encoder(x))

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """Shape ``(L, h, w)`` of the code of one ``height x width`` image."""
        f = 2**self.downsamples
        return (self.latent_channels, height // f, width // f)

    def compression_ratio(self, height: int, width: int) -> float:
        """Input numbers per code number for ``height x width`` images (6.0 for the defaults at 32x32)."""
        l_, h, w = self.latent_shape(height, width)
        return (self.channels * height * width) / float(l_ * h * w)
