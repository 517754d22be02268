"""Worker of test_ddp, run in 2 processes by torch.multiprocessing.spawn (gloo, 1 thread each)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from reconloss.train import TrainConfig, fit, init_distributed, is_main_process, leave_group, spread_grid

from ._helpers import AdaptiveLaplace, TinyNet, make_task, simple_eval

GRID = [0, 1, 2]


def ddp_config() -> TrainConfig:
    return TrainConfig(steps=6, batch_size=8, lr=5e-3, progress=False, threads=1, eval_every=3, checkpoint_every=3,
                       log_every=1)


def grid_job(seed: int, root: Path) -> dict[str, Any]:
    cfg = TrainConfig(steps=3, batch_size=4, seed=seed, progress=False, threads=1, checkpoint_every=0)
    res = fit(cfg, make_task(n_train=8, n_test=4), root / f"grid{seed}", model=TinyNet, loss=torch.nn.L1Loss(),
              eval_fn=simple_eval)
    return {"seed": seed, "mae": res.final_metrics["mae"], "world": res.world_size}


def worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    out = Path(root)
    info = init_distributed()
    if info.world_size != world or info.rank != rank or info.backend != "gloo":
        raise RuntimeError(f"bad DistInfo {info}")
    res = fit(ddp_config(), make_task(), out / "ddp", model=TinyNet, loss=AdaptiveLaplace(), eval_fn=simple_eval)
    torch.save({"model": res.model.state_dict(), "loss": res.loss.state_dict(), "world": res.world_size,
                "main": is_main_process(), "eval": res.history["eval"]}, out / f"rank{rank}.pt")
    results = spread_grid(GRID, lambda s: grid_job(s, out / f"r{rank}"))
    if rank == 0:
        (out / "grid.json").write_text(json.dumps(results))
    elif results is not None:
        raise RuntimeError("non-zero rank got grid results")
    leave_group()
