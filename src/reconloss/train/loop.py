"""The training loop: ``fit(config, task, out_dir)``.

Read top to bottom like nanoGPT's ``train.py``: seed once, build (or take) the model and the
loss, Adam over the model's AND the loss' parameters, resume from ``out_dir/checkpoint.pt``
when it exists, then for each update: draw the batch indices from the seeded sampler, tell
the loss its step, forward, backward, check finiteness, step; log, evaluate and checkpoint on
their cadence.

Step numbering: ``step`` is the number of updates already applied to the weights. Iteration
``s`` (0-based) calls ``loss.set_step(s)``, its training-loss record has ``"step": s`` (measured
on the weights after ``s`` updates), an evaluation record ``"step": d`` is measured after ``d``
updates, and a checkpoint at ``step`` ``c`` holds the state after ``c`` updates (resuming runs
iteration ``c`` next).

Determinism: one seed sets ``torch.manual_seed`` (model init, dropout...) and the CPU
``torch.Generator`` that draws batch indices (numpy is not used). The sampler draws, for every
update, ``randperm(N_train)[:batch_size]`` (no repeats within a batch; ``randint`` when the batch
is larger than the training set). The checkpoint stores both RNG states (and CUDA's when used),
the optimizer and the loss' state, so a resumed run ends bitwise equal to an uninterrupted one
on the same machine, device and thread count.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .._checks import InputTypeError, ParameterError, ReconlossError, ShapeError
from .._io import atomic_write_json
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig, config_hash
from .distributed import DistInfo, in_grid, init_distributed
from .task import TensorTask

__all__ = ["fit", "FitResult", "NonFiniteLossError", "evaluate_task", "resolve_device", "EvalFn", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"

#: ``eval_fn(model, task) -> {metric: float}``; called in eval mode under ``torch.no_grad()``.
EvalFn = Callable[[nn.Module, TensorTask], dict[str, float]]


class NonFiniteLossError(ReconlossError, FloatingPointError):
    """The loss or a gradient became NaN/Inf; the weights of that step were not updated.

    Attributes:
        step: the iteration (0-based, the value given to ``loss.set_step``) that failed.
        term: the loss term that went non-finite (from ``loss.last_terms``), the loss spec when
            the loss has no terms, or ``"gradient"`` when only the gradients were non-finite.
        checkpoint: the last good checkpoint (untouched), or ``None`` if none was written.
    """

    def __init__(self, message: str, *, step: int, term: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.step = step
        self.term = term
        self.checkpoint = checkpoint


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (unwrapped from DDP), on the training device.
        loss: the loss module (its adaptive parameters / schedule step as trained).
        history: ``{"train": [{"step", "loss", <term>: float...}], "eval": [{"step", <metric>...}]}``.
        steps_per_s: updates per second of this call (evaluation and checkpoint time included).
        wall_s: wall time of this call.
        resumed_from_step: the checkpoint step this call resumed from (``None``: fresh start).
        checkpoint_path: ``out_dir/checkpoint.pt`` (``None`` on non-zero DDP ranks).
        switch_steps: the loss' ``switch_steps`` (``[]`` for plain losses).
        config_hash: :func:`~reconloss.train.config_hash` of the config.
        final_metrics: the last evaluation record without its ``step``.
        device: the device trained on, as a string.
        world_size: number of DDP ranks (1 without DDP).
    """

    model: nn.Module
    loss: nn.Module
    history: dict[str, list[dict[str, float]]]
    steps_per_s: float
    wall_s: float
    resumed_from_step: int | None
    checkpoint_path: Path | None
    switch_steps: list[int] = field(default_factory=list)
    config_hash: str = ""
    final_metrics: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    world_size: int = 1


