"""Weighted sums of losses, schedules over training steps, and the loss-spec parser.

A loss spec is a short string used by the CLI and the studies:

- ``"l1"``: one registry name (case-insensitive, aliases allowed: ``"MSE"``, ``"mae"``);
- ``"0.84*ms_ssim+0.16*l1"``: a weighted sum (a term without ``w*`` has weight 1);
- ``"l1>l2@0.5"``: L1, then L2 from half of ``total_steps`` on; ``"l1>l2@300"``: from step 300;
- ``"l1~l2@0.4:0.6"``: linear crossfade from L1 to L2 between 40% and 60% of training;
- any name may carry constructor parameters in parentheses: ``"huber(delta=0.05)"``,
  ``"0.84*mix(scales=2)+0.16*l1"``, ``"l1>charbonnier(eps=0.01)@0.5"`` (values are numbers,
  ``true``/``false``, ``none`` or bare words; unknown parameter names are an error).

A number after ``@`` is a fraction of ``total_steps`` if it contains ``'.'`` or is below 1,
and a step otherwise. All combined modules share the schedule interface used by the training
loop: a persistent long buffer ``step`` (saved in ``state_dict``, so a resumed run continues),
``set_step(step)``, ``current_weights()``, ``switch_steps`` and ``last_terms``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._checks import InputTypeError, ParameterError, UnknownNameError

__all__ = [
    "ScheduledLoss",
    "WeightedSum",
    "SwitchSchedule",
    "CrossfadeSchedule",
    "LambdaSchedule",
    "build_loss",
    "describe",
    "parse_spec",
    "LossSpec",
]

TermInput = nn.Module | str | tuple[str, nn.Module]

_DISPLAY = {
    "l1": "L1",
    "l2": "L2",
    "huber": "Huber",
    "smooth_l1": "Smooth L1",
    "charbonnier": "Charbonnier",
    "barron": "Barron",
    "adaptive": "Adaptive robust",
    "ssim": "SSIM",
    "ms_ssim": "MS-SSIM",
    "mix": "Mix",
    "gradient": "Gradient",
    "frequency": "FFT L1",
    "focal_frequency": "Focal frequency",
}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _check_term_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "." in name:
        raise ParameterError(f"term names must be non-empty strings without '.', got {name!r}")
    return name


def _default_name(module: nn.Module) -> str:
    """'L1Loss' -> 'l1', 'FocalFrequencyLoss' -> 'focal_frequency'."""
    cls = type(module).__name__
    if cls.endswith("Loss") and len(cls) > 4:
        cls = cls[:-4]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls).lower()
    return snake or "term"


def _make_term(term: Any, default: str) -> tuple[str, nn.Module]:
    """A registry name, a module or a (name, module) pair -> (name, module)."""
    if isinstance(term, str):
        from . import get_loss, resolve_loss_name

        return resolve_loss_name(term), get_loss(term)
    if isinstance(term, tuple) and len(term) == 2 and isinstance(term[1], nn.Module):
        return _check_term_name(term[0]), term[1]
    if isinstance(term, nn.Module):
        return _default_name(term) if default == "" else default, term
    raise InputTypeError(
        f"a loss term must be a registry name, an nn.Module or a (name, module) pair, got {type(term).__name__}"
    )


def _check_weight(value: Any, name: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ParameterError(f"weight of {name!r} must be a number, got a tensor of shape {tuple(value.shape)}")
        value = float(value.detach())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"weight of {name!r} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ParameterError(f"weight of {name!r} must be a finite number >= 0, got {v:g}")
    return v


def _check_step(step: Any, name: str = "step", low: int = 0) -> int:
    if isinstance(step, Tensor):
        if step.numel() != 1:
            raise ParameterError(f"{name} must be an integer, got a tensor of shape {tuple(step.shape)}")
        step = step.item()
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if isinstance(step, bool) or not isinstance(step, int):
        raise InputTypeError(f"{name} must be an integer, got {type(step).__name__} {step!r}")
    if step < low:
        raise ParameterError(f"{name} must be >= {low}, got {step}")
    return step


class ScheduledLoss(nn.Module):
    """Base class: named loss terms whose weights depend on the training step.

    Subclasses implement :meth:`weights_at`. ``forward(generated, target, **kw)`` evaluates
    every term whose current weight is non-zero (terms at weight 0 are skipped, not computed),
    passes ``**kw`` (e.g. ``mask=``) to each, and returns ``sum(weight * term)``.

    The step is a persistent long buffer ``step`` (in ``state_dict``; a resumed run continues
    where it stopped). The training loop calls :meth:`set_step` each step; forward does not
    advance it. A Python mirror of the step is kept so that forward never reads the buffer
    (no device sync); use :meth:`set_step` rather than writing the buffer directly.

    Attributes:
        terms: :class:`torch.nn.ModuleDict` of the terms (so their parameters, e.g. those of
            :class:`~reconloss.losses.robust.AdaptiveRobustLoss`, reach the optimizer and the
            ``state_dict``).
        switch_steps: steps where the schedule changes (for plots), ``[]`` for constant weights.
    """

    step: Tensor

    def __init__(self, terms: Iterable[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict()
        for name, module in terms:
            _check_term_name(name)
            if name in self.terms:
                raise ParameterError(f"term names must be unique, got {name!r} twice")
            if not isinstance(module, nn.Module):
                raise InputTypeError(f"term {name!r} must be an nn.Module, got {type(module).__name__}")
            self.terms[name] = module
        if len(self.terms) == 0:
            raise ParameterError("a combined loss needs at least one term, got none")
        self.register_buffer("step", torch.zeros((), dtype=torch.long), persistent=True)
        self._step_value = 0
        self._last: dict[str, Tensor | float] = {}
        self._last_cache: dict[str, float] | None = None
        self.switch_steps: list[int] = []
        self.register_load_state_dict_post_hook(_sync_step_mirror)

    # schedule interface ---------------------------------------------------------------------
    def weights_at(self, step: int) -> dict[str, float]:
        """Weight of every term at ``step`` (name -> float)."""
        raise NotImplementedError

    def current_weights(self) -> dict[str, float]:
        """Weights at the current step (name -> float)."""
        return self.weights_at(self._step_value)

    def set_step(self, step: int) -> None:
        """Set the training step (also on nested schedules)."""
        value = _check_step(step)
        self._step_value = value
        self.step.fill_(value)
        for module in self.terms.values():
            if isinstance(module, ScheduledLoss):
                module.set_step(value)

    @property
    def current_step(self) -> int:
        """The current step as a Python int (no device sync)."""
        return self._step_value

    @property
    def last_terms(self) -> dict[str, float]:
        """Each term's weighted value in the latest forward (0.0 for skipped terms).

        Values are kept as detached tensors and converted on first access (one sync for all
        terms), so a training loop that does not read them never syncs.
        """
        if self._last_cache is None:
            tensors = [v.float().mean() for v in self._last.values() if isinstance(v, Tensor)]
            values = iter(torch.stack(tensors).tolist() if tensors else [])
            self._last_cache = {n: next(values) if isinstance(v, Tensor) else float(v) for n, v in self._last.items()}
        return dict(self._last_cache)

    def forward(self, generated: Tensor, target: Tensor, **kwargs: Any) -> Tensor:
        """Weighted sum of the terms with non-zero weight at the current step."""
        weights = self.current_weights()
        total: Tensor | None = None
        last: dict[str, Tensor | float] = {}
        for name, module in self.terms.items():
            w = weights.get(name, 0.0)
            if w == 0.0:
                last[name] = 0.0
                continue
            value = module(generated, target, **kwargs)
            weighted = value if w == 1.0 else w * value
            last[name] = weighted.detach()
            total = weighted if total is None else total + weighted
        self._last = last
        self._last_cache = None
        if total is None:  # every weight is 0: a zero that still backpropagates
            return (generated * 0).sum()
        return total

    def extra_repr(self) -> str:
        return f"step={self._step_value}, switch_steps={self.switch_steps}"


def _sync_step_mirror(module: nn.Module, incompatible_keys: Any) -> None:
    if isinstance(module, ScheduledLoss):
        module._step_value = int(module.step)


class WeightedSum(ScheduledLoss):
    """Constant weighted sum of losses.

    Args:
        terms: ``{name: (weight, module)}`` or a list of ``(name, weight, module)``; weights are
            finite numbers >= 0, names unique strings without ``'.'``.

    .. math::
        \\mathcal{L} = \\sum_k w_k \\mathcal{L}_k(g, t)

    Example:
        >>> from reconloss.losses.pixel import L1Loss, MSELoss
        >>> loss = WeightedSum({"l1": (0.5, L1Loss()), "l2": (2.0, MSELoss())})
        >>> float(loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)))
        2.5
        >>> loss.last_terms
        {'l1': 0.5, 'l2': 2.0}
    """

    def __init__(
        self,
        terms: Mapping[str, tuple[float, nn.Module]] | Iterable[tuple[str, float, nn.Module]],
    ) -> None:
        if isinstance(terms, Mapping):
            items = [(name, *pair) for name, pair in terms.items()]
        else:
            items = list(terms)
        triples: list[tuple[str, float, nn.Module]] = []
        for item in items:
            if not isinstance(item, tuple) or len(item) != 3:
                raise InputTypeError(
                    f"each term must be (name, weight, module) or name -> (weight, module), got {item!r}"
                )
            name, weight, module = item
            triples.append((_check_term_name(name), _check_weight(weight, name), module))
        super().__init__((n, m) for n, _, m in triples)
        self.weights: dict[str, float] = {n: w for n, w, _ in triples}

    def weights_at(self, step: int) -> dict[str, float]:
        return dict(self.weights)


def _two_terms(first: Any, second: Any) -> list[tuple[str, nn.Module]]:
    a = _make_term(first, "")
    b = _make_term(second, "")
    if a[0] == b[0]:
        b = (f"{b[0]}_2", b[1])
    return [a, b]


class SwitchSchedule(ScheduledLoss):
    """Train with ``first``, then with ``second`` from a given step on (e.g. L1 then L2).

    Args:
        first: the loss before the switch: registry name, module or ``(name, module)``.
        second: the loss from the switch step on (same forms).
        at_step: switch step (>= 0): ``second`` is used at steps ``>= at_step``.
        at_fraction: switch at ``round(at_fraction * total_steps)``, fraction in [0, 1];
            exactly one of ``at_step`` / ``at_fraction``.
        total_steps: number of training steps, needed with ``at_fraction``.

    .. math::
        \\mathcal{L}_s = \\mathcal{L}_1 \\text{ if } s < s^*, \\text{ else } \\mathcal{L}_2

    Example:
        >>> from reconloss.losses.pixel import L1Loss, MSELoss
        >>> sched = SwitchSchedule(("l1", L1Loss()), ("l2", MSELoss()), at_fraction=0.5, total_steps=100)
        >>> sched.switch_steps, sched.weights_at(49), sched.weights_at(50)
        ([50], {'l1': 1.0, 'l2': 0.0}, {'l1': 0.0, 'l2': 1.0})
    """

    def __init__(
        self,
        first: TermInput,
        second: TermInput,
        at_step: int | None = None,
        at_fraction: float | None = None,
        total_steps: int | None = None,
    ) -> None:
        if (at_step is None) == (at_fraction is None):
            raise ParameterError(
                f"pass exactly one of at_step or at_fraction, got at_step={at_step!r}, at_fraction={at_fraction!r}"
            )
        if at_step is not None:
            at = _check_step(at_step, "at_step")
        else:
            at = _fraction_to_step(at_fraction, total_steps, "at_fraction")
        super().__init__(_two_terms(first, second))
        self.at_step = at
        self.switch_steps = [at]
        self._names = list(self.terms.keys())

    def weights_at(self, step: int) -> dict[str, float]:
        a, b = self._names
        return {a: 0.0, b: 1.0} if step >= self.at_step else {a: 1.0, b: 0.0}


class CrossfadeSchedule(ScheduledLoss):
    """Linear crossfade from ``first`` to ``second`` over the steps ``[start, end]``.

    Args:
        first: the loss at the start (registry name, module or ``(name, module)``).
        second: the loss at the end.
        start: first step of the window (>= 0); before it the weights are (1, 0).
        end: last step of the window (>= start); from it on the weights are (0, 1).
            ``start == end`` is a hard switch at that step.

    .. math::
        \\mathcal{L}_s = (1 - \\lambda_s) \\mathcal{L}_1 + \\lambda_s \\mathcal{L}_2, \\quad
        \\lambda_s = \\operatorname{clip}\\left(\\frac{s - s_0}{s_1 - s_0}, 0, 1\\right)

    Example:
        >>> from reconloss.losses.pixel import L1Loss, MSELoss
        >>> sched = CrossfadeSchedule(("l1", L1Loss()), ("l2", MSELoss()), start=100, end=200)
        >>> sched.weights_at(150)
        {'l1': 0.5, 'l2': 0.5}
    """

    def __init__(self, first: TermInput, second: TermInput, start: int, end: int) -> None:
        s0 = _check_step(start, "start")
        s1 = _check_step(end, "end")
        if s1 < s0:
            raise ParameterError(f"end must be >= start ({s0}), got {s1}")
        super().__init__(_two_terms(first, second))
        self.start = s0
        self.end = s1
        self.switch_steps = [s0, s1]
        self._names = list(self.terms.keys())

    def weights_at(self, step: int) -> dict[str, float]:
        a, b = self._names
        if step >= self.end:
            lam = 1.0
        elif step <= self.start:
            lam = 0.0
        else:
            lam = (step - self.start) / (self.end - self.start)
        return {a: 1.0 - lam, b: lam}


class LambdaSchedule(ScheduledLoss):
    """Weights given by any callable of the step.

    Args:
        terms: ``{name: module}``.
        fn: ``fn(step: int) -> {name: weight}``; names it omits get weight 0, names that are
            not terms raise :class:`~reconloss.ParameterError`. The callable is NOT part of
            the ``state_dict`` (only the step is): rebuild the schedule with the same ``fn``
            before loading a checkpoint.
        switch_steps: optional steps to mark on plots.

    .. math::
        \\mathcal{L}_s = \\sum_k f(s)_k \\mathcal{L}_k

    Example:
        >>> from reconloss.losses.pixel import L1Loss
        >>> sched = LambdaSchedule({"l1": L1Loss()}, lambda s: {"l1": 1.0 / (1 + s)})
        >>> sched.set_step(3); sched.current_weights()
        {'l1': 0.25}
    """

    def __init__(
        self,
        terms: Mapping[str, nn.Module],
        fn: Callable[[int], Mapping[str, float]],
        switch_steps: Iterable[int] = (),
    ) -> None:
        if not isinstance(terms, Mapping):
            raise InputTypeError(f"terms must be a dict name -> module, got {type(terms).__name__}")
        if not callable(fn):
            raise InputTypeError(f"fn must be callable (step -> dict name -> weight), got {type(fn).__name__}")
        super().__init__(terms.items())
        self.fn = fn
        self.switch_steps = [_check_step(s, "switch_steps entry") for s in switch_steps]

    def weights_at(self, step: int) -> dict[str, float]:
        raw = self.fn(step)
        if not isinstance(raw, Mapping):
            raise InputTypeError(f"fn(step) must return a dict name -> weight, got {type(raw).__name__}")
        unknown = [k for k in raw if k not in self.terms]
        if unknown:
            raise ParameterError(f"fn(step) returned unknown term names {unknown}; terms are {list(self.terms)}")
        return {name: _check_weight(raw.get(name, 0.0), name) for name in self.terms}


def _fraction_to_step(fraction: Any, total_steps: Any, what: str) -> int:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise InputTypeError(f"{what} must be a number in [0, 1], got {type(fraction).__name__}")
    f = float(fraction)
    if not (0.0 <= f <= 1.0):
        raise ParameterError(f"{what} must be in [0, 1], got {f:g}")
    if total_steps is None:
        raise ParameterError(f"{what}={f:g} is a fraction of training and needs total_steps, got total_steps=None")
    n = _check_step(total_steps, "total_steps", low=1)
    return int(round(f * n))


# --------------------------------------------------------------------------------------------
# spec parser


@dataclass(frozen=True)
class _At:
    value: float
    is_fraction: bool

    def to_step(self, total_steps: int | None, spec: str) -> int:
        if not self.is_fraction:
            return int(self.value)
        if total_steps is None:
            raise ParameterError(
                f"loss spec {spec!r} switches at a fraction of training ({self.value:g}) and needs total_steps, "
                "got total_steps=None; pass total_steps or use an integer step such as '@300'"
            )
        return _fraction_to_step(self.value, total_steps, f"fraction in {spec!r}")

    def label(self) -> str:
        return f"{self.value * 100:g}%" if self.is_fraction else f"step {int(self.value)}"


@dataclass(frozen=True)
class LossSpec:
    """A parsed loss spec.

    Attributes:
        kind: ``'single'`` | ``'sum'`` | ``'switch'`` | ``'crossfade'``.
        terms: ``(weight, canonical name)`` pairs (two names for switch/crossfade).
        at: switch point(s): one for a switch, (start, end) for a crossfade.
        text: the spec as given.
    """

    kind: Literal["single", "sum", "switch", "crossfade"]
    terms: tuple[tuple[float, str], ...]
    at: tuple[_At, ...]
    text: str
    params: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def term_params(self, i: int) -> dict[str, Any]:
        """Constructor parameters given in the spec for term ``i`` (empty dict if none)."""
        return dict(self.params[i]) if i < len(self.params) else {}


_EXPECTED = (
    "expected a loss name ('l1', 'huber(delta=0.05)'), a weighted sum ('0.84*ms_ssim+0.16*l1'), "
    "a switch ('l1>l2@0.5' or 'l1>l2@300') or a crossfade ('l1~l2@0.4:0.6')"
)

_PARAMS_RE = re.compile(r"\(([^()]*)\)")
_PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _extract_params(text: str, spec: str) -> tuple[str, list[tuple[tuple[str, Any], ...]]]:
    """Replace each ``(k=v,...)`` group by a placeholder ``#i`` and parse it."""
    groups: list[tuple[tuple[str, Any], ...]] = []

    def repl(m: re.Match[str]) -> str:
        items: list[tuple[str, Any]] = []
        body = m.group(1)
        if body:
            for item in body.split(","):
                key, eq, value = item.partition("=")
                if not eq or not _PARAM_KEY_RE.match(key) or not value:
                    raise _bad(spec, f"parameters must be written 'name(key=value,...)', got {m.group(0)!r}")
                if any(k == key for k, _ in items):
                    raise _bad(spec, f"parameter {key!r} is given twice")
                items.append((key, _parse_value(value)))
        groups.append(tuple(items))
        return f"#{len(groups) - 1}"

    out = _PARAMS_RE.sub(repl, text)
    if "(" in out or ")" in out:
        raise _bad(spec, "unbalanced or nested parentheses")
    return out, groups


