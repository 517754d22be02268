"""Benchmark reconloss SSIM / MS-SSIM against pytorch-msssim, kornia and torchmetrics (CPU).

Prints, for each case, the median time of forward and forward+backward per contender and its
ratio to pytorch-msssim measured in the same run (contenders interleaved round by round, after
a warm-up), the peak extra memory of one forward+backward as a multiple of one input tensor,
and the agreement of each SSIM with scikit-image on real photographs.

Memory method: each contender runs in a fresh subprocess (``MALLOC_MMAP_THRESHOLD_=65536`` so
that glibc serves every large block with mmap and returns it on free); after a small warm-up
(libraries and kernels loaded) and the inputs allocated, the RSS high-water mark is reset
(``/proc/self/clear_refs`` = 5, Linux) and the increase of ``VmHWM`` over ``VmRSS`` across one
forward+backward is the peak of the
memory actually touched, including ``x.grad``. It is an RSS high-water mark, so it is an upper
bound on allocator-level peak (it also counts page-granular slack), measured the same way for
every contender.

Usage::

    python benchmarks/bench_ssim.py            # < 3 minutes on 2 idle cores
    python benchmarks/bench_ssim.py --quick    # 3 rounds, memory of two contenders only
    python benchmarks/bench_ssim.py --full     # also MS-SSIM at 4x3x512x512
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

THREADS = 2


def _contenders(kind: str) -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Loss functions (scalar, 1 - similarity) by contender name."""
    import pytorch_msssim

    from reconloss.losses.structural import ms_ssim_loss, ssim_loss

    out: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {}
    if kind == "ssim":
        out["reconloss"] = lambda x, y: ssim_loss(x, y)
        out["pytorch_msssim"] = lambda x, y: 1 - pytorch_msssim.ssim(x, y, data_range=1.0)
        try:
            import kornia

            out["kornia"] = lambda x, y: kornia.losses.ssim_loss(x, y, window_size=11) * 2.0
        except ImportError:  # pragma: no cover
            pass
        try:
            from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

            out["torchmetrics"] = lambda x, y: 1 - tm_ssim(x, y, data_range=1.0)
        except ImportError:  # pragma: no cover
            pass
    else:
        out["reconloss"] = lambda x, y: ms_ssim_loss(x, y)
        out["pytorch_msssim"] = lambda x, y: 1 - pytorch_msssim.ms_ssim(x, y, data_range=1.0)
        try:
            from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms

            out["torchmetrics"] = lambda x, y: 1 - tm_ms(x, y, data_range=1.0)
        except ImportError:  # pragma: no cover
            pass
    return out


