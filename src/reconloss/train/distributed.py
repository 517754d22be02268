"""Distributed helpers for runs under ``torchrun``.

Two ways to use several processes:

* **One run, data parallel** (:func:`~reconloss.train.fit` under ``WORLD_SIZE > 1``): the model
  (together with the loss, so adaptive loss parameters are averaged too) is wrapped in
  ``DistributedDataParallel``. Every rank draws the SAME global batch indices from the seeded
  sampler and takes its contiguous slice ``idx[r*b:(r+1)*b]`` with ``b = batch_size / world``
  (an error when not divisible). DDP averages the gradients over ranks, so for a loss that is
  a mean over samples the update equals one process's over the global batch. Rank 0 alone
  evaluates (the whole test set, on the unwrapped model: metrics identical to a single-process
  run) and writes checkpoints/results; the others wait at a barrier.
* **A grid of independent runs** (:func:`spread_grid`): rank ``r`` runs ``jobs[r::world]``;
  results are gathered to rank 0 in the original order. Inside it, ``fit`` trains locally
  (no DDP), each job writing its own ``out_dir``.

Without ``torchrun`` (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) everything runs in-process.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .._checks import ParameterError

__all__ = [
    "DistInfo",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "get_rank",
    "get_world_size",
    "barrier",
    "leave_group",
    "spread_grid",
    "in_grid",
]

J = TypeVar("J")

_GRID_DEPTH = 0


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    device: torch.device


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ParameterError(f"environment variable {name} must be an integer, got {raw!r}") from None


def init_distributed(backend: str | None = None, timeout_s: float = 600.0) -> DistInfo:
    """Join the torchrun process group described by ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``.

    Backend: ``nccl`` when CUDA is available (the device ``cuda:LOCAL_RANK`` is selected),
    ``gloo`` otherwise (or as given). Idempotent: an existing group is reused. Without
    ``WORLD_SIZE`` (or with 1) no group is created and a single-process info is returned.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = _env_int("LOCAL_RANK", rank)
        be = dist.get_backend()
        dev = torch.device("cuda", local) if be == "nccl" else torch.device("cpu")
        return DistInfo(rank, world, local, be, dev)
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world <= 1:
        dev = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        return DistInfo(0, 1, 0, None, dev)
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not 0 <= rank < world:
        raise ParameterError(f"RANK must be in [0, WORLD_SIZE={world}), got {rank}")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(rank, world, local, backend, dev)


def is_distributed() -> bool:
    """Whether a process group with more than one rank is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """Rank in the active group (0 without one)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Size of the active group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 of the active group, and always without torchrun.

    Before the group is initialised the ``RANK`` environment variable decides.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _env_int("RANK", 0) == 0


def barrier() -> None:
    """``dist.barrier()`` when a multi-rank group is active, else nothing."""
    if is_distributed():
        dist.barrier()


def leave_group(settle_s: float = 0.2) -> None:
    """End a multi-rank run cleanly: wait for every rank, destroy the group, let it settle.

    Call it once at the end of a ``torchrun`` script (``reconloss study`` does). Without it a
    rank can abort with ``terminate called without an active exception`` while the
    interpreter shuts down: ``DistributedDataParallel`` leaves references to the process group
    behind (measured: 10 extra references after the wrapper is gone, torch 2.13), so the group
    outlives ``destroy_process_group`` and its gloo worker threads can still be releasing the
    tensors of the last collectives when Python finalizes; a thread that needs the GIL then
    cannot get it, and the process aborts (1 run in 6-60 of the DDP test on the 2-core VM).
    Sleeping ``settle_s`` seconds with the GIL released lets those threads finish first.
    Without an initialised group this does nothing.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    gc.collect()  # drop unreachable DDP wrappers while the interpreter is fully alive
    dist.barrier()
    dist.destroy_process_group()
    time.sleep(settle_s)


def in_grid() -> bool:
    """True while :func:`spread_grid` runs a job (``fit`` then trains locally, without DDP)."""
    return _GRID_DEPTH > 0


@contextlib.contextmanager
def _grid_scope() -> Iterator[None]:
    global _GRID_DEPTH
    _GRID_DEPTH += 1
    try:
        yield
    finally:
        _GRID_DEPTH -= 1


def spread_grid(jobs: Sequence[J], fn: Callable[[J], dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Run independent jobs spread over the ranks of a torchrun job.

    Rank ``r`` of ``W`` runs ``jobs[r::W]``; the result dicts are gathered to rank 0 with
    ``dist.gather_object`` and returned there in the order of ``jobs``; other ranks return
    ``None``. Without torchrun (``WORLD_SIZE`` unset or 1) all jobs run here, in order. The
    group is initialised from the environment when needed. Results must be picklable. If a job
    raises, that rank raises (the others may then block at the gather: torchrun tears the job
    down).

    Example:
        >>> spread_grid([1, 2, 3], lambda j: {"sq": j * j})
        [{'sq': 1}, {'sq': 4}, {'sq': 9}]
    """
    jobs = list(jobs)
    if not dist.is_available() or (not dist.is_initialized() and _env_int("WORLD_SIZE", 1) <= 1):
        with _grid_scope():
            return [fn(j) for j in jobs]
    info = init_distributed()
    if info.world_size <= 1:
        with _grid_scope():
            return [fn(j) for j in jobs]
    rank, world = info.rank, info.world_size
    with _grid_scope():
        mine = [(i, fn(jobs[i])) for i in range(rank, len(jobs), world)]
    gathered: list[Any] | None = [None] * world if rank == 0 else None
    dist.gather_object(mine, gathered, dst=0)
    if rank != 0:
        return None
    out: list[dict[str, Any] | None] = [None] * len(jobs)
    for part in gathered or []:
        for i, res in part:
            out[i] = res
    return [r if r is not None else {} for r in out]
