"""Training configuration: one dataclass, its hash, and argparse options generated from it.

The config is the single source of truth of a run (nanoGPT style, without the ``exec``
configurator): :func:`add_dataclass_arguments` turns any dataclass into argparse options
(types, defaults, ``Literal`` choices, help from ``field(metadata={"help": ...})``) and
:func:`dataclass_from_args` builds the dataclass back from the parsed namespace, so the CLI
and the studies never repeat the field list.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_dataclass_arguments(p, TrainConfig)
    >>> cfg = dataclass_from_args(TrainConfig, p.parse_args(["--steps", "50", "--loss", "l2"]))
    >>> (cfg.steps, cfg.loss)
    (50, 'l2')
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union

from .._checks import InputTypeError, ParameterError

__all__ = [
    "TrainConfig",
    "HASH_EXCLUDED_FIELDS",
    "config_hash",
    "config_diff",
    "add_dataclass_arguments",
    "dataclass_from_args",
]

T = TypeVar("T")

#: Fields that do not change the trained weights (only speed, logging, where it runs).
#: Every other field of :class:`TrainConfig` enters :func:`config_hash`; a checkpoint is only
#: resumed by a config with the same hash. ``device``/``threads`` may change the last bits of
#: float results but not what the run *is*, so a run may resume on another device.
HASH_EXCLUDED_FIELDS: frozenset[str] = frozenset(
    {"eval_every", "log_every", "checkpoint_every", "device", "threads", "progress", "eval_batch_size"}
)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        model: model registry name (``reconloss.models.build_model``): ``autoencoder`` or ``inpaint``.
        model_kwargs: keyword arguments of the model constructor (JSON-serialisable).
        loss: loss spec for ``reconloss.losses.build_loss`` (``"l1"``, ``"0.84*ms_ssim+0.16*l1"``,
            ``"l1>l2@0.5"``...).
        steps: number of optimizer updates.
        batch_size: global batch size (split evenly across ranks under DDP).
        lr, betas, weight_decay: Adam(W) settings.
        optimizer: ``adam`` (L2 penalty through ``weight_decay``) or ``adamw`` (decoupled).
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        seed: the one seed of the run (model init, batch sampling, every RNG).
        eval_every: evaluate on the test set every this many updates (0: only at the end).
        log_every: record the training loss (and each term) every this many updates.
        checkpoint_every: write ``checkpoint.pt`` every this many updates (0: only at the end).
        eval_batch_size: batch size of the evaluation forward passes.
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
        threads: ``torch.set_num_threads`` value (``None``: leave torch's default).
        progress: show a tqdm progress bar on stderr and print the effective config.
    """

    model: str = field(default="autoencoder", metadata=_help("model name: autoencoder | inpaint"))
    model_kwargs: dict[str, Any] = field(default_factory=dict, metadata=_help("model constructor kwargs as JSON"))
    loss: str = field(default="l1", metadata=_help("loss spec, e.g. l1, '0.84*ms_ssim+0.16*l1', 'l1>l2@0.5'"))
    steps: int = field(default=300, metadata=_help("number of optimizer updates"))
    batch_size: int = field(default=16, metadata=_help("global batch size (split across DDP ranks)"))
    lr: float = field(default=2e-3, metadata=_help("learning rate"))
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata=_help("Adam betas"))
    weight_decay: float = field(default=0.0, metadata=_help("weight decay"))
    optimizer: Literal["adam", "adamw"] = field(default="adam", metadata=_help("optimizer"))
    grad_clip: float | None = field(default=None, metadata=_help("max global gradient norm (none: no clipping)"))
    seed: int = field(default=0, metadata=_help("the one seed of the run"))
    eval_every: int = field(default=100, metadata=_help("evaluate every N updates (0: only at the end)"))
    log_every: int = field(default=10, metadata=_help("log the training loss every N updates"))
    checkpoint_every: int = field(default=100, metadata=_help("checkpoint every N updates (0: only at the end)"))
    eval_batch_size: int = field(default=64, metadata=_help("batch size of evaluation forward passes"))
    device: str = field(default="auto", metadata=_help("auto | cpu | cuda | cuda:N | mps"))
    threads: int | None = field(default=None, metadata=_help("torch.set_num_threads (none: torch default)"))
    progress: bool = field(default=True, metadata=_help("tqdm progress bar and effective-config print"))

    def __post_init__(self) -> None:
        for name in ("model", "loss", "device"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v.strip():
                raise ParameterError(f"{name} must be a non-empty string, got {v!r}")
        if not isinstance(self.model_kwargs, dict) or not all(isinstance(k, str) for k in self.model_kwargs):
            raise InputTypeError(f"model_kwargs must be a dict with str keys, got {self.model_kwargs!r}")
        try:
            json.dumps(self.model_kwargs, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"model_kwargs must be JSON-serialisable, got {self.model_kwargs!r} ({exc})") from None
        _int(self.steps, "steps", 1)
        _int(self.batch_size, "batch_size", 1)
        _int(self.seed, "seed", 0)
        _int(self.eval_every, "eval_every", 0)
        _int(self.log_every, "log_every", 1)
        _int(self.checkpoint_every, "checkpoint_every", 0)
        _int(self.eval_batch_size, "eval_batch_size", 1)
        if self.threads is not None:
            _int(self.threads, "threads", 1)
        _float(self.lr, "lr", positive=True)
        _float(self.weight_decay, "weight_decay", positive=False)
        if self.grad_clip is not None:
            _float(self.grad_clip, "grad_clip", positive=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ParameterError(f"betas must be a pair of floats in [0, 1), got {self.betas!r}")
        betas = tuple(float(_float(b, "betas", positive=False)) for b in self.betas)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ParameterError(f"betas must be a pair of floats in [0, 1), got {self.betas!r}")
        self.betas = (betas[0], betas[1])
        if self.optimizer not in ("adam", "adamw"):
            raise ParameterError(f"optimizer must be one of 'adam', 'adamw', got {self.optimizer!r}")
        if not isinstance(self.progress, bool):
            raise InputTypeError(f"progress must be a bool, got {type(self.progress).__name__}")
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise ParameterError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {dev!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (``dataclasses.asdict``), safe for JSON and ``torch.load(weights_only=True)``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ParameterError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ParameterError(f"TrainConfig got unknown fields {unknown}; valid fields: {sorted(names)}")
        kw = dict(data)
        if "betas" in kw:
            kw["betas"] = tuple(kw["betas"])
        return cls(**kw)


def _int(v: Any, name: str, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputTypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    if v < low:
        raise ParameterError(f"{name} must be >= {low}, got {v}")


def _float(v: Any, name: str, *, positive: bool) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputTypeError(f"{name} must be a number, got {type(v).__name__} {v!r}")
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        raise ParameterError(f"{name} must be finite, got {f}")
    if positive and f <= 0:
        raise ParameterError(f"{name} must be > 0, got {f:g}")
    if not positive and f < 0:
        raise ParameterError(f"{name} must be >= 0, got {f:g}")
    return f


def _hashed_fields(config: Any) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise InputTypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    data = dataclasses.asdict(config)
    return {k: v for k, v in data.items() if k not in HASH_EXCLUDED_FIELDS}


def config_hash(config: Any) -> str:
    """16-hex-digit SHA-256 of the fields that define the trained weights.

    Every field except :data:`HASH_EXCLUDED_FIELDS` (eval/log/checkpoint cadence, device,
    threads, progress, eval batch size) is hashed, as canonical JSON (sorted keys, tuples as
    lists). Two configs with the same hash train the same model from the same seed.
    """
    payload = json.dumps(_hashed_fields(config), sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def config_diff(a: dict[str, Any], b: dict[str, Any], *, hashed_only: bool = True) -> list[str]:
    """Names of the fields whose values differ between two config dicts (``asdict`` form).

    With ``hashed_only`` the fields of :data:`HASH_EXCLUDED_FIELDS` are ignored. Tuples and
    lists compare equal when their items do.
    """

    def norm(v: Any) -> Any:
        return json.loads(json.dumps(v, sort_keys=True, default=repr))

    keys = sorted(set(a) | set(b))
    if hashed_only:
        keys = [k for k in keys if k not in HASH_EXCLUDED_FIELDS]
    return [k for k in keys if norm(a.get(k, "<missing>")) != norm(b.get(k, "<missing>"))]


# --------------------------------------------------------------------------- argparse


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _optional(conv: Any) -> Any:
    def parse(text: str) -> Any:
        if text.strip().lower() in ("none", "null"):
            return None
        return conv(text)

    parse.__name__ = getattr(conv, "__name__", "value")
    return parse


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type[Any],
    *,
    prefix: str = "",
    exclude: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Add one ``--option`` per field of the dataclass ``cls`` to ``parser``.

    Mapping: ``bool`` -> ``--x/--no-x``; ``int``/``float``/``str`` -> typed option;
    ``Literal[...]`` -> ``choices``; ``X | None`` -> type X, the word ``none`` gives ``None``;
    ``tuple[float, float]`` -> ``nargs=2``; ``list[X]``/``tuple[X, ...]`` -> ``nargs='+'``;
    ``dict`` -> a JSON object. Option names are ``--{prefix}{field-name-with-dashes}``, the
    destination ``{prefix}{field_name}``. Help comes from ``field(metadata={"help": ...})``
    followed by the default. Fields without a default are ``required``.
    """
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise InputTypeError(f"cls must be a dataclass type, got {cls!r}")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init:
            continue
        tp, is_opt = _unwrap_optional(hints[f.name])
        default = _default_of(f)
        flag = "--" + (prefix + f.name).replace("_", "-")
        dest = prefix + f.name
        text = str(f.metadata.get("help", ""))
        kw: dict[str, Any] = {"dest": dest}
        if default is dataclasses.MISSING:
            kw["required"] = True
        else:
            kw["default"] = default
            text = f"{text} (default: {default!r})" if text else f"default: {default!r}"
        kw["help"] = text.replace("%", "%%")
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif origin is Literal:
            kw["choices"] = list(args)
            kw["type"] = type(args[0]) if args else str
            if is_opt:
                kw["type"] = _optional(kw["type"])
                kw["choices"] = list(args) + [None]
        elif tp in (int, float, str):
            kw["type"] = _optional(tp) if is_opt else tp
            kw["metavar"] = tp.__name__.upper()
        elif tp is dict or origin is dict:
            kw["type"] = _json_dict
            kw["metavar"] = "JSON"
        elif origin is tuple and args and args[-1] is not Ellipsis:
            kw["nargs"] = len(args)
            kw["type"] = args[0]
            kw["metavar"] = tuple(a.__name__.upper() for a in args)
        elif origin in (list, tuple) and args:
            kw["nargs"] = "+"
            kw["type"] = args[0]
        else:
            raise InputTypeError(f"add_dataclass_arguments cannot map field {f.name!r} of type {tp!r} to an option")
        parser.add_argument(flag, **kw)


def dataclass_from_args(cls: type[T], ns: argparse.Namespace, *, prefix: str = "", **overrides: Any) -> T:
    """Build ``cls`` from a namespace parsed with :func:`add_dataclass_arguments`.

    Missing attributes keep the dataclass default; ``overrides`` win over the namespace.
    Sequences parsed for tuple fields are turned back into tuples; the dataclass'
    ``__post_init__`` validation runs as usual.
    """
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise InputTypeError(f"cls must be a dataclass type, got {cls!r}")
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in overrides:
            kw[f.name] = overrides[f.name]
            continue
        dest = prefix + f.name
        if not hasattr(ns, dest):
            continue
        value = getattr(ns, dest)
        tp, _ = _unwrap_optional(hints[f.name])
        if typing.get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        kw[f.name] = value
    return cls(**kw)
