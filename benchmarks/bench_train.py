"""Training-loop speed on CPU: steps/s, the loss' share of a step, and 2-process DDP vs 1 process.

Run: ``.venv/bin/python benchmarks/bench_train.py`` (< 3 minutes on 2 cores). Every figure is a
median over timed steps after a warm-up, and every ratio compares runs of this same process
(the machine may be loaded by others: the load average is printed before and after).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reconloss.train import TensorTask, TrainConfig, fit  # noqa: E402

WARMUP, TIMED = 3, 15


def make_model(name: str) -> nn.Module:
    try:
        from reconloss.models import build_model

        return build_model(name)
    except ImportError:  # stand-in before the models exist
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 3, padding=1))


def make_loss(spec: str) -> nn.Module | None:
    try:
        from reconloss.losses import build_loss

        return build_loss(spec, total_steps=1000)
    except ImportError as exc:
        print(f"  (build_loss({spec!r}) not importable: {exc})")
        return {"l1": nn.L1Loss(), "l2": nn.MSELoss()}.get(spec)


def make_ms_ssim(p: int) -> nn.Module | None:
    """MS-SSIM with as many scales as a p x p patch allows (11-tap window: 10 * 2**(s-1) + 1 <= p)."""
    try:
        from reconloss.losses import get_loss
    except ImportError:
        return None
    scales = 1
    while 10 * 2 ** scales + 1 <= p and scales < 5:
        scales += 1
    try:
        return get_loss("ms_ssim", scales=scales)
    except ImportError as exc:
        print(f"  (ms_ssim not importable: {exc})")
        return None


def batch(name: str, n: int = 16, p: int = 32) -> tuple[Tensor, Tensor, Tensor | None]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, p, p, generator=g)
    if name == "inpaint":
        m = (torch.rand(n, 1, p, p, generator=g) < 0.2).float()
        return x * (1 - m), x, m
    return x, x, None


def time_steps(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], data: tuple[Tensor, Tensor, Tensor | None], max_s: float = 6.0) -> float:
    """Median seconds of one Adam step (forward, loss, backward, update); at least 5 timed steps."""
    inp, tgt, mask = data
    params = list(model.parameters()) + (list(loss_fn.parameters()) if isinstance(loss_fn, nn.Module) else [])
    opt = torch.optim.Adam(params, lr=1e-4)
    times: list[float] = []
    t_start = time.perf_counter()
    for i in range(WARMUP + TIMED):
        if len(times) >= 5 and time.perf_counter() - t_start > max_s:
            break  # a loaded machine (e.g. 2 threads on 2 shared cores) would take minutes
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(inp, mask) if mask is not None else model(inp)
        loss_fn(out, tgt).backward()
        opt.step()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_pair(model: nn.Module, loss: nn.Module, data: tuple[Tensor, Tensor, Tensor | None],
              n: int = 12) -> tuple[float, float]:
    """Median seconds of a model-only step and of a full step, interleaved (same machine load)."""
    base_l, full_l = ModelOnly(), loss
    b: list[float] = []
    f: list[float] = []
    inp, tgt, mask = data
    opt = torch.optim.Adam(list(model.parameters()) + list(loss.parameters()), lr=1e-4)
    for i in range(2 * (n + 2)):
        fn = base_l if i % 2 == 0 else full_l
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(inp, mask) if mask is not None else model(inp)
        fn(out, tgt).backward()
        opt.step()
        if i >= 4:
            (b if i % 2 == 0 else f).append(time.perf_counter() - t0)
    return statistics.median(b), statistics.median(f)


class ModelOnly(nn.Module):
    """A loss whose forward+backward costs ~nothing: the model-only baseline of a step."""

    def forward(self, out: Tensor, tgt: Tensor) -> Tensor:
        return out.sum() * 1e-6


def _ddp_worker(rank: int, world: int, port: int, out: str, steps: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    res = fit(_ddp_cfg(steps), _task(), Path(out) / "ddp", model=lambda: make_model("autoencoder"),
              loss=nn.L1Loss(), eval_fn=lambda m, t: {})
    if rank == 0:
        (Path(out) / "ddp_rate.txt").write_text(str(res.steps_per_s))
    import torch.distributed as dist

    dist.destroy_process_group()


def _ddp_cfg(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=16, progress=False, threads=1, eval_every=0, checkpoint_every=0)


def _task() -> TensorTask:
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return TensorTask(x, x, x[:8], x[:8])


def main() -> None:
    t_all = time.perf_counter()
    print(f"torch {torch.__version__}, cpu_count {os.cpu_count()}, loadavg before {os.getloadavg()}")
    print(f"\n## steps/s, batch 16 of 32x32, L1, Adam (median of {TIMED} after {WARMUP} warm-up)")
    for name in ("autoencoder", "inpaint"):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            s = time_steps(make_model(name), make_loss("l1") or nn.L1Loss(), batch(name))
            print(f"{name:12s} threads={threads}: {1 / s:7.1f} steps/s ({s * 1e3:6.1f} ms/step)")

    torch.set_num_threads(1)
    print("\n## share of a step spent in the loss (fwd+bwd), autoencoder, 1 thread")
    torch.manual_seed(0)
    model = make_model("autoencoder")
    for p in (32, 64):
        data = batch("autoencoder", p=p)
        for spec in ("l1", "l2", "ms_ssim"):
            loss = make_loss(spec) if spec != "ms_ssim" else make_ms_ssim(p)
            if loss is None:
                print(f"{spec:8s} {p}x{p}: not importable yet")
                continue
            try:
                base, full = time_pair(model, loss, data)
            except (ValueError, TypeError, RuntimeError) as exc:
                print(f"{spec:8s} {p}x{p}: failed: {type(exc).__name__}: {str(exc)[:100]}")
                continue
            label = spec if spec != "ms_ssim" else f"ms_ssim/{getattr(loss, 'scales', '?')}sc"
            print(f"{label:12s} {p}x{p}: step {full * 1e3:6.1f} ms, model-only {base * 1e3:6.1f} ms, "
                  f"loss share {max(0.0, (full - base) / full):5.1%}")

    print("\n## DDP: 2 processes (gloo, 1 thread each) vs 1 process, global batch 16, autoencoder, via fit()")
    steps = 40
    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(1)
        one = fit(_ddp_cfg(steps), _task(), Path(tmp) / "one", model=lambda: make_model("autoencoder"),
                  loss=nn.L1Loss(), eval_fn=lambda m, t: {})
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(_ddp_worker, args=(2, port, tmp, steps), nprocs=2, join=True)
        two = float((Path(tmp) / "ddp_rate.txt").read_text())
    print(f"1 process: {one.steps_per_s:6.1f} steps/s; 2 processes: {two:6.1f} steps/s; ratio 2p/1p = {two / one.steps_per_s:4.2f}")
    print(f"\nloadavg after {os.getloadavg()}, total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
