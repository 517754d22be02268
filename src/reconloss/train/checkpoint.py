"""Atomic training checkpoints that carry their config, loaded with ``weights_only=True``.

A checkpoint is a plain dict (tensors, numbers, strings, lists, dicts only, so the safe
unpickler of ``torch.load(..., weights_only=True)`` reads it)::

    {"format": "reconloss.train.checkpoint", "version": 1,
     "config": asdict(TrainConfig), "config_hash": str, "step": int (updates done),
     "model": state_dict, "optimizer": state_dict, "loss": loss.state_dict(),
     "rng": {"torch": ByteTensor, "sampler": ByteTensor, "cuda": [ByteTensor, ...]},
     "history": {"train": [...], "eval": [...]}, "world_size": int}

It is written through :func:`reconloss._io.atomic_torch_save` (temp file + fsync + rename):
a crash leaves the previous checkpoint intact. Anything wrong with a file (truncated,
garbage, another format/version, another config) raises :class:`CheckpointError` naming the
file and the reason; nothing ever silently restarts from scratch.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .._checks import ReconlossError
from .._io import atomic_torch_save
from .config import config_diff, config_hash

__all__ = ["CheckpointError", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "reconloss.train.checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED = ("config", "config_hash", "step", "model", "optimizer", "loss", "rng", "history")


class CheckpointError(ReconlossError, ValueError):
    """A checkpoint cannot be used: unreadable, wrong format, or written for another config."""


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (the keys listed in the module docstring, minus format/version) atomically.

    The format tag and version are added here. Returns the path written.
    """
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint state for {os.fspath(path)} lacks keys {missing}")
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    return atomic_torch_save(path, payload)


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    config: Any | None = None,
    map_location: str | torch.device | None = "cpu",
) -> dict[str, Any]:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        config: when given (a :class:`~reconloss.train.TrainConfig`), the checkpoint must have
            been written for a config with the same :func:`~reconloss.train.config_hash`;
            otherwise the error lists the fields that differ.
        map_location: passed to ``torch.load`` (``weights_only=True`` always).

    Raises:
        CheckpointError: missing, truncated or garbage file, other format/version, missing
            keys, or another config. The message names the file and the reason.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as exc:
        size = p.stat().st_size
        raise CheckpointError(
            f"checkpoint {p} is unreadable ({size} bytes; truncated or not a torch file): {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {p} holds a {type(data).__name__}, expected a dict")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {p} has format {data.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {p} has version {data.get('version')!r}, this reconloss reads version {CHECKPOINT_VERSION}"
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"checkpoint {p} lacks keys {missing}")
    if config is not None:
        want = config_hash(config)
        if data["config_hash"] != want:
            stored = data["config"] if isinstance(data["config"], dict) else {}
            diff = config_diff(stored, config.to_dict() if hasattr(config, "to_dict") else vars(config))
            detail = ", ".join(f"{k}: checkpoint {stored.get(k, '<missing>')!r} vs now {getattr(config, k, '<missing>')!r}" for k in diff)
            raise CheckpointError(
                f"checkpoint {p} was written for another config (hash {data['config_hash']} vs {want}); "
                f"fields that differ: {detail or 'none found (older hash scheme?)'}. "
                "Use another out_dir, delete the file, or pass resume=False to start over"
            )
    return data