def resolve_device(device: str) -> torch.device:
    """``'auto'`` -> ``cuda`` when available, else ``mps`` when available, else ``cpu``."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"device must be available, got {device!r} but torch.cuda.is_available() is False")
    return torch.device(device)


def _forward(model: nn.Module, inp: Tensor, mask: Tensor | None) -> Tensor:
    return model(inp, mask) if mask is not None else model(inp)


@torch.no_grad()
def evaluate_task(model: nn.Module, task: TensorTask, batch_size: int = 64, data_range: float = 1.0) -> dict[str, float]:
    """Default evaluation: ``reconloss.metrics.evaluate_images`` on the whole test set.

    The model runs in batches of ``batch_size`` (outputs ``(N_test, C, P, P)`` clamped to
    ``[0, data_range]``, then concatenated) and the metrics are computed once over all test
    images. With masks, the hole-restricted metrics are added with the prefix ``hole_``.
    """
    from ..metrics import evaluate_images  # late import: metrics is a sibling library module

    outs = []
    for i in range(0, task.n_test, batch_size):
        m = None if task.test_mask is None else task.test_mask[i : i + batch_size]
        outs.append(_forward(model, task.test_input[i : i + batch_size], m).clamp(0.0, data_range))
    out = torch.cat(outs)
    target = task.test_target.to(out.dtype)
    metrics = {k: float(v) for k, v in evaluate_images(out, target, data_range=data_range).items()}
    if task.test_mask is not None:
        # A thin hole may hold no SSIM window centre: such images are left out of hole_ssim.
        hole = evaluate_images(out, target, data_range=data_range, mask=task.test_mask, empty="skip")
        metrics.update({f"hole_{k}": float(v) for k, v in hole.items()})
    return metrics


class _TrainStep(nn.Module):
    """Model + loss in one module, so DDP averages the loss' own parameters too."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, inp: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
        return self.loss(_forward(self.model, inp, mask), target)


def _materialise(obj: Any, build: Callable[[], nn.Module], name: str) -> nn.Module:
    if obj is None:
        obj = build()
    elif not isinstance(obj, nn.Module) and callable(obj):
        obj = obj()
    if not isinstance(obj, nn.Module):
        raise InputTypeError(f"{name} must be an nn.Module, a factory returning one, or None, got {type(obj).__name__}")
    return obj


def _draw(sampler: torch.Generator, n: int, batch: int) -> Tensor:
    if batch <= n:
        return torch.randperm(n, generator=sampler)[:batch]
    return torch.randint(0, n, (batch,), generator=sampler)


