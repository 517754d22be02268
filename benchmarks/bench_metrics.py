"""Cost of the standard metric set, and of our SSIM against pytorch-msssim and torchmetrics.

Run: ``python benchmarks/bench_metrics.py [--per-key]`` (CPU; about 1 minute on an idle
2-core machine, ``--per-key`` adds the cost of each metric alone). Prints medians of interleaved
repeats after a warm-up, ratios taken in the same run, and the load average (the absolute
figures move with the machine's load; the ratios move much less).

1. ``evaluate_images`` (psnr, ssim, mae, mse, 3 sharpness ratios, artifact; ms_ssim is omitted
   at 64 px with the standard 5 scales, so a second row adds it with ``ms_ssim_scales=3``) on
   256 patches of 3x64x64, against one training step (forward, L1 loss, backward, Adam step) of
   the project's ``ConvAutoencoder`` (or a local stand-in if it does not exist yet) on a batch of
   64 of the same patches.
2. Per-image SSIM (11-tap Gaussian, data_range 1) on the 256 patches: ours
   (``reconloss.metrics.ssim``), ``pytorch_msssim.ssim(size_average=False)``,
   ``torchmetrics.functional.structural_similarity_index_measure(reduction='none')``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from reconloss.metrics import evaluate_images, ssim

N_PATCHES = 256
PATCH = 64
TRAIN_BATCH = 64


def _patches(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random crops of scikit-image's colour photographs, (n, 3, size, size) in [0, 1]."""
    from skimage import data

    rng = np.random.default_rng(seed)
    imgs = [getattr(data, name)().astype(np.float32) / 255.0 for name in ("astronaut", "chelsea", "coffee")]
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        img = imgs[i % len(imgs)]
        top = rng.integers(0, img.shape[0] - size)
        left = rng.integers(0, img.shape[1] - size)
        out[i] = img[top : top + size, left : left + size].transpose(2, 0, 1)
    return torch.from_numpy(out)


class _StandIn(nn.Module):
    """Stand-in conv autoencoder (two stride-2 downsamples, 32 channels)."""

    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(width, width, 3, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _model() -> tuple[nn.Module, str]:
    try:
        from reconloss.models import ConvAutoencoder
    except ImportError as exc:  # the real model is written by someone else
        return _StandIn(), f"local stand-in (reconloss.models.ConvAutoencoder not importable: {exc})"
    return ConvAutoencoder(), "reconloss.models.ConvAutoencoder (defaults)"


def _median_times(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Interleaved timing: each round runs every function once, in a rotating order."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    t_start = time.perf_counter()
    print(f"load average at start (1, 5, 15 min): {os.getloadavg()}; cpus: {os.cpu_count()}; "
          f"torch threads: {torch.get_num_threads()}; torch {torch.__version__}")
    torch.manual_seed(0)
    target = _patches(N_PATCHES, PATCH)
    output = (nn.functional.avg_pool2d(target, 3, 1, 1, count_include_pad=False) + 0.02 * torch.randn_like(target)).clamp(0, 1)

    model, which = _model()
    print(f"model: {which}")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = target[:TRAIN_BATCH]

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = (model(batch) - batch).abs().mean()
        loss.backward()
        opt.step()

    @torch.no_grad()
    def metrics_std() -> dict[str, float]:
        return evaluate_images(output, target)

    @torch.no_grad()
    def metrics_ms3() -> dict[str, float]:
        return evaluate_images(output, target, ms_ssim_scales=3)

    res = metrics_ms3()
    print("metric values (sanity): " + ", ".join(f"{k}={v:.4g}" for k, v in res.items()))
    t = _median_times({"train_step": train_step, "evaluate": metrics_std, "evaluate_ms3": metrics_ms3}, repeats=3)
    print(f"\n[1] {N_PATCHES} patches 3x{PATCH}x{PATCH}, medians of 3 interleaved repeats after 1 warm-up")
    print(f"  one training step (batch {TRAIN_BATCH}):        {t['train_step'] * 1e3:8.1f} ms")
    print(f"  evaluate_images (no ms_ssim at 64 px): {t['evaluate'] * 1e3:8.1f} ms  = {t['evaluate'] / t['train_step']:.2f} training steps")
    print(f"  evaluate_images + ms_ssim(3 scales):   {t['evaluate_ms3'] * 1e3:8.1f} ms  = {t['evaluate_ms3'] / t['train_step']:.2f} training steps")
    if "--per-key" in sys.argv:
        from reconloss.metrics.accumulate import STANDARD_KEYS, image_metric_values

        with torch.no_grad():
            fns = {k: (lambda k=k: image_metric_values(output, target, kinds=(k,), ms_ssim_scales=3)) for k in STANDARD_KEYS}
            per_key = _median_times(fns, repeats=2, warmup=0)
        print("  per key alone (ms, median of 2): " + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in per_key.items()))

    import pytorch_msssim
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    with torch.no_grad():
        ours = ssim(output, target)
        theirs = pytorch_msssim.ssim(output, target, data_range=1.0, size_average=False)
        tmv = tm_ssim(output, target, data_range=1.0, reduction="none")
        print(f"\n[2] SSIM agreement: max |ours - pytorch_msssim| = {float((ours - theirs).abs().max()):.2e}, "
              f"max |ours - torchmetrics| = {float((ours - tmv).abs().max()):.2e}")
        t2 = _median_times(
            {
                "ours": lambda: ssim(output, target),
                "pytorch_msssim": lambda: pytorch_msssim.ssim(output, target, data_range=1.0, size_average=False),
                "torchmetrics": lambda: tm_ssim(output, target, data_range=1.0, reduction="none"),
            },
            repeats=5,
        )
    print(f"  SSIM on {N_PATCHES}x3x{PATCH}x{PATCH}, medians of 5 interleaved repeats:")
    for k, v in t2.items():
        print(f"    {k:15s} {v * 1e3:8.1f} ms   ours / {k} = {t2['ours'] / v:.2f}")
    print(f"\nload average at end: {os.getloadavg()}; total {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
