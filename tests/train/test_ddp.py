"""2 CPU processes (gloo) train like one process over the same global batch; spread_grid gathers in order."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reconloss.train import fit, is_main_process, spread_grid

from ._ddp_worker import GRID, ddp_config, grid_job, worker
from ._helpers import AdaptiveLaplace, TinyNet, make_task, simple_eval

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_ranks_match_one_process_and_grid(tmp_path: Path) -> None:
    ctx = mp.spawn(worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 150
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("DDP workers did not finish in 150 s")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == 2 and r0["main"] and not r1["main"]
    for k in r0["model"]:
        assert torch.equal(r0["model"][k], r1["model"][k]), k
    assert r0["eval"] == r1["eval"]  # metrics broadcast from rank 0

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = fit(ddp_config(), make_task(), tmp_path / "one", model=TinyNet, loss=AdaptiveLaplace(), eval_fn=simple_eval)
        local_grid = spread_grid(GRID, lambda s: grid_job(s, tmp_path / "local"))
    finally:
        torch.set_num_threads(old)
    for k, v in one.model.state_dict().items():
        torch.testing.assert_close(r0["model"][k], v, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(r0["loss"]["log_scale"], one.loss.log_scale.detach(), rtol=1e-5, atol=1e-6)
    assert float(one.loss.log_scale.detach()) != 0.0
    assert (tmp_path / "ddp" / "checkpoint.pt").exists()

    grid = json.loads((tmp_path / "grid.json").read_text())
    assert [g["seed"] for g in grid] == GRID
    assert all(g["world"] == 1 for g in grid)  # grid jobs train locally, not with DDP
    assert local_grid is not None
    for a, b in zip(grid, local_grid):
        assert a["mae"] == pytest.approx(b["mae"], rel=1e-6)


def test_leave_group_without_a_group_does_nothing() -> None:
    from reconloss.train import leave_group

    assert not (dist.is_available() and dist.is_initialized())
    t0 = time.monotonic()
    leave_group()  # no barrier, no destroy, no settling sleep: nothing to leave
    assert time.monotonic() - t0 < 0.1


def test_local_spread_grid_and_main_process() -> None:
    assert is_main_process()
    assert spread_grid(["a", "b"], lambda j: {"j": j}) == [{"j": "a"}, {"j": "b"}]