def _rng_state(device: torch.device, sampler: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "sampler": sampler.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device, sampler: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    sampler.set_state(state["sampler"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _nonfinite_terms(terms: dict[str, float]) -> list[str]:
    return [k for k, v in terms.items() if not math.isfinite(float(v))]


def fit(
    config: TrainConfig,
    task: TensorTask,
    out_dir: str | os.PathLike[str],
    *,
    model: nn.Module | Callable[[], nn.Module] | None = None,
    loss: nn.Module | Callable[[], nn.Module] | None = None,
    eval_fn: EvalFn | None = None,
    resume: bool = True,
) -> FitResult:
    """Train ``model`` on ``task`` with ``loss``; checkpoint to and resume from ``out_dir``.

    Args:
        config: the run's :class:`TrainConfig`.
        task: the in-memory data (moved to the training device).
        out_dir: folder of ``checkpoint.pt`` and ``history.json`` (created).
        model: a module, a zero-argument factory (called after seeding, so its initialisation
            follows ``config.seed``), or ``None`` for ``build_model(config.model, **config.model_kwargs)``.
        loss: same, default ``build_loss(config.loss, total_steps=config.steps)``.
        eval_fn: ``eval_fn(model, task) -> {metric: float}`` run in eval mode under
            ``torch.no_grad()``; default :func:`evaluate_task`.
        resume: continue from ``out_dir/checkpoint.pt`` when it exists (it must match the config,
            else :class:`CheckpointError`); ``False`` starts over and overwrites it.

    Returns:
        :class:`FitResult`.

    Raises:
        NonFiniteLossError: a NaN/Inf loss or gradient (the last checkpoint is left untouched).
        CheckpointError: an unreadable checkpoint or one written for another config.
    """
    if not isinstance(config, TrainConfig):
        raise InputTypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(task, TensorTask):
        raise InputTypeError(f"task must be a TensorTask, got {type(task).__name__}")
    t_start = time.perf_counter()
    out = Path(out_dir)

    # --- where we run -------------------------------------------------------------------
    info: DistInfo | None = None
    if not in_grid() and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        info = init_distributed()
    ddp = info is not None and info.world_size > 1
    rank = info.rank if ddp and info is not None else 0
    world = info.world_size if ddp and info is not None else 1
    writer = rank == 0
    if ddp and info is not None and info.backend == "nccl":
        device = info.device
    else:
        device = resolve_device(config.device)
    if config.batch_size % world != 0:
        raise ParameterError(
            f"batch_size must be divisible by the number of DDP ranks ({world}), got {config.batch_size}"
        )
    local_batch = config.batch_size // world
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    chash = config_hash(config)

    # --- seed once, build -----------------------------------------------------------------
    torch.manual_seed(config.seed)
    sampler = torch.Generator(device="cpu")
    sampler.manual_seed(config.seed)

    def _build_model() -> nn.Module:
        from ..models import build_model

        return build_model(config.model, **config.model_kwargs)

    def _build_loss() -> nn.Module:
        from ..losses import build_loss

        return build_loss(config.loss, total_steps=config.steps)

    net = _materialise(model, _build_model, "model").to(device)
    crit = _materialise(loss, _build_loss, "loss").to(device)
    task = task.to(device)
    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for p in list(net.parameters()) + list(crit.parameters()):
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)

    # --- resume -----------------------------------------------------------------------------
    ckpt_path = out / CHECKPOINT_NAME
    start = 0
    resumed: int | None = None
    history: dict[str, list[dict[str, float]]] = {"train": [], "eval": []}
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, config=config, map_location="cpu")
        try:
            net.load_state_dict(state["model"])
            crit.load_state_dict(state["loss"])
            optimizer.load_state_dict(state["optimizer"])
            _set_rng_state(state["rng"], device, sampler)
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {ckpt_path} does not fit this model/loss/optimizer: {exc}") from exc
        start = int(state["step"])
        resumed = start
        history = {"train": list(state["history"].get("train", [])), "eval": list(state["history"].get("eval", []))}
        if start > config.steps:
            raise CheckpointError(f"checkpoint {ckpt_path} is at step {start}, beyond config.steps={config.steps}")

    step_module: nn.Module = _TrainStep(net, crit)
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        has_loss_params = any(p.requires_grad for p in crit.parameters())
        step_module = DistributedDataParallel(
            step_module,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=has_loss_params,
        )

    show = config.progress and writer
    if show:
        print(
            f"[reconloss.train] config {json.dumps(config.to_dict(), sort_keys=True)} hash={chash} "
            f"device={device} world={world} "
            + (f"resuming from step {start} ({ckpt_path})" if resumed is not None else "fresh start"),
            file=sys.stderr,
        )
    eval_callable: EvalFn = eval_fn if eval_fn is not None else (
        lambda m, t: evaluate_task(m, t, batch_size=config.eval_batch_size)
    )
    set_step = getattr(crit, "set_step", None)
    last_good: Path | None = ckpt_path if ckpt_path.exists() and resumed is not None else None

    def run_eval(done: int) -> None:
        metrics: dict[str, float] = {}
        if writer:
            was = net.training, crit.training
            net.eval()
            crit.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in eval_callable(net, task).items()}
            net.train(was[0])
            crit.train(was[1])
        if ddp:
            box: list[Any] = [metrics]
            dist.broadcast_object_list(box, src=0)
            metrics = box[0]
        history["eval"].append({"step": done, **metrics})

    def save(done: int) -> None:
        nonlocal last_good
        if writer:
            save_checkpoint(
                ckpt_path,
                {
                    "config": config.to_dict(),
                    "config_hash": chash,
                    "step": done,
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "loss": crit.state_dict(),
                    "rng": _rng_state(device, sampler),
                    "history": history,
                    "world_size": world,
                },
            )
        if ddp:
            dist.barrier()
        last_good = ckpt_path

    bar = None
    plain_log = False  # without tqdm (a core dependency it is not): one stderr line per log record
    if show and start < config.steps:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            plain_log = True
        else:
            bar = tqdm(total=config.steps, initial=start, file=sys.stderr, desc=f"fit {config.loss}", unit="step",
                       dynamic_ncols=True, leave=False)

    net.train()
    crit.train()
    t_loop = time.perf_counter()
    try:
        for step in range(start, config.steps):
            idx = _draw(sampler, task.n_train, config.batch_size)
            idx = idx[rank * local_batch : (rank + 1) * local_batch].to(device)
            inp = task.train_input[idx]
            tgt = task.train_target[idx]
            msk = None if task.train_mask is None else task.train_mask[idx]
            if set_step is not None:
                set_step(step)
            optimizer.zero_grad(set_to_none=True)
            value = step_module(inp, tgt, msk)
            if not isinstance(value, Tensor) or value.ndim != 0:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ShapeError(f"loss must return a scalar tensor (reduction='mean'), got {shape}")
            value.backward()
            grads = [p.grad for p in params if p.grad is not None]
            if config.grad_clip is not None:
                gnorm = torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            elif grads:
                gnorm = torch.nn.utils.get_total_norm(grads)
            else:
                gnorm = torch.zeros((), device=device)
            local_bad = ~(torch.isfinite(value.detach()) & torch.isfinite(gnorm))
            pack = torch.stack([value.detach().float(), local_bad.float()])
            if ddp:
                dist.all_reduce(pack)
                pack[0] = pack[0] / world
            loss_val, bad = pack.tolist()  # the one sync of the step
            terms = {str(k): float(v) for k, v in (getattr(crit, "last_terms", None) or {}).items()}
            if bad > 0:
                local_loss = float(value.detach())
                if not math.isfinite(local_loss):
                    names = _nonfinite_terms(terms) or [config.loss]
                    term = names[0]
                    what = f"non-finite loss {local_loss} at step {step} in term {term!r}"
                    if terms:
                        what += f" (terms: {terms})"
                else:
                    bad_p = [n for n, p in step_module.named_parameters() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
                    term = "gradient"
                    what = f"non-finite gradient at step {step} (loss {local_loss:g} finite here; parameters {bad_p[:5]})"
                where = f"last good checkpoint: {last_good}" if last_good is not None else "no checkpoint written yet"
                raise NonFiniteLossError(f"{what}; weights not updated; {where}", step=step, term=term, checkpoint=last_good)
            optimizer.step()
            done = step + 1
            if step % config.log_every == 0 or done == config.steps:
                rec: dict[str, float] = {"step": step, "loss": loss_val}
                for k, v in terms.items():
                    rec[k if k not in ("step", "loss") else f"term_{k}"] = v
                history["train"].append(rec)
                if bar is not None:
                    bar.set_postfix({"loss": f"{loss_val:.4g}", **{k: f"{v:.3g}" for k, v in terms.items()}}, refresh=False)
                elif plain_log:
                    rate = (done - start) / max(time.perf_counter() - t_loop, 1e-9)
                    eta = (config.steps - done) / rate
                    extra = " ".join(f"{k}={v:.3g}" for k, v in terms.items())
                    print(f"[reconloss.train] step {done}/{config.steps} loss={loss_val:.4g} {extra} "
                          f"{rate:.1f} steps/s ETA {eta:.0f}s", file=sys.stderr)
            if bar is not None:
                bar.update(1)
            final = done == config.steps
            if (config.eval_every and done % config.eval_every == 0) or final:
                run_eval(done)
            if (config.checkpoint_every and done % config.checkpoint_every == 0) or final:
                save(done)
    finally:
        if bar is not None:
            bar.close()
    loop_s = time.perf_counter() - t_loop
    n_run = config.steps - start
    if writer:
        atomic_write_json(
            out / HISTORY_NAME,
            {"config": config.to_dict(), "config_hash": chash, "steps": config.steps, "world_size": world,
             "resumed_from_step": resumed, "history": history},
        )
    if ddp:
        dist.barrier()
    final_metrics = {k: v for k, v in history["eval"][-1].items() if k != "step"} if history["eval"] else {}
    return FitResult(
        model=net,
        loss=crit,
        history=history,
        steps_per_s=n_run / loop_s if n_run > 0 and loop_s > 0 else 0.0,
        wall_s=time.perf_counter() - t_start,
        resumed_from_step=resumed,
        checkpoint_path=ckpt_path if writer else None,
        switch_steps=[int(s) for s in (getattr(crit, "switch_steps", None) or [])],
        config_hash=chash,
        final_metrics=final_metrics,
        device=str(device),
        world_size=world,
    )