def _time_case(kind: str, shape: tuple[int, ...], rounds: int, backward: bool) -> dict[str, float]:
    fns = _contenders(kind)
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(shape, generator=gen)
    x = (y + 0.1 * torch.randn(shape, generator=gen)).clamp(0, 1).requires_grad_(backward)
    times: dict[str, list[float]] = {k: [] for k in fns}

    def run(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
        t0 = time.perf_counter()
        if backward:
            x.grad = None
            fn(x, y).backward()
        else:
            with torch.no_grad():
                fn(x, y)
        return time.perf_counter() - t0

    for fn in fns.values():  # warm-up
        run(fn)
        run(fn)
    for _ in range(rounds):
        for name, fn in fns.items():  # interleaved
            times[name].append(run(fn))
    return {k: statistics.median(v) for k, v in times.items()}


_MEM_CHILD = r"""
import sys, torch
torch.set_num_threads(%d)
sys.path.insert(0, %r)
from bench_ssim import _contenders
kind, name = sys.argv[1], sys.argv[2]
shape = tuple(int(s) for s in sys.argv[3].split("x"))
fn = _contenders(kind)[name]
small = (1, shape[1], 192, 192) if kind == "ms_ssim" else (1, shape[1], 64, 64)
xs = torch.rand(small, requires_grad=True); fn(xs, torch.rand(small)).backward()
y = torch.rand(shape); x = y.clone().add_(0.05).clamp_(0, 1).requires_grad_(True)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the RSS high-water mark (VmHWM) to the current RSS
base = status("VmRSS:")
fn(x, y).backward()
peak = status("VmHWM:")
print((peak - base) * 1024 / (x.numel() * x.element_size()))
"""


def _memory_multiple(kind: str, name: str, shape: tuple[int, ...]) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(THREADS))
    code = _MEM_CHILD % (THREADS, os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run(
        [sys.executable, "-c", code, kind, name, "x".join(str(s) for s in shape)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if res.returncode != 0:
        return float("nan")
    return float(res.stdout.strip().splitlines()[-1])


def _photos() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    out = [("astronaut", data.astronaut()[100:292, 150:342]), ("chelsea", data.chelsea()[50:242, 100:292])]
    cam = data.camera()[200:392, 200:392]
    out.append(("camera(gray)", cam[:, :, None]))
    return [(n, a.astype(np.float64) / 255.0) for n, a in out]


def _agreement() -> None:
    import kornia
    import pytorch_msssim
    from skimage.metrics import structural_similarity
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    from reconloss.metrics.fidelity import ms_ssim, ssim

    rng = np.random.default_rng(0)
    print("\nAgreement on real photographs (float64, noisy copy vs original):")
    print(f"{'image':14s} {'skimage':>10s} {'|ours-sk|':>10s} {'|pmsssim-sk|':>13s} {'|kornia-sk|':>12s} {'|tm-sk|':>10s}")
    for name, img in _photos():
        noisy = np.clip(img + rng.normal(0, 0.08, img.shape), 0, 1)
        ref = structural_similarity(
            img, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2
        )
        x = torch.from_numpy(img).permute(2, 0, 1)[None]
        y = torch.from_numpy(noisy).permute(2, 0, 1)[None]
        ours = float(ssim(x, y))
        pm = float(pytorch_msssim.ssim(x, y, data_range=1.0))
        ko = float(kornia.metrics.ssim(x, y, 11).mean())
        tm = float(tm_ssim(x, y, data_range=1.0))
        print(f"{name:14s} {ref:10.6f} {abs(ours - ref):10.2e} {abs(pm - ref):13.2e} {abs(ko - ref):12.2e} {abs(tm - ref):10.2e}")
        ms_o = float(ms_ssim(x, y))
        ms_p = float(pytorch_msssim.ms_ssim(x, y, data_range=1.0))
        print(f"{'':14s} MS-SSIM ours {ms_o:.6f} pytorch_msssim {ms_p:.6f} |diff| {abs(ms_o - ms_p):.2e}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 rounds; memory of reconloss and pytorch_msssim only")
    p.add_argument("--full", action="store_true", help="also MS-SSIM at 4x3x512x512")
    p.add_argument("--no-memory", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(THREADS)
    rounds = 3 if args.quick else 4
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, loadavg {os.getloadavg()}")
    cases: list[tuple[str, tuple[int, ...]]] = [
        ("ssim", (32, 3, 64, 64)),
        ("ssim", (8, 3, 256, 256)),
        ("ms_ssim", (8, 3, 256, 256)),
    ]
    if args.full:
        cases.append(("ms_ssim", (4, 3, 512, 512)))
    for kind, shape in cases:
        fwd = _time_case(kind, shape, rounds, backward=False)
        fb = _time_case(kind, shape, rounds, backward=True)
        base_f, base_fb = fwd["pytorch_msssim"], fb["pytorch_msssim"]
        print(f"\n{kind} {'x'.join(map(str, shape))} float32 (median of {rounds}; ratio vs pytorch_msssim)")
        for name in fwd:
            print(
                f"  {name:15s} fwd {fwd[name] * 1e3:8.1f} ms ({fwd[name] / base_f:5.2f}x)   "
                f"fwd+bwd {fb[name] * 1e3:8.1f} ms ({fb[name] / base_fb:5.2f}x)"
            )
    if not args.no_memory:
        print("\nPeak extra memory of one forward+backward (VmHWM - VmRSS, multiple of one input tensor):")
        for kind, shape in [("ssim", (8, 3, 256, 256)), ("ms_ssim", (8, 3, 256, 256))]:
            for name in _contenders(kind):
                if args.quick and name not in ("reconloss", "pytorch_msssim"):
                    continue
                print(f"  {kind:8s} {'x'.join(map(str, shape))} {name:15s} {_memory_multiple(kind, name, shape):6.1f}x")
    _agreement()
    print(f"\nloadavg at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
