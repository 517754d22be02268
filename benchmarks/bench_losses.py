"""Benchmark the registry's losses against baselines measured in the same run.

Prints, per size, the median forward and forward+backward time of each loss as a RATIO to
baselines timed in the same process, interleaved round-robin:

- ``native``: the torch.nn.functional loss (l1/mse/huber/smooth_l1; for Charbonnier the eager
  formula ``sqrt((a-b)^2 + eps^2).mean()``);
- ``sub``: one plain pass ``torch.sub(a, b)`` (forward) and ``torch.sub(a, b)`` twice
  (forward+backward needs at least a forward read and a gradient write);
- kornia's loss where one exists, pytorch_msssim for ssim/ms_ssim.

Columns: ``fwd`` under ``torch.no_grad()``, ``fb`` forward+backward; ``fused fb/nat`` forces
``impl='fused'`` (``auto`` keeps small unweighted L2/Huber/smooth L1 native); ``cold fb/nat``
times one call per contender per round (no repeats, so first-touch page faults and cache
misses count), the rest keep the fastest of a few repeats per round.

Usage::

    python benchmarks/bench_losses.py            # default sizes, < 3 min on 2 threads
    python benchmarks/bench_losses.py --quick    # one small size, few rounds
    python benchmarks/bench_losses.py --sizes 16x3x256x256 --rounds 7
    python benchmarks/bench_losses.py --compiled  # adds torch.compile (first calls compile)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import reconloss
from reconloss.losses import LOSSES, get_loss
from reconloss.losses import pixel

DEFAULT_SIZES = ("32x3x64x64", "16x3x256x256", "4x3x1024x1024")


def _parse_size(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.lower().split("x"))


def _time_once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(contenders: dict[str, Callable[[], object]], rounds: int, reps: int) -> dict[str, float]:
    """Median seconds per call of each contender; contenders interleaved round-robin.

    Each round times every contender ``reps`` times in a row and keeps the fastest ("hot":
    the caches and the allocator hold what the previous call of the same contender left);
    with ``reps=1`` every call follows a different contender ("cold": first-touch page faults
    and cache misses count, closer to a loss called once per training step).
    """
    for fn in contenders.values():  # warm up
        fn()
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(rounds):
        # Rotate the order every round: a contender's time depends on what ran just before it
        # (what the allocator and the caches hold), and no contender should always follow the same one.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = contenders[name]
            samples[name].append(min(_time_once(fn) for _ in range(reps)))
    return {k: statistics.median(v) for k, v in samples.items()}


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _fb(loss_fn: LossFn, a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    def run() -> None:
        a.grad = None
        loss_fn(a, b).backward()

    return run


def _fwd(loss_fn: LossFn, a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    def run() -> None:
        with torch.no_grad():
            loss_fn(a, b)

    return run


def _native(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "l1":
        return F.l1_loss
    if kind == "l2":
        return F.mse_loss
    if kind == "huber":
        return F.huber_loss
    if kind == "smooth_l1":
        return F.smooth_l1_loss
    return lambda a, b: torch.sqrt((a - b) ** 2 + 1e-6).mean()


def _ours(kind: str, impl: str = "auto") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    fn = pixel.__dict__[{"l1": "l1_loss", "l2": "mse_loss"}.get(kind, f"{kind}_loss")]
    if kind == "charbonnier":
        return lambda x, y: fn(x, y, eps=1e-3, impl=impl)
    return lambda x, y: fn(x, y, impl=impl)


def _kornia(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    try:
        import kornia.losses as kl
    except Exception:  # noqa: BLE001
        return None
    if kind == "charbonnier" and hasattr(kl, "charbonnier_loss"):
        return lambda a, b: kl.charbonnier_loss(a, b, reduction="mean")
    if kind == "ssim" and hasattr(kl, "ssim_loss"):
        return lambda a, b: kl.ssim_loss(a, b, window_size=11)
    return None


def _msssim(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    try:
        import pytorch_msssim as pm
    except Exception:  # noqa: BLE001
        return None
    if kind == "ssim":
        return lambda a, b: 1 - pm.ssim(a, b, data_range=1.0)
    if kind == "ms_ssim":
        return lambda a, b: 1 - pm.ms_ssim(a, b, data_range=1.0)
    return None


PIXEL = ("l1", "l2", "huber", "smooth_l1", "charbonnier")
OTHERS = ("ssim", "ms_ssim", "mix", "barron", "gradient", "frequency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="NxCxHxW sizes")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one small size, 3 rounds")
    parser.add_argument("--compiled", action="store_true",
                        help="also time impl='compiled' (torch.compile; prints each first-call compile time)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds = ["32x3x64x64"], 3
    torch.set_num_threads(args.threads)
    print(f"reconloss {reconloss.__version__}, torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"loadavg(before)={tuple(round(x, 2) for x in os.getloadavg())}")
    print("ratios < 1 mean faster than the baseline; medians of interleaved rounds\n")
    for size_text in args.sizes:
        shape = _parse_size(size_text)
        numel = 1
        for s in shape:
            numel *= s
        reps = 5 if numel < 1 << 20 else (3 if numel < 1 << 23 else 1)
        gen = torch.Generator().manual_seed(0)
        a = torch.rand(shape, generator=gen).requires_grad_()
        b = torch.rand(shape, generator=gen)
        ad = a.detach()
        print(f"== {size_text} float32 ({numel * 4 / 2**20:.0f} MiB per tensor) loadavg={os.getloadavg()[0]:.2f}")

        # Pixel losses (each round also times the plain passes "sub" and "sub2" as baselines).
        # "ours" is the default impl='auto'; "fused" forces impl='fused' (it differs from auto
        # only for unweighted L2/Huber/smooth L1 below LIGHT_FUSED_FROM, where auto is native).
        print(f"{'loss':<12}{'fwd/native':>11}{'fwd/sub':>9}{'fb/native':>11}{'fb/sub2':>9}{'fb/kornia':>11}"
              f"{'fused fb/nat':>13}{'cold fb/nat':>12}{'fwd ms':>9}{'fb ms':>9}")
        for kind in PIXEL:
            ours = _ours(kind)
            nat = _native(kind)
            cont = {
                "ours_f": _fwd(ours, ad, b),
                "nat_f": _fwd(nat, ad, b),
                "sub": lambda: torch.sub(ad, b),
                "ours_fb": _fb(ours, a, b),
                "nat_fb": _fb(nat, a, b),
                "sub2": lambda: (torch.sub(ad, b), torch.sub(ad, b)),
                "fused_fb": _fb(_ours(kind, impl="fused"), a, b),
            }
            kor = _kornia(kind)
            if kor is not None:
                cont["kornia_fb"] = _fb(kor, a, b)
            compile_s = None
            if args.compiled:
                comp = _fb(_ours(kind, impl="compiled"), a, b)
                compile_s = _time_once(comp)  # the first call compiles (a disk cache may shorten it)
                cont["compiled_fb"] = comp
            t = measure(cont, args.rounds, reps)
            # Cold: one call per contender per round, more rounds (single calls are noisier).
            cold = measure({"ours_fb": cont["ours_fb"], "nat_fb": cont["nat_fb"]}, 3 * args.rounds, 1)
            kr = f"{t['ours_fb'] / t['kornia_fb']:>11.2f}" if "kornia_fb" in t else f"{'-':>11}"
            print(f"{kind:<12}{t['ours_f'] / t['nat_f']:>11.2f}{t['ours_f'] / t['sub']:>9.2f}"
                  f"{t['ours_fb'] / t['nat_fb']:>11.2f}{t['ours_fb'] / t['sub2']:>9.2f}{kr}"
                  f"{t['fused_fb'] / t['nat_fb']:>13.2f}{cold['ours_fb'] / cold['nat_fb']:>12.2f}"
                  f"{t['ours_f'] * 1e3:>9.3f}{t['ours_fb'] * 1e3:>9.3f}")
            if compile_s is not None:
                print(f"{'':<12}compiled fb/native {t['compiled_fb'] / t['nat_fb']:.2f}, fused fb/compiled "
                      f"{t['fused_fb'] / t['compiled_fb']:.2f}; first compiled call {compile_s:.1f} s")

        # Bandwidth: our L1 forward reads 2 tensors; the plain sub reads 2 and writes 1.
        t = measure({"l1": _fwd(pixel.l1_loss, ad, b), "sub": lambda: torch.sub(ad, b)}, args.rounds, reps)
        gb_l1 = 2 * numel * 4 / t["l1"] / 1e9
        gb_sub = 3 * numel * 4 / t["sub"] / 1e9
        print(f"bandwidth: L1 forward {gb_l1:.1f} GB/s, plain sub {gb_sub:.1f} GB/s "
              f"(L1 reaches {gb_l1 / gb_sub:.2f} of the plain pass)")

        # Masked / weighted vs unmasked, and the boolean-indexing pattern.
        m = torch.rand(shape[0], 1, *shape[2:], generator=gen) > 0.3
        wt = torch.rand(shape[0], 1, *shape[2:], generator=gen)
        mfull = m.expand(shape)
        cont = {
            "l1": _fb(pixel.l1_loss, a, b),
            "l1_mask": _fb(lambda x, y: pixel.l1_loss(x, y, mask=m), a, b),
            "l1_weight": _fb(lambda x, y: pixel.l1_loss(x, y, weight=wt), a, b),
            "l2": _fb(pixel.mse_loss, a, b),
            "l2_mask": _fb(lambda x, y: pixel.mse_loss(x, y, mask=m), a, b),
            "l2_weight": _fb(lambda x, y: pixel.mse_loss(x, y, weight=wt), a, b),
            "l1_boolidx": _fb(lambda x, y: F.l1_loss(x[mfull], y[mfull]), a, b),
            # The eager masked mean most code writes: element-wise loss, times the mask, sum.
            "l1_mask_eager": _fb(lambda x, y: (F.l1_loss(x, y, reduction="none") * m).sum() / (m.sum() * x.shape[1]), a, b),
            "l2_mask_eager": _fb(lambda x, y: (F.mse_loss(x, y, reduction="none") * m).sum() / (m.sum() * x.shape[1]), a, b),
        }
        t = measure(cont, args.rounds, reps)
        print(f"masked fwd+bwd vs our unmasked: L1 mask {t['l1_mask'] / t['l1']:.2f}, L1 weight "
              f"{t['l1_weight'] / t['l1']:.2f}, L2 mask {t['l2_mask'] / t['l2']:.2f}, L2 weight "
              f"{t['l2_weight'] / t['l2']:.2f}; boolean-index L1 {t['l1_boolidx'] / t['l1']:.2f}x our unmasked "
              f"({t['l1_boolidx'] / t['l1_mask']:.2f}x our masked)")
        print(f"our masked vs the eager masked formula (e * m).sum() / (m.sum() * C): L1 "
              f"{t['l1_mask'] / t['l1_mask_eager']:.2f}, L2 {t['l2_mask'] / t['l2_mask_eager']:.2f}")

        # Other registered losses, when their modules import.
        if numel <= 32 * 3 * 64 * 64:  # the other losses are slow at large sizes; one size keeps the run short
            # MS-SSIM with 5 scales needs images of at least 161 px: below that, ms_ssim and mix
            # run with scales=2 (21 px), and pytorch_msssim (which demands > 160 px) is skipped.
            few_scales = min(shape[-2:]) < 161
            for kind in OTHERS:
                params = {"scales": 2} if few_scales and kind in ("ms_ssim", "mix") else {}
                label = f"{kind}(scales=2)" if params else kind
                try:
                    mod = get_loss(kind, **params)
                except Exception as exc:  # noqa: BLE001
                    print(f"{label:<12} skipped ({type(exc).__name__}: {str(exc)[:60]})")
                    continue
                cont = {"ours_fb": _fb(mod, a, b), "l1_fb": _fb(F.l1_loss, a, b)}
                ref = None if params else (_msssim(kind) or _kornia(kind))
                if ref is not None:
                    cont["ref_fb"] = _fb(ref, a, b)
                try:
                    t = measure(cont, 3, 1)
                except Exception as exc:  # noqa: BLE001
                    print(f"{label:<12} failed ({type(exc).__name__}: {str(exc)[:60]})")
                    continue
                refs = f", {t['ours_fb'] / t['ref_fb']:.2f}x reference" if "ref_fb" in t else ""
                ms, rel = t["ours_fb"] * 1e3, t["ours_fb"] / t["l1_fb"]
                note = " (5 scales need 161 px; no pytorch_msssim reference below that)" if params else ""
                print(f"{label:<12} fwd+bwd {ms:.2f} ms = {rel:.1f}x native L1{refs}{note}")
        print()
    print(f"loadavg(after)={tuple(round(x, 2) for x in os.getloadavg())}; registry has {len(LOSSES)} losses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
