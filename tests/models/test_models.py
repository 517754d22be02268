"""Models: shapes, a real bottleneck, documented parameter counts, determinism, registry."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import torch

from reconloss._checks import ParameterError, ShapeError, UnknownNameError
from reconloss.models import MODELS, ConvAutoencoder, InpaintNet, build_model, composite, count_parameters, list_models


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # On a shared, loaded CPU, two intra-op threads can be 20x slower than one for these tiny convs.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _documented_parameters(cls: type) -> int:
    match = re.search(r"\*\*([\d,]+) parameters\*\*", cls.__doc__ or "")
    assert match, f"{cls.__name__} docstring must state its parameter count"
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize("cls", [ConvAutoencoder, InpaintNet])
def test_parameter_count_matches_docstring(cls: type) -> None:
    assert count_parameters(cls()) == _documented_parameters(cls)


def test_autoencoder_shapes_and_bottleneck() -> None:
    model = ConvAutoencoder()
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == x.shape
    z = model.encode(x)
    assert z.shape == (2, 8, 8, 8) and model.latent_shape(32, 32) == (8, 8, 8)
    assert z[0].numel() * 6 == x[0].numel() and model.compression_ratio(32, 32) == 6.0
    assert model.decode(z).shape == x.shape
    assert "6.0" in (ConvAutoencoder.__doc__ or "")
    assert ConvAutoencoder(downsamples=3, latent_channels=16)(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_autoencoder_has_linear_output_and_no_transposed_convs() -> None:
    model = ConvAutoencoder()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    assert isinstance(list(model.decoder)[-1], torch.nn.Conv2d)  # no sigmoid / clamp at the end


def test_autoencoder_cannot_copy_noise() -> None:
    # White noise is incompressible: with a 6x bottleneck even the best linear code keeps 1/6 of
    # its variance, so the error must stay near the noise variance (1/12) after training.
    torch.manual_seed(0)
    model = ConvAutoencoder(width=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(15):
        x = torch.rand(4, 3, 16, 16, generator=g)
        loss = torch.mean((model(x) - x) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = torch.rand(16, 3, 16, 16, generator=g)
        mse = float(torch.mean((model(x) - x) ** 2))
    assert mse > 0.5 * (1 / 12)


def test_inpaint_shapes_and_hole_blindness() -> None:
    torch.manual_seed(0)
    net = InpaintNet()
    x = torch.rand(2, 3, 32, 32)
    m = torch.zeros(2, 1, 32, 32)
    m[:, :, 8:20, 8:20] = 1
    out = net(x * (1 - m), m)
    assert out.shape == x.shape
    # The hole content of the input is ignored: passing the clean image changes nothing.
    assert torch.equal(out, net(x, m))
    c = composite(out, x, m)
    assert torch.equal(c * (1 - m), x * (1 - m)) and torch.equal(c * m, out * m)
    assert InpaintNet(depth=3)(torch.rand(1, 3, 32, 32), m[:1]).shape == (1, 3, 32, 32)


def test_forward_deterministic() -> None:
    x = torch.rand(2, 3, 32, 32)
    m = (torch.rand(2, 1, 32, 32) > 0.7).float()
    torch.manual_seed(1)
    a1, i1 = ConvAutoencoder(), InpaintNet()
    torch.manual_seed(1)
    a2, i2 = ConvAutoencoder(), InpaintNet()
    assert torch.equal(a1(x), a2(x)) and torch.equal(a1(x), a1(x))
    assert torch.equal(i1(x, m), i2(x, m))


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match="divisible"):
        ConvAutoencoder()(torch.rand(1, 3, 30, 32))
    with pytest.raises(ShapeError, match="channels"):
        ConvAutoencoder()(torch.rand(1, 1, 32, 32))
    with pytest.raises(ShapeError, match="mask"):
        InpaintNet()(torch.rand(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    with pytest.raises(ParameterError):
        ConvAutoencoder(width=0)


def test_registry() -> None:
    assert list_models() == ["autoencoder", "inpaint"] and set(MODELS) == {"autoencoder", "inpaint"}
    assert isinstance(build_model("Autoencoder", width=8), ConvAutoencoder)
    assert isinstance(build_model("inpaint"), InpaintNet)
    with pytest.raises(UnknownNameError, match="autoencoder, inpaint"):
        build_model("unet")
    frozen = ConvAutoencoder()
    for p in frozen.encoder.parameters():
        p.requires_grad_(False)
    assert count_parameters(frozen) < count_parameters(frozen, trainable_only=False)
