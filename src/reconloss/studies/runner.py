"""Run a study: the grid of (study x condition x loss x seed) runs, resumable, on worker processes.

Output folder (``spec.out``)::

    results.json      {"metadata", "studies", "runs", "claims"}: rewritten atomically after every run
    results.csv       the runs without nested keys, rewritten with results.json
    samples.pt        example test patches and every loss's output for the first seed, spectra
    runs/<study>/<condition>/<loss-slug>/seed<k>/   checkpoint.pt, history.json, result.json (done)
    report.html, summary.md, figures/               from reconloss.report.build_report

Resume: a run is *finished* when its ``result.json`` exists (or its row is in ``results.json``);
finished runs are never rerun; unfinished ones continue from their checkpoint. A folder whose
``results.json`` was written for a different plan (other preset, losses, steps, seeds, data...)
is refused with :class:`~reconloss.studies.spec.OutputConflictError`, never overwritten.

Parallelism: on CPU the grid is spread over ``workers`` processes (``spawn``) with ``threads``
torch threads each, ``workers * threads <= cores`` (never oversubscribed: a step of a 2-thread
process slows ~10x when another process holds one of its cores). Measured on a 2-core machine
with the quick preset's model (width 16, batch 16, 32x32 patches): 2 workers x 1 thread gave
the higher throughput, so that is the default (see :func:`choose_resources`). Under
``torchrun`` the grid is spread over the ranks instead and rank 0 writes the files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from reconloss._io import atomic_torch_save, atomic_write_json, atomic_write_text

from . import inpaint as _inpaint
from . import outliers as _outliers
from . import reconstruct as _reconstruct
from ._common import PreparedTask, mean_spectrum, predict, subset
from .claims import evaluate_claims
from .spec import OutputConflictError, StudyError, StudyPlan, StudySpec, resolve

__all__ = ["Job", "run", "build_grid", "choose_resources", "loss_slug", "run_dir_of", "load_images"]

SCHEMA_VERSION = 1
_STUDY_MODULES: dict[str, Any] = {"reconstruct": _reconstruct, "outliers": _outliers, "inpaint": _inpaint}
_KEY_FIELDS = ("study", "condition", "loss", "seed")


@dataclass(frozen=True)
class Job:
    """One training run of the grid.

    Attributes:
        study: Study name.
        condition: Condition name.
        loss: Loss spec.
        seed: Seed (patches, split, init, outliers, holes).
        run_dir: Folder of its checkpoint and ``result.json``.
        index: Position in the grid (stable ordering of the rows).
    """

    study: str
    condition: str
    loss: str
    seed: int
    run_dir: str
    index: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        """``(study, condition, loss, seed)``."""
        return (self.study, self.condition, self.loss, self.seed)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def loss_slug(spec: str) -> str:
    """Folder-safe name of a loss spec.

    Example:
        >>> loss_slug("l1>l2@0.5"), loss_slug("0.84*ms_ssim+0.16*l1")
        ('l1-to-l2-at-0.5', '0.84x-ms_ssim-plus-0.16x-l1')
    """
    s = spec.strip().lower().replace(" ", "")
    for a, b in ((">", "-to-"), ("~", "-fade-"), ("@", "-at-"), ("*", "x-"), ("+", "-plus-"), (":", "-")):
        s = s.replace(a, b)
    s = re.sub(r"[^a-z0-9._-]+", "_", s)
    return s or "loss"


def run_dir_of(out: Path, study: str, condition: str, loss: str, seed: int) -> Path:
    """``out/runs/<study>/<condition>/<loss-slug>/seed<k>``."""
    return out / "runs" / study / condition / loss_slug(loss) / f"seed{seed}"


def build_grid(plan: StudyPlan, out: Path) -> list[Job]:
    """All runs of the plan, seed-major (every loss of seed 0 first, so the first results to
    appear already allow paired comparisons and fill ``samples.pt``)."""
    jobs: list[Job] = []
    for seed in plan.seeds:
        for study in plan.studies:
            for cond in plan.conditions(study):
                for loss in plan.losses_of(study):
                    jobs.append(Job(study, cond, loss, seed, str(run_dir_of(out, study, cond, loss, seed)), len(jobs)))
    return jobs


# ------------------------------------------------------------------------------------------------
# Resources
# ------------------------------------------------------------------------------------------------


def available_cores() -> int:
    """CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_device_name(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other names are checked and returned."""
    d = device.strip().lower()
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d == "cpu":
        return d
    if d == "cuda" or (d.startswith("cuda:") and d[5:].isdigit()):
        if not torch.cuda.is_available():
            raise StudyError(f"--device {device} asked for CUDA, but torch.cuda.is_available() is False; use --device cpu")
        return d
    if d == "mps":
        return d
    raise StudyError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")


def choose_resources(device: str, workers: int | None, threads: int | None, n_jobs: int, cores: int | None = None) -> tuple[int, int]:
    """Worker processes and torch threads per worker.

    CPU default: one single-threaded worker per core (capped by the number of runs). Measured
    on the 2-core machine with the quick preset's autoencoder (100 steps, batch 16, 32 px):
    1 worker x 2 threads ran 1.6 steps/s while another process held a core, 1 worker x 1
    thread 13.5 steps/s, and 2 workers x 1 thread 7.4 steps/s each (14.8 in total): the small
    models scale poorly with threads and a multi-threaded step collapses as soon as a core is
    busy, while independent runs scale perfectly. So threads default to 1 on CPU and
    ``workers * threads`` never exceeds the cores unless both are given. GPU: one worker.

    Example:
        >>> choose_resources("cpu", None, None, 50, cores=2)
        (2, 1)
        >>> choose_resources("cpu", 1, None, 50, cores=2)
        (1, 1)
        >>> choose_resources("cpu", None, 2, 50, cores=2)
        (1, 2)
    """
    cores = cores or available_cores()
    n_jobs = max(1, n_jobs)
    if device != "cpu":
        w = workers or 1
        return w, threads or max(1, cores // w)
    if workers is None:
        t = threads or 1
        w = max(1, min(cores // t, n_jobs))
    else:
        w = workers
        t = threads if threads is not None else 1
    return w, t


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def load_images(data: str | None, min_size: int) -> tuple[list[Any], list[dict[str, str]], dict[str, Any]]:
    """Load the built-in photographs or a folder.

    Returns ``(images, skipped, info)``; ``skipped`` lists ``{"path", "reason"}`` of unusable
    files (a warning is issued too).

    Raises:
        StudyError: the folder does not exist or is not a folder.
    """
    from reconloss.data import builtin_images, load_folder

    if data is None:
        images = builtin_images()
        return images, [], {"source": "builtin", "n_images": len(images), "names": [r.name for r in images]}
    folder = Path(data).expanduser()
    if not folder.exists():
        raise StudyError(f"--data folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise StudyError(f"--data {str(folder)!r} is not a folder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_folder(folder, min_size=min_size)
    skipped = [{"path": s.path, "reason": s.reason} for s in loaded.skipped]
    if skipped:
        shown = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:5])
        more = f" (+{len(skipped) - 5} more)" if len(skipped) > 5 else ""
        warnings.warn(f"skipped {len(skipped)} file(s) in {folder}: {shown}{more}", stacklevel=2)
    images = list(loaded.images)
    return images, skipped, {"source": str(folder.resolve()), "n_images": len(images), "names": [r.name for r in images]}


# ------------------------------------------------------------------------------------------------
# One run (in a worker process or in-process)
# ------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {"images": None, "plan": None, "device": "cpu", "threads": 1, "resume": True, "cache": {}}


def _init_worker(images: list[Any], plan: StudyPlan, device: str, threads: int, resume: bool) -> None:
    """Pool initializer: receive the images once per worker and pin the torch threads."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    _WORKER.update(images=images, plan=plan, device=device, threads=threads, resume=resume, cache={})


def _prepared(study: str, condition: str, seed: int) -> PreparedTask:
    """The task of (study, condition, seed), cached per worker (patches shared across studies)."""
    cache: dict[Any, Any] = _WORKER["cache"]
    key = (study, condition, seed)
    if key in cache:
        return cache[key]
    split_key = ("split", seed)
    if split_key not in cache:
        # keep the cache small: one seed's data at a time
        for k in [k for k in cache if (k[0] == "split" and k[1] != seed) or (k[0] != "split" and k[2] != seed)]:
            del cache[k]
        cache[split_key] = _reconstruct.patches_for(_WORKER["images"], _WORKER["plan"], seed)
    prepared = _STUDY_MODULES[study].prepare(_WORKER["images"], _WORKER["plan"], condition, seed, split=cache[split_key])
    cache[key] = prepared
    return prepared


def _evaluate_outputs(prepared: PreparedTask, raw: torch.Tensor, model: torch.nn.Module) -> tuple[dict[str, float | None], torch.Tensor]:
    """Final metrics and the image to show (clamped; composited for inpainting).

    The outlier study also runs the model on the clean test patches: the counterfactual
    against which an outlier's effect (retention, halo) is measured.
    """
    module = _STUDY_MODULES[prepared.study]
    if prepared.study == _outliers.STUDY:
        metrics = module.evaluate(prepared, raw, clean_outputs=predict(model, prepared.clean_test))
    else:
        metrics = module.evaluate(prepared, raw)
    shown = _inpaint.composite_known(prepared, raw) if prepared.study == "inpaint" else raw.clamp(0.0, 1.0)
    return metrics, shown


def build_study_loss(spec: str, steps: int, patch_size: int) -> tuple[torch.nn.Module, list[str]]:
    """``build_loss(spec, steps)`` adapted to the studies' image patches.

    * MS-SSIM (and Zhao et al.'s mix) default to 5 scales, which need 161 px images; every such
      term is given the most scales the patch allows (2 for 32 px patches, 3 for 64 px;
      weights renormalised by the loss).

    Other parameters are exactly as the spec says: the presets write ``huber(delta=0.1)``,
    because with torch's default ``delta = 1`` every error of an image in [0, 1] lies in the
    quadratic zone and Huber would be exactly L2 / 2.

    Returns the module and a list of the adjustments made (recorded in the run's ``run_info``).
    """
    from reconloss.losses import build_loss
    from reconloss.metrics._ssim import ms_ssim_max_scales

    notes: list[str] = []
    loss = build_loss(spec, total_steps=steps)
    for name, m in loss.named_modules():
        if not hasattr(m, "scales") or getattr(m, "weights", None) is not None:
            continue
        current = getattr(m, "scales") or 5
        if not isinstance(current, int):
            continue
        fit_s = max(1, min(current, ms_ssim_max_scales(patch_size, getattr(m, "win_size", 11))))
        if fit_s != current:
            m.scales = fit_s
            notes.append(f"{name or type(m).__name__}: scales {current} -> {fit_s} for {patch_size}px patches")
    return loss, notes


def _curve_eval(prepared: PreparedTask) -> Callable[[torch.nn.Module, Any], dict[str, float]]:
    """Cheap metrics for the learning curves (every ``eval_every`` steps): PSNR and MAE against
    the clean test patches (inside the hole for inpainting; plus the outlier retention)."""
    from reconloss.metrics import mae, psnr

    def fn(model: torch.nn.Module, task: Any) -> dict[str, float]:
        raw = predict(model, task.test_input, task.test_mask)
        if prepared.study == "inpaint":
            out = _inpaint.composite_known(prepared, raw)
            m = task.test_mask.to(out.dtype)
            p = psnr(out, prepared.clean_test, mask=m, empty="nan")
            a = mae(out, prepared.clean_test, mask=m, empty="nan")
            fin = torch.isfinite(p)
            return {"hole_psnr": float(p[fin].mean()) if bool(fin.any()) else math.nan,
                    "hole_mae": float(a[torch.isfinite(a)].mean()) if bool(torch.isfinite(a).any()) else math.nan}
        out = raw.clamp(0.0, 1.0)
        vals = {"psnr": float(psnr(out, prepared.clean_test).mean()), "mae": float(mae(out, prepared.clean_test).mean())}
        if prepared.test_coords is not None and prepared.test_coords.numel():
            c = prepared.test_coords
            y = prepared.clean_test[c[:, 0], :, c[:, 1], c[:, 2]]
            o = out[c[:, 0], :, c[:, 1], c[:, 2]]
            jump = prepared.outlier_value - y
            ok = jump.abs() > 1e-6
            vals["outlier_retention"] = float(((o - y)[ok] / jump[ok]).mean()) if bool(ok.any()) else math.nan
        return vals

    return fn


def _curve(history: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    train = history.get("train", [])
    ev = history.get("eval", [])
    keys: list[str] = []
    for rec in ev:
        for k in rec:
            if k != "step" and k not in keys:
                keys.append(k)
    return {
        "train_step": [int(r.get("step", 0)) for r in train],
        "train_loss": [r.get("loss") for r in train],
        "eval_step": [int(r.get("step", 0)) for r in ev],
        "eval": {k: [r.get(k) for r in ev] for k in keys},
    }


def execute_job(job: Job) -> dict[str, Any]:
    """Train and evaluate one run; write its ``result.json`` (and its sample outputs for the
    first seed) into ``job.run_dir``; return its results row."""
    from reconloss.train import NonFiniteLossError, TrainConfig, fit

    plan: StudyPlan = _WORKER["plan"]
    started = _now()
    t0 = time.perf_counter()
    c0 = time.process_time()
    prepared = _prepared(job.study, job.condition, job.seed)
    run_dir = Path(job.run_dir)
    config = TrainConfig(
        model=prepared.model,
        model_kwargs=dict(prepared.model_kwargs),
        loss=job.loss,
        steps=plan.steps,
        batch_size=plan.batch_size,
        lr=plan.lr,
        seed=job.seed,
        eval_every=plan.eval_every,
        log_every=max(1, plan.steps // 50),
        checkpoint_every=max(1, plan.steps // 4),
        device=_WORKER["device"],
        threads=_WORKER["threads"],
        progress=False,
    )
    row: dict[str, Any] = {
        "study": job.study,
        "condition": job.condition,
        "loss": job.loss,
        "label": _label(job.loss),
        "seed": job.seed,
        "status": "ok",
        "steps": plan.steps,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loss_module, adjusted = build_study_loss(job.loss, plan.steps, plan.patch_size)
            result = fit(config, prepared.task, run_dir, resume=_WORKER["resume"], eval_fn=_curve_eval(prepared),
                         loss=loss_module)
    except NonFiniteLossError as exc:
        row.update(status="failed", error=str(exc).splitlines()[0][:300], started_at=started, finished_at=_now(),
                   wall_s=time.perf_counter() - t0, curve={})
        atomic_write_json(run_dir / "result.json", row)
        return row
    raw = predict(result.model, prepared.task.test_input, prepared.task.test_mask)
    metrics, shown = _evaluate_outputs(prepared, raw, result.model)
    row.update(metrics)
    row["switch_steps"] = [int(s) for s in (result.switch_steps or [])]
    row["curve"] = _curve(result.history)
    row["run_info"] = {
        "steps_per_s": float(result.steps_per_s),
        "fit_wall_s": float(result.wall_s),
        "resumed_from_step": result.resumed_from_step,
        "device": str(getattr(result, "device", _WORKER["device"])),
        "threads": _WORKER["threads"],
        "pid": os.getpid(),
        **prepared.info,
    }
    if adjusted:
        row["run_info"]["loss_adjustments"] = adjusted
    adaptive = _adaptive_params(result.loss)
    if adaptive:
        row["run_info"]["loss_parameters"] = adaptive
    row["started_at"] = started
    row["finished_at"] = _now()
    row["wall_s"] = time.perf_counter() - t0
    row["run_info"]["cpu_s"] = time.process_time() - c0
    if job.seed == plan.seeds[0]:
        freqs, spec = mean_spectrum(shown)
        atomic_torch_save(
            run_dir / "samples.pt",
            {"output": shown[prepared.sample_idx].clone(), "spectrum": spec.clone(), "freqs": freqs.clone(),
             "switch_steps": list(row["switch_steps"])},
        )
    atomic_write_json(run_dir / "result.json", row)
    return row


def _adaptive_params(loss: torch.nn.Module) -> dict[str, float]:
    """Learned scalar parameters of an adaptive loss (alpha, scale), averaged, for the record."""
    out: dict[str, float] = {}
    for name, p in loss.named_parameters():
        t = p.detach().float()
        out[name] = float(t.mean()) if t.numel() else math.nan
    return out


def _label(spec: str) -> str:
    try:
        from reconloss.losses import combine

        describe = getattr(combine, "describe", None)
        if describe is not None:
            return str(describe(spec))
    except Exception:  # noqa: BLE001 - a label is cosmetic; never fail a run for it
        pass
    return spec


# ------------------------------------------------------------------------------------------------
# Results files
# ------------------------------------------------------------------------------------------------


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    cols: list[str] = []
    for r in rows:
        for k, v in r.items():
            if isinstance(v, (dict, list)):
                continue
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("numpy", "torchmetrics", "skimage", "PIL", "matplotlib", "jinja2", "tqdm"):
        try:
            mod = __import__(name)
            out[name] = str(getattr(mod, "__version__", "?"))
        except Exception:  # noqa: BLE001 - optional libraries
            continue
    return out


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if res.returncode == 0:
            commit = res.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                   capture_output=True, text=True, timeout=5)
            return commit + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _read_previous(out: Path, fingerprint: str) -> dict[str, Any] | None:
    """The existing results.json of ``out`` if it belongs to this plan; raise if it does not."""
    file = out / "results.json"
    if out.exists() and not out.is_dir():
        raise OutputConflictError(f"--out {str(out)!r} is a file, not a folder")
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        meta = data["metadata"]
        old = meta.get("spec_hash")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputConflictError(
            f"--out {str(out)!r} holds a results.json this version cannot read ({type(exc).__name__}); "
            "choose another --out folder"
        ) from None
    if old != fingerprint:
        what = meta.get("spec", {}) if isinstance(meta, dict) else {}
        desc = f"study={what.get('study')!r}, preset={what.get('preset')!r}" if isinstance(what, dict) else "?"
        raise OutputConflictError(
            f"--out {str(out)!r} holds the results of a different study ({desc}, plan {old}, this plan "
            f"{fingerprint}); choose another --out folder (nothing was overwritten)"
        )
    return data


def _load_finished(jobs: Sequence[Job], previous: dict[str, Any] | None) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    done: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    wanted = {j.key for j in jobs}
    if previous is not None:
        for r in previous.get("runs", []):
            try:
                key = (r["study"], r["condition"], r["loss"], int(r["seed"]))
            except (KeyError, TypeError, ValueError):
                continue
            if key in wanted:
                done[key] = r
    for j in jobs:
        if j.key in done:
            continue
        f = Path(j.run_dir) / "result.json"
        if f.exists():
            try:
                r = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(r, dict) and r.get("seed") == j.seed and r.get("loss") == j.loss:
                done[j.key] = r
    return done


class _Writer:
    """Holds the results document and rewrites results.json / results.csv atomically."""

    def __init__(self, out: Path, doc: dict[str, Any], order: dict[tuple[str, str, str, int], int], enabled: bool) -> None:
        self.out = out
        self.doc = doc
        self.order = order
        self.enabled = enabled
        self.rows: dict[tuple[str, str, str, int], dict[str, Any]] = {}

    def add(self, row: dict[str, Any]) -> None:
        key = (row["study"], row["condition"], row["loss"], int(row["seed"]))
        self.rows[key] = row

    def runs(self) -> list[dict[str, Any]]:
        return [self.rows[k] for k in sorted(self.rows, key=lambda k: self.order.get(k, 1 << 30))]

    def flush(self) -> None:
        runs = self.runs()
        self.doc["runs"] = runs
        meta = self.doc["metadata"]
        meta["updated_at"] = _now()
        meta["n_runs_done"] = sum(1 for r in runs if r.get("status", "ok") == "ok")
        meta["n_runs_failed"] = sum(1 for r in runs if r.get("status") == "failed")
        per_study: dict[str, float] = {}
        cpu_study: dict[str, float] = {}
        for r in runs:
            per_study[r["study"]] = per_study.get(r["study"], 0.0) + float(r.get("wall_s") or 0.0)
            info = r.get("run_info") if isinstance(r.get("run_info"), dict) else {}
            cpu_study[r["study"]] = cpu_study.get(r["study"], 0.0) + float(info.get("cpu_s") or 0.0)
        meta.setdefault("timings", {})["run_seconds_per_study"] = per_study
        meta["timings"]["cpu_seconds_per_study"] = cpu_study
        if not self.enabled:
            return
        atomic_write_json(self.out / "results.json", self.doc)
        atomic_write_text(self.out / "results.csv", _csv_text(runs))


# ------------------------------------------------------------------------------------------------
# Samples
# ------------------------------------------------------------------------------------------------


def _build_samples(images: list[Any], plan: StudyPlan, jobs: Sequence[Job]) -> dict[str, Any]:
    """Assemble samples.pt from the first seed's per-run sample files."""
    seed0 = plan.seeds[0]
    out: dict[str, Any] = {}
    for study in plan.studies:
        for cond in plan.conditions(study):
            prepared = _prepared(study, cond, seed0)
            idx = prepared.sample_idx
            target = prepared.clean_test[idx].clone()
            inp = prepared.task.test_input[idx].clone()
            mask = subset(prepared.task.test_mask, idx)
            coords = None
            if prepared.test_coords is not None:
                c = prepared.test_coords
                keep = torch.isin(c[:, 0], torch.tensor(idx, dtype=c.dtype))
                remap = {old: new for new, old in enumerate(idx)}
                coords = c[keep].clone()
                if coords.numel():
                    coords[:, 0] = torch.tensor([remap[int(b)] for b in coords[:, 0]], dtype=coords.dtype)
            freqs, spec_t = mean_spectrum(prepared.clean_test)
            entry: dict[str, Any] = {
                "target": target, "input": inp, "mask": mask, "outlier_coords": coords,
                "outputs": {}, "spectrum_freqs": freqs, "spectrum_target": spec_t, "spectra": {}, "switch_steps": {},
            }
            for j in jobs:
                if j.study != study or j.condition != cond or j.seed != seed0:
                    continue
                f = Path(j.run_dir) / "samples.pt"
                if not f.exists():
                    continue
                try:
                    s = torch.load(f, weights_only=True)
                except Exception:  # noqa: BLE001 - a damaged sample file only costs its images
                    continue
                entry["outputs"][j.loss] = s["output"]
                entry["spectra"][j.loss] = s["spectrum"]
                entry["switch_steps"][j.loss] = [int(v) for v in s.get("switch_steps", [])]
            out[f"{study}/{cond}"] = entry
    return out


# ------------------------------------------------------------------------------------------------
# The entry point
# ------------------------------------------------------------------------------------------------


def _validate_losses(plan: StudyPlan) -> None:
    """Build every loss of the plan once on a dummy batch, so a bad spec fails before any run."""
    x = torch.rand(2, 3, plan.patch_size, plan.patch_size, generator=torch.Generator().manual_seed(0))
    for study in plan.studies:
        for spec in plan.losses_of(study):
            loss, _ = build_study_loss(spec, plan.steps, plan.patch_size)
            loss(x, x.flip(-1))


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the study extra
        return None
    return tqdm(total=total, initial=initial, desc="reconloss study", unit="run", disable=not enabled,
                dynamic_ncols=True, file=sys.stderr)


def run(spec: StudySpec, *, on_row: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run (or resume) a study and return the results document.

    Args:
        spec: What to run (see :class:`~reconloss.studies.spec.StudySpec`).
        on_row: Called in the main process with every finished run's row.

    Returns:
        The ``results.json`` content: ``{"metadata", "studies", "runs", "claims"}``.

    Raises:
        StudyError: bad option values, missing data folder.
        OutputConflictError: ``spec.out`` holds another study's results.
        UnknownNameError: an unknown loss name in the plan.

    Example:
        >>> from reconloss.studies import StudySpec, run
        >>> res = run(StudySpec(study="reconstruct", preset="tiny", out="/tmp/rl-doc", progress=False,
        ...                     report=False, workers=1))  # doctest: +SKIP
    """
    from reconloss.train.distributed import init_distributed

    t_start = time.perf_counter()
    plan = resolve(spec)
    if spec.data is not None:
        plan = dataclasses.replace(plan, data=str(Path(spec.data).expanduser().resolve()))
    _validate_losses(plan)
    device = resolve_device_name(spec.device)
    out = Path(spec.out).expanduser()
    fingerprint = plan.fingerprint()
    # Under torchrun the group must exist before anything asks for ranks: every rank takes its
    # share of the grid (spread_grid) and rank 0 alone writes the files.
    world, main = 1, True
    if int(os.environ.get("WORLD_SIZE") or 1) > 1:
        info = init_distributed("gloo" if device == "cpu" else None)
        world, main = info.world_size, info.rank == 0
    previous = _read_previous(out, fingerprint)
    images, skipped, data_info = load_images(plan.data, min_size=plan.patch_size)
    if not images:
        raise StudyError("no usable images were found")
    jobs = build_grid(plan, out)
    finished = _load_finished(jobs, previous) if spec.resume else {}
    pending = [j for j in jobs if j.key not in finished]
    workers, threads = choose_resources(device, spec.workers, spec.threads, len(pending))
    if world > 1:
        workers = 1

    prev_meta = previous["metadata"] if previous is not None and spec.resume else {}
    invocations = list(prev_meta.get("invocations", [])) if isinstance(prev_meta, dict) else []
    this_inv: dict[str, Any] = {
        "started_at": _now(), "runs_reused": len(finished), "runs_executed": 0, "status": "running",
        "workers": workers, "threads": threads, "device": device,
    }
    invocations.append(this_inv)
    import reconloss

    metadata: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "package": "reconloss",
        "version": reconloss.__version__,
        "versions": _versions(),
        "git_commit": _git_commit(),
        "spec_hash": fingerprint,
        "spec": asdict(spec),
        "config": plan.as_dict(),
        "studies": list(plan.studies),
        "seeds": list(plan.seeds),
        "device": device,
        "cuda_device": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "workers": workers,
        "threads": threads,
        "cores": available_cores(),
        "world_size": world,
        "platform": platform.platform(),
        "data": data_info,
        "skipped_files": skipped,
        "created_at": prev_meta.get("created_at", _now()) if isinstance(prev_meta, dict) else _now(),
        "status": "running",
        "n_runs_total": len(jobs),
        "invocations": invocations,
        "timings": {},
    }
    studies_block = {
        s: {"conditions": plan.conditions(s), "losses": plan.losses_of(s),
            "labels": {loss: _label(loss) for loss in plan.losses_of(s)},
            "conditions_info": {c.name: c.description for c in plan.outlier_conditions} if s == "outliers" else {}}
        for s in plan.studies
    }
    doc: dict[str, Any] = {"metadata": metadata, "studies": studies_block, "runs": [], "claims": []}
    writer = _Writer(out, doc, {j.key: j.index for j in jobs}, enabled=main)
    for row in finished.values():
        writer.add(row)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        writer.flush()

    old_threads = torch.get_num_threads()
    _init_worker(images, plan, device, threads, spec.resume)
    status = "complete"
    bar = _progress_bar(len(jobs), len(finished), spec.progress and main)

    def _done(row: dict[str, Any]) -> None:
        writer.add(row)
        this_inv["runs_executed"] += 1
        writer.flush()
        if bar is not None:
            bar.set_postfix_str(f"{row['study']}/{row['condition']} {row['loss']} seed{row['seed']}", refresh=False)
            bar.update(1)
        if on_row is not None:
            on_row(row)

    try:
        if not pending:
            pass
        elif world > 1:
            from reconloss.train import spread_grid

            rows = spread_grid(pending, execute_job)
            if rows is not None:
                for row in rows:
                    if row:
                        _done(row)
        elif workers <= 1:
            torch.set_num_threads(threads)
            for job in pending:
                _done(execute_job(job))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(images, plan, device, threads, spec.resume)) as pool:
                for row in pool.imap_unordered(execute_job, pending, chunksize=1):
                    _done(row)
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        torch.set_num_threads(old_threads)
        if bar is not None:
            bar.close()
        this_inv["finished_at"] = _now()
        this_inv["status"] = status
        this_inv["wall_s"] = time.perf_counter() - t_start
        if status != "complete":
            metadata["status"] = status
            writer.flush()

    if not main:
        _leave_group(world)
        return doc
    runs = writer.runs()
    claims, skipped_claims = evaluate_claims(runs)
    doc["claims"] = claims
    metadata["claims_skipped"] = skipped_claims
    t_samples = time.perf_counter()
    atomic_torch_save(out / "samples.pt", _build_samples(images, plan, jobs))
    metadata["timings"]["samples_s"] = time.perf_counter() - t_samples
    metadata["status"] = "complete"
    metadata["timings"]["this_invocation_s"] = time.perf_counter() - t_start
    metadata["timings"]["total_s"] = sum(float(i.get("wall_s") or 0.0) for i in invocations)
    writer.flush()
    if spec.report:
        t_report = time.perf_counter()
        metadata["report"] = _make_report(out)
        metadata["timings"]["report_s"] = time.perf_counter() - t_report
        metadata["timings"]["this_invocation_s"] = time.perf_counter() - t_start
        this_inv["wall_s"] = time.perf_counter() - t_start
        metadata["timings"]["total_s"] = sum(float(i.get("wall_s") or 0.0) for i in invocations)
        writer.flush()
    _leave_group(world)
    return doc


def _leave_group(world: int) -> None:
    """Under torchrun: wait until rank 0 has written everything, then leave the group together
    (see :func:`reconloss.train.leave_group`: a rank that exits while gloo threads still hold
    tensors of the last collectives can abort during interpreter shutdown)."""
    if world > 1:
        from ..train.distributed import leave_group

        leave_group()


def _make_report(out: Path) -> dict[str, Any]:
    """Build the report; a failure is recorded (and warned about), never fatal to the results."""
    try:
        from reconloss.report import build_report
    except ImportError as exc:
        return {"status": "unavailable", "error": str(exc)}
    try:
        path = build_report(out)
    except Exception as exc:  # noqa: BLE001 - results are already safe on disk
        warnings.warn(f"the report could not be built: {type(exc).__name__}: {exc}", stacklevel=2)
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok", "path": str(path)}
