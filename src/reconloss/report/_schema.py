"""Load and validate a run folder (``results.json`` and the optional ``samples.pt``).

The report renders only from saved results. Everything it reads is checked here once, so the
rest of the report code can trust types: a bad file gives ONE :class:`ReportError` that names
the file and the problem (``"runs[3].psnr must be a number or null, got str"``), never a
traceback from deep inside a template.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconloss._checks import ReconlossError

__all__ = ["ReportError", "RunData", "SampleSet", "load_results", "load_samples", "NON_METRIC_KEYS"]

#: Keys of a run record that are not metrics (identity, bookkeeping, nested data).
NON_METRIC_KEYS: frozenset[str] = frozenset(
    {"study", "condition", "loss", "label", "seed", "steps", "wall_s", "curve", "switch_steps"}
)


class ReportError(ReconlossError, ValueError):
    """A run folder cannot be rendered: missing folder, missing or corrupt ``results.json``."""


@dataclass
class RunData:
    """The validated content of ``results.json``.

    Attributes:
        path: the ``results.json`` file that was read.
        metadata: the ``metadata`` mapping (free-form; rendered as text, always escaped).
        studies: per study name, ``{"conditions": [...], "losses": [...], "labels": {...}}``.
        runs: one mapping per (study, condition, loss, seed); metric values are ``float`` or
            ``None`` (non-finite values and JSON ``NaN`` become ``None``).
        claims: the claim records.
    """

    path: Path
    metadata: dict[str, Any]
    studies: dict[str, dict[str, Any]]
    runs: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def study_names(self) -> list[str]:
        """Study names in a stable order: the ``studies`` mapping first, then order of appearance in runs."""
        names = list(self.studies)
        for r in self.runs:
            if r["study"] not in names:
                names.append(r["study"])
        return names

    def conditions(self, study: str) -> list[str]:
        """Conditions of ``study`` that have runs, in declared order then order of appearance."""
        declared = [str(c) for c in self.studies.get(study, {}).get("conditions", [])]
        seen = [r["condition"] for r in self.runs if r["study"] == study]
        out = [c for c in declared if c in seen]
        for c in seen:
            if c not in out:
                out.append(c)
        return out

    def losses(self, study: str, condition: str | None = None) -> list[str]:
        """Loss specs of ``study`` (optionally one condition) in declared order then appearance."""
        declared = [str(x) for x in self.studies.get(study, {}).get("losses", [])]
        seen = [r["loss"] for r in self.runs if r["study"] == study and (condition is None or r["condition"] == condition)]
        out = [x for x in declared if x in seen]
        for x in seen:
            if x not in out:
                out.append(x)
        return out

    def label(self, study: str, loss: str) -> str:
        """Human label of a loss spec (the study's ``labels``, else a run's ``label``, else the spec)."""
        labels = self.studies.get(study, {}).get("labels", {})
        if isinstance(labels, dict) and isinstance(labels.get(loss), str) and labels[loss]:
            return labels[loss]
        for r in self.runs:
            if r["study"] == study and r["loss"] == loss and isinstance(r.get("label"), str) and r["label"]:
                return r["label"]
        return loss

    def runs_of(self, study: str, condition: str) -> list[dict[str, Any]]:
        """The runs of one study/condition."""
        return [r for r in self.runs if r["study"] == study and r["condition"] == condition]


def _kind(x: Any) -> str:
    if x is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(x), type(x).__name__
    )


def _number(x: Any, where: str, file: Path) -> float | None:
    """Return ``x`` as float (None for null/NaN/Inf); raise ReportError for other types."""
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ReportError(f"{file}: {where} must be a number or null, got {_kind(x)} {x!r:.60}")
    v = float(x)
    return v if math.isfinite(v) else None


def _num_list(x: Any, where: str, file: Path) -> list[float | None]:
    if not isinstance(x, list):
        raise ReportError(f"{file}: {where} must be an array of numbers, got {_kind(x)}")
    return [_number(v, f"{where}[{i}]", file) for i, v in enumerate(x)]


def _check_curve(curve: Any, where: str, file: Path) -> dict[str, Any]:
    if curve is None:
        return {}
    if not isinstance(curve, dict):
        raise ReportError(f"{file}: {where} must be an object, got {_kind(curve)}")
    out: dict[str, Any] = {}
    for key in ("train_step", "train_loss", "eval_step"):
        if key in curve and curve[key] is not None:
            out[key] = _num_list(curve[key], f"{where}.{key}", file)
    ev = curve.get("eval")
    if ev is not None:
        if not isinstance(ev, dict):
            raise ReportError(f"{file}: {where}.eval must be an object of metric -> array, got {_kind(ev)}")
        out["eval"] = {str(k): _num_list(v, f"{where}.eval.{k}", file) for k, v in ev.items()}
    return out


def _check_run(i: int, run: Any, file: Path) -> dict[str, Any]:
    where = f"runs[{i}]"
    if not isinstance(run, dict):
        raise ReportError(f"{file}: {where} must be an object, got {_kind(run)}")
    for key in ("study", "condition", "loss"):
        if key not in run:
            raise ReportError(f"{file}: {where} is missing the key {key!r}")
        if not isinstance(run[key], str) or not run[key]:
            raise ReportError(f"{file}: {where}.{key} must be a non-empty string, got {_kind(run[key])}")
    if "seed" not in run:
        raise ReportError(f"{file}: {where} is missing the key 'seed'")
    if isinstance(run["seed"], bool) or not isinstance(run["seed"], int):
        raise ReportError(f"{file}: {where}.seed must be an integer, got {_kind(run['seed'])}")
    out: dict[str, Any] = {"study": run["study"], "condition": run["condition"], "loss": run["loss"], "seed": run["seed"]}
    label = run.get("label")
    if label is not None and not isinstance(label, str):
        raise ReportError(f"{file}: {where}.label must be a string, got {_kind(label)}")
    out["label"] = label if label else run["loss"]
    for key in ("steps", "wall_s"):
        if key in run:
            out[key] = _number(run[key], f"{where}.{key}", file)
    out["curve"] = _check_curve(run.get("curve"), f"{where}.curve", file)
    sw = run.get("switch_steps")
    if sw is None:
        out["switch_steps"] = []
    else:
        if not isinstance(sw, list) or any(isinstance(s, bool) or not isinstance(s, (int, float)) for s in sw):
            raise ReportError(f"{file}: {where}.switch_steps must be an array of integers, got {sw!r:.60}")
        out["switch_steps"] = [int(s) for s in sw]
    for key, value in run.items():
        if key in NON_METRIC_KEYS:
            continue
        if isinstance(value, (dict, list)):
            continue  # nested extras are kept out of the metric tables
        if isinstance(value, str):
            out.setdefault("_text", {})[str(key)] = value  # free-text extras; checked in _check_text_fields
            continue
        out[str(key)] = _number(value, f"{where}.{key}", file)
    return out


def _check_text_fields(runs: list[dict[str, Any]], file: Path) -> None:
    """A key that is numeric in some run must not be text in another (``"psnr": "high"``).

    Text extras that are never numeric (a note, a device name) are allowed and left out of
    the tables.
    """
    numeric = {k for r in runs for k, v in r.items() if k not in NON_METRIC_KEYS and not k.startswith("_")}
    for i, r in enumerate(runs):
        for key, value in r.pop("_text", {}).items():
            if key in numeric:
                raise ReportError(f"{file}: runs[{i}].{key} must be a number or null, got string {value!r:.60}")


_CLAIM_NUMBERS = ("effect", "ci_low", "ci_high", "seed_sd")


def _check_claim_detail(d: Any, where: str, file: Path) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ReportError(f"{file}: {where} must be an object, got {_kind(d)}")
    out: dict[str, Any] = {}
    for key in ("condition", "metric", "comparison", "verdict"):
        v = d.get(key)
        if v is not None and not isinstance(v, str):
            raise ReportError(f"{file}: {where}.{key} must be a string, got {_kind(v)}")
        out[key] = v if v is not None else ""
    for key in _CLAIM_NUMBERS:
        out[key] = _number(d.get(key), f"{where}.{key}", file)
    n = d.get("n_seeds")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        raise ReportError(f"{file}: {where}.n_seeds must be an integer, got {_kind(n)}")
    out["n_seeds"] = n
    return out


def _check_claim(i: int, claim: Any, file: Path) -> dict[str, Any]:
    where = f"claims[{i}]"
    if not isinstance(claim, dict):
        raise ReportError(f"{file}: {where} must be an object, got {_kind(claim)}")
    out = _check_claim_detail(claim, where, file)
    for key in ("id", "text", "study", "sentence"):
        v = claim.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
            raise ReportError(f"{file}: {where}.{key} must be a string, got {_kind(v)}")
        out[key] = "" if v is None else str(v)
    if "verdict" not in claim:
        raise ReportError(f"{file}: {where} is missing the key 'verdict'")
    c = claim.get("claim")
    if c is not None and (isinstance(c, bool) or not isinstance(c, (int, str))):
        raise ReportError(f"{file}: {where}.claim must be an integer, got {_kind(c)}")
    out["claim"] = c
    details = claim.get("details") or []
    if not isinstance(details, list):
        raise ReportError(f"{file}: {where}.details must be an array, got {_kind(details)}")
    out["details"] = [_check_claim_detail(d, f"{where}.details[{j}]", file) for j, d in enumerate(details)]
    return out


def _reject_constant(token: str) -> float:
    return float("nan")  # NaN / Infinity tokens are read as NaN and become null


def load_results(run_dir: Path) -> RunData:
    """Read and validate ``run_dir/results.json``.

    Raises:
        ReportError: the folder or file is missing, the JSON is invalid, or a key is missing
            or has the wrong type. The message names the file and the problem.
    """
    if not run_dir.exists():
        raise ReportError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise ReportError(f"run folder {run_dir} is not a folder")
    file = run_dir / "results.json"
    if not file.is_file():
        raise ReportError(f"{file} is missing: is {run_dir} a folder written by `reconloss study`?")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{file} cannot be read: {exc}") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{file} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ReportError(f"{file} must hold a JSON object with 'metadata' and 'runs', got {_kind(data)}")
    for key in ("metadata", "runs"):
        if key not in data:
            raise ReportError(f"{file} is missing the top-level key {key!r}")
    metadata = data["metadata"]
    if not isinstance(metadata, dict):
        raise ReportError(f"{file}: metadata must be an object, got {_kind(metadata)}")
    runs_raw = data["runs"]
    if not isinstance(runs_raw, list):
        raise ReportError(f"{file}: runs must be an array, got {_kind(runs_raw)}")
    runs = [_check_run(i, r, file) for i, r in enumerate(runs_raw)]
    _check_text_fields(runs, file)
    claims_raw = data.get("claims", [])
    if claims_raw is None:
        claims_raw = []
    if not isinstance(claims_raw, list):
        raise ReportError(f"{file}: claims must be an array, got {_kind(claims_raw)}")
    claims = [_check_claim(i, c, file) for i, c in enumerate(claims_raw)]
    studies_raw = data.get("studies", {}) or {}
    if not isinstance(studies_raw, dict):
        raise ReportError(f"{file}: studies must be an object, got {_kind(studies_raw)}")
    studies: dict[str, dict[str, Any]] = {}
    for name, spec in studies_raw.items():
        if not isinstance(spec, dict):
            raise ReportError(f"{file}: studies.{name} must be an object, got {_kind(spec)}")
        conds = spec.get("conditions", []) or []
        losses = spec.get("losses", []) or []
        labels = spec.get("labels", {}) or {}
        if not isinstance(conds, list) or not isinstance(losses, list):
            raise ReportError(f"{file}: studies.{name}.conditions and .losses must be arrays")
        if not isinstance(labels, dict):
            raise ReportError(f"{file}: studies.{name}.labels must be an object, got {_kind(labels)}")
        studies[str(name)] = {
            "conditions": [str(c) for c in conds],
            "losses": [str(x) for x in losses],
            "labels": {str(k): str(v) for k, v in labels.items() if v is not None},
        }
    return RunData(path=file, metadata=metadata, studies=studies, runs=runs, claims=claims)


@dataclass
class SampleSet:
    """Example images of one study/condition, as float numpy arrays in [0, 1] (channels last)."""

    target: Any  # (S, P, P, 3)
    input: Any  # (S, P, P, 3)
    mask: Any | None  # (S, P, P) bool, True = hole
    outlier_coords: Any | None  # (K, 3) int: sample, row, col
    outputs: dict[str, Any]  # loss -> (S, P, P, 3)
    spectrum_freqs: Any | None  # (B,)
    spectrum_target: Any | None  # (B,)
    spectra: dict[str, Any]  # loss -> (B,)
    switch_steps: dict[str, list[int]]


def _to_numpy(x: Any, name: str) -> Any:
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")


def _images(x: Any, name: str) -> Any:
    import numpy as np

    a = _to_numpy(x, name)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape (S, 3, P, P), got {tuple(a.shape)}")
    if a.shape[1] == 1:
        a = np.repeat(a, 3, axis=1)
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(a, 0.0, 1.0).transpose(0, 2, 3, 1)


def _parse_entry(key: str, e: Any) -> SampleSet:
    import numpy as np

    if not isinstance(e, dict):
        raise TypeError(f"entry {key!r} must be a dict, got {type(e).__name__}")
    target = _images(e["target"], "target")
    inp = _images(e["input"], "input") if e.get("input") is not None else target
    if inp.shape != target.shape:
        raise ValueError(f"input shape {inp.shape} differs from target shape {target.shape}")
    mask = None
    if e.get("mask") is not None:
        m = _to_numpy(e["mask"], "mask")
        if m.ndim == 4:
            m = m[:, 0]
        if m.shape != target.shape[:3]:
            raise ValueError(f"mask shape {m.shape} does not match the images {target.shape[:3]}")
        mask = m > 0.5
    coords = None
    if e.get("outlier_coords") is not None:
        c = _to_numpy(e["outlier_coords"], "outlier_coords")
        if c.ndim != 2 or c.shape[1] != 3:
            raise ValueError(f"outlier_coords must have shape (K, 3), got {c.shape}")
        coords = c.astype(np.int64)
    outputs: dict[str, Any] = {}
    for loss, out in (e.get("outputs") or {}).items():
        o = _images(out, f"outputs[{loss!r}]")
        if o.shape != target.shape:
            raise ValueError(f"outputs[{loss!r}] shape {o.shape} differs from target shape {target.shape}")
        outputs[str(loss)] = o
    freqs = _to_numpy(e["spectrum_freqs"], "spectrum_freqs").ravel() if e.get("spectrum_freqs") is not None else None
    st = _to_numpy(e["spectrum_target"], "spectrum_target").ravel() if e.get("spectrum_target") is not None else None
    spectra = {str(k): _to_numpy(v, f"spectra[{k!r}]").ravel() for k, v in (e.get("spectra") or {}).items()}
    sw_raw = e.get("switch_steps") or {}
    switch = {str(k): [int(s) for s in v] for k, v in sw_raw.items() if isinstance(v, (list, tuple))}
    return SampleSet(target, inp, mask, coords, outputs, freqs, st, spectra, switch)


def load_samples(run_dir: Path) -> tuple[dict[str, SampleSet], list[str]]:
    """Read ``run_dir/samples.pt`` if present.

    Returns the entries keyed ``"<study>/<condition>"`` and notes for the page (a missing file,
    an unreadable file or a malformed entry omits image figures with a note rather than failing
    the whole report, because the numbers in ``results.json`` are still worth showing).
    """
    file = run_dir / "samples.pt"
    if not file.is_file():
        return {}, ["samples.pt is missing, so the example images, error maps and spectra are omitted."]
    import torch

    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is reported on the page
        return {}, [f"samples.pt could not be read ({type(exc).__name__}: {exc}); example images are omitted."]
    if not isinstance(raw, dict):
        return {}, [f"samples.pt must hold a dict keyed 'study/condition', got {type(raw).__name__}; images omitted."]
    out: dict[str, SampleSet] = {}
    notes: list[str] = []
    for key, entry in raw.items():
        try:
            out[str(key)] = _parse_entry(str(key), entry)
        except (KeyError, TypeError, ValueError) as exc:
            notes.append(f"samples.pt entry {key!r} is malformed ({type(exc).__name__}: {exc}); its images are omitted.")
    return out, notes