def _bad(spec: str, why: str) -> ParameterError:
    return ParameterError(f"invalid loss spec {spec!r}: {why}; {_EXPECTED}")


def _resolve(name: str, spec: str) -> str:
    from . import resolve_loss_name

    name, hash_, index = name.partition("#")
    if hash_ and not index.isdigit():
        raise _bad(spec, "parameters '(...)' must close the term they belong to")
    if not name or not _NAME_RE.match(name):
        raise _bad(spec, f"{name!r} is not a loss name")
    try:
        return resolve_loss_name(name)
    except UnknownNameError as err:
        raise UnknownNameError(f"unknown loss {name!r} in loss spec {spec!r}: {err}") from None


def _parse_number(text: str, spec: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _bad(spec, f"{what} {text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise _bad(spec, f"{what} must be a finite number >= 0, got {text!r}")
    return v


def _parse_at(text: str, spec: str) -> _At:
    v = _parse_number(text, spec, "switch point")
    if "." in text or v < 1:
        if v > 1:
            raise _bad(spec, f"a fraction of training must be in [0, 1], got {text!r} (write an integer for a step)")
        return _At(v, True)
    if not text.isdigit():
        raise _bad(spec, f"a step must be an integer, got {text!r}")
    return _At(float(int(text)), False)


def parse_spec(spec: str) -> LossSpec:
    """Parse a loss spec string (see the module docstring) without building any module.

    Raises:
        ParameterError: malformed spec (the message names the spec and the accepted forms).
        UnknownNameError: a loss name that is not registered.
    """
    if not isinstance(spec, str):
        raise InputTypeError(f"loss spec must be a string, got {type(spec).__name__}")
    text = "".join(spec.split())
    if not text:
        raise _bad(spec, "it is empty")
    text, groups = _extract_params(text, spec)
    parsed = _parse_plain(text, spec)
    params = tuple(_term_params(part, groups, name, spec) for part, (_, name) in zip(_term_texts(parsed, text), parsed.terms))
    if len(groups) != sum(1 for p in _term_texts(parsed, text) if "#" in p):
        raise _bad(spec, "parameters must directly follow a loss name")
    return LossSpec(parsed.kind, parsed.terms, parsed.at, spec, params)


def _term_texts(parsed: LossSpec, text: str) -> list[str]:
    """The raw text of each term (name plus placeholder), in the order of ``parsed.terms``."""
    body = text.partition("@")[0]
    if parsed.kind == "switch":
        return body.split(">")
    if parsed.kind == "crossfade":
        return body.split("~")
    if parsed.kind == "sum":
        return [part.partition("*")[2] if "*" in part else part for part in body.split("+")]
    return [body]


def _term_params(part: str, groups: list[tuple[tuple[str, Any], ...]], name: str, spec: str) -> tuple[tuple[str, Any], ...]:
    if "#" not in part:
        return ()
    from . import loss_parameters

    items = groups[int(part.split("#", 1)[1])]
    allowed = loss_parameters(name)
    for key, _ in items:
        if key not in allowed:
            valid = ", ".join(allowed) or "none"
            raise _bad(spec, f"loss {name!r} has no parameter {key!r} (its parameters: {valid})")
    return items


def _parse_plain(text: str, spec: str) -> LossSpec:
    """Parse a whitespace-free spec whose parameter groups were replaced by placeholders."""
    if "@" in text:
        body, _, at_text = text.partition("@")
        if "@" in at_text:
            raise _bad(spec, "it has more than one '@'")
        if ">" in body and "~" not in body:
            kind: Literal["switch", "crossfade"] = "switch"
            parts = body.split(">")
        elif "~" in body and ">" not in body:
            kind = "crossfade"
            parts = body.split("~")
        else:
            raise _bad(spec, "an '@' needs exactly one of 'first>second' (switch) or 'first~second' (crossfade)")
        if len(parts) != 2 or not all(parts):
            raise _bad(spec, f"a {kind} needs exactly two loss names around {'>' if kind == 'switch' else '~'}")
        if any(c in p for p in parts for c in "*+"):
            raise _bad(spec, f"each side of a {kind} must be a single loss name, got {parts}")
        names = tuple((1.0, _resolve(p, spec)) for p in parts)
        if kind == "switch":
            if ":" in at_text:
                raise _bad(spec, "a switch takes one switch point after '@' (a window 'a:b' is for a crossfade '~')")
            return LossSpec("switch", names, (_parse_at(at_text, spec),), spec)
        window = at_text.split(":")
        if len(window) != 2 or not all(window):
            raise _bad(spec, f"a crossfade needs a window 'start:end' after '@', got {at_text!r}")
        a, b = _parse_at(window[0], spec), _parse_at(window[1], spec)
        if a.is_fraction == b.is_fraction and b.value < a.value:
            raise _bad(spec, f"the crossfade window must end after it starts, got {at_text!r}")
        return LossSpec("crossfade", names, (a, b), spec)
    if ">" in text or "~" in text:
        raise _bad(spec, "a switch or crossfade needs '@' and where to switch, e.g. 'l1>l2@0.5'")
    if ":" in text:
        raise _bad(spec, "':' is only allowed in a crossfade window")
    if "*" in text or "+" in text:
        terms: list[tuple[float, str]] = []
        for part in text.split("+"):
            if not part:
                raise _bad(spec, "a weighted sum has an empty term (check the '+' signs)")
            if "*" in part:
                w_text, _, name = part.partition("*")
                if not w_text or not name or "*" in name:
                    raise _bad(spec, f"each term must be 'weight*name' or 'name', got {part!r}")
                weight = _parse_number(w_text, spec, "weight")
            else:
                weight, name = 1.0, part
            canonical = _resolve(name, spec)
            if any(canonical == n for _, n in terms):
                raise _bad(spec, f"loss {canonical!r} appears twice")
            terms.append((weight, canonical))
        return LossSpec("sum", tuple(terms), (), spec)
    return LossSpec("single", ((1.0, _resolve(text, spec)),), (), spec)


def build_loss(spec: str, total_steps: int | None = None) -> nn.Module:
    """Build a loss module from a spec string.

    Args:
        spec: ``"l1"`` | ``"0.84*ms_ssim+0.16*l1"`` | ``"l1>l2@0.5"`` | ``"l1>l2@300"`` |
            ``"l1~l2@0.4:0.6"`` (spaces ignored, names case-insensitive with aliases).
        total_steps: number of training steps; required when the spec switches at a fraction.

    Returns:
        The registry's module for a single name; a :class:`WeightedSum`,
        :class:`SwitchSchedule` or :class:`CrossfadeSchedule` otherwise.

    Raises:
        ParameterError: malformed spec, or a fraction without ``total_steps``.
        UnknownNameError: an unknown loss name (the message lists the valid names).

    .. math::
        \\mathcal{L} = \\sum_k w_k(s)\\, \\mathcal{L}_k

    Example:
        >>> build_loss("l1>l2@0.5", total_steps=1000).switch_steps
        [500]
    """
    from . import get_loss

    parsed = parse_spec(spec)
    if total_steps is not None:
        _check_step(total_steps, "total_steps", low=1)
    if parsed.kind == "single":
        return get_loss(parsed.terms[0][1], **parsed.term_params(0))
    if parsed.kind == "sum":
        return WeightedSum([(name, w, get_loss(name, **parsed.term_params(i))) for i, (w, name) in enumerate(parsed.terms)])
    first, second = ((name, get_loss(name, **parsed.term_params(i))) for i, (_, name) in enumerate(parsed.terms))
    if parsed.kind == "switch":
        return SwitchSchedule(first, second, at_step=parsed.at[0].to_step(total_steps, spec))
    start = parsed.at[0].to_step(total_steps, spec)
    end = parsed.at[1].to_step(total_steps, spec)
    if end < start:
        raise _bad(spec, f"the crossfade window must end after it starts, got steps {start}:{end}")
    return CrossfadeSchedule(first, second, start=start, end=end)


def _display(name: str) -> str:
    return _DISPLAY.get(name, name.replace("_", " ").upper())


def describe(spec: str) -> str:
    """Human label of a loss spec, for plots and tables.

    Example:
        >>> describe("l1>l2@0.5")
        'L1 then L2 (switch at 50%)'
        >>> describe("0.84*ms_ssim+0.16*l1")
        '0.84 MS-SSIM + 0.16 L1'
        >>> describe("l1~l2@0.4:0.6")
        'L1 to L2 (crossfade 40%-60%)'
    """
    parsed = parse_spec(spec)

    def show(i: int) -> str:
        name = _display(parsed.terms[i][1])
        extra = parsed.term_params(i)
        return f"{name} ({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else name

    if parsed.kind == "single":
        return show(0)
    if parsed.kind == "sum":
        return " + ".join(show(i) if w == 1.0 else f"{w:g} {show(i)}" for i, (w, _) in enumerate(parsed.terms))
    a, b = show(0), show(1)
    if parsed.kind == "switch":
        return f"{a} then {b} (switch at {parsed.at[0].label()})"
    s, e = parsed.at
    if s.is_fraction and e.is_fraction:
        window = f"{s.value * 100:g}%-{e.value * 100:g}%"
    elif not s.is_fraction and not e.is_fraction:
        window = f"steps {int(s.value)}-{int(e.value)}"
    else:
        window = f"{s.label()} to {e.label()}"
    return f"{a} to {b} (crossfade {window})"
