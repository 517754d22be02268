"""What a study run is: the user-facing :class:`StudySpec` and the presets it draws from.

A :class:`StudySpec` is what the CLI builds from flags (every option of ``reconloss study`` is
generated from its fields and their ``help`` metadata). A :class:`Preset` holds the
experimental design (steps, patch size, seeds, the losses compared, the outlier conditions, the
inpainting recipes). :func:`resolve` merges the two into a :class:`StudyPlan`, the complete,
frozen description of the experiment; its :meth:`StudyPlan.fingerprint` identifies a results
folder, so a second run with the same plan resumes it and a different plan is refused.

Presets:

* ``quick``: all three studies (63 runs), 3 seeds, 400 steps of batch 16 on 32 px patches;
  within 10 minutes on 2 CPU cores including the report (about 5 min with the cores free).
* ``full``: 1200 steps of batch 32, 4096 patches per seed, 5 seeds (105 runs); under an hour
  on 2 CPU cores.
* ``tiny``: seconds; for tests and smoke checks (not a scientific result).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from reconloss._checks import ParameterError, ReconlossError, UnknownNameError

__all__ = [
    "StudyName",
    "PresetName",
    "STUDIES",
    "StudyError",
    "OutputConflictError",
    "OutlierCondition",
    "Preset",
    "PRESETS",
    "StudySpec",
    "StudyPlan",
    "resolve",
    "parse_losses",
    "spec_fields",
    "with_overrides",
]

StudyName = Literal["reconstruct", "outliers", "inpaint", "all"]
PresetName = Literal["quick", "full", "tiny"]
STUDIES: tuple[str, ...] = ("reconstruct", "outliers", "inpaint")
"""The individual studies, in the order ``all`` runs them."""


class StudyError(ReconlossError, ValueError):
    """A study cannot run as asked (bad option values, unusable data folder, ...)."""


class OutputConflictError(StudyError):
    """The output folder holds the results of a different study; it is never overwritten."""


@dataclass(frozen=True)
class OutlierCondition:
    """How bright outlier pixels are injected into the images of the outlier study.

    Attributes:
        name: Short name used in folders and tables (``"rare"``).
        rate: Probability that a pixel becomes an outlier (``None`` with ``fixed``).
        fixed: Put one outlier at the same position ``(row, col)`` of every image.
        position: Position of the fixed outlier as fractions of the patch side.
        description: One line for tables and the report.
    """

    name: str
    rate: float | None = None
    fixed: bool = False
    position: tuple[float, float] = (0.40, 0.60)
    description: str = ""

    def pixel_position(self, patch_size: int) -> tuple[int, int]:
        """The fixed outlier's (row, col) in a patch of side ``patch_size``."""
        r = min(patch_size - 1, max(0, int(self.position[0] * patch_size)))
        c = min(patch_size - 1, max(0, int(self.position[1] * patch_size)))
        return r, c


_CONDITIONS: tuple[OutlierCondition, ...] = (
    OutlierCondition("rare", rate=1 / 2000, description="rare random: 1 pixel in 2000 (about 1 per two 32x32 patches)"),
    OutlierCondition("frequent", rate=0.01, description="frequent random: 1% of the pixels"),
    OutlierCondition("fixed", fixed=True, description="fixed: one outlier at the same position in every image"),
)

_RECONSTRUCT = ("l1", "l2", "huber(delta=0.1)", "charbonnier", "adaptive", "mix", "frequency")
_OUTLIER_LOSSES = ("l1", "l2", "huber(delta=0.1)")
_INPAINT = ("l1", "l2", "l1>l2@0.5", "l2>l1@0.5", "mix")


@dataclass(frozen=True)
class Preset:
    """An experimental design. Every field can be overridden through :class:`StudySpec` where
    it has a matching field.

    Attributes:
        name: Preset name.
        steps: Optimiser steps per run (the same for every loss and recipe of a study).
        batch_size: Patches per step.
        patch_size: Side of the square patches in pixels.
        n_train: Training patches cut per seed.
        max_test: Cap on the evaluation patches.
        seeds: Number of seeds (each: new crops, new train/test split of the images, new
            initial weights; shared by all losses so comparisons are paired).
        lr: Adam learning rate.
        eval_every: Steps between evaluations on the test patches (learning curves).
        n_samples: Test patches kept as example images in ``samples.pt``.
        width: Base channel width of the models.
        reconstruct_losses: Loss specs of the reconstruct study.
        outlier_losses: Loss specs of the outlier study.
        outlier_conditions: The outlier conditions.
        inpaint_recipes: Loss specs (with schedules) of the inpainting study.
        hole_area: Fraction of the patch covered by a hole, (low, high).
        hidden: Not advertised in the CLI help.
    """

    name: str
    steps: int
    batch_size: int
    patch_size: int
    n_train: int
    max_test: int
    seeds: int
    lr: float = 2e-3
    eval_every: int = 100
    n_samples: int = 6
    width: int = 16
    reconstruct_losses: tuple[str, ...] = _RECONSTRUCT
    outlier_losses: tuple[str, ...] = _OUTLIER_LOSSES
    outlier_conditions: tuple[OutlierCondition, ...] = _CONDITIONS
    inpaint_recipes: tuple[str, ...] = _INPAINT
    hole_area: tuple[float, float] = (0.1, 0.3)
    hidden: bool = False


PRESETS: dict[str, Preset] = {
    # quick: measured 3m53s wall for 300 steps at lr 2e-3 on the 2-core machine (428 CPU-s);
    # lr 5e-3 reaches at 300 steps what 2e-3 reaches at 600 (PSNR, edge strength), so the quick
    # preset uses 400 steps at 5e-3 (about 5 min wall with the cores free, report included).
    "quick": Preset(
        name="quick",
        steps=400,
        batch_size=16,
        patch_size=32,
        n_train=1024,
        max_test=192,
        seeds=3,
        lr=5e-3,
        eval_every=100,
    ),
    # full: 5 seeds, 3x the steps at twice the batch, 4x the patches; about 35-40 min on 2 cores.
    "full": Preset(
        name="full",
        steps=1200,
        batch_size=32,
        patch_size=32,
        n_train=4096,
        max_test=512,
        seeds=5,
        lr=3e-3,
        eval_every=200,
        n_samples=8,
    ),
    "tiny": Preset(
        name="tiny",
        steps=6,
        batch_size=4,
        patch_size=16,
        n_train=32,
        max_test=8,
        seeds=2,
        eval_every=3,
        n_samples=2,
        width=8,
        reconstruct_losses=("l1", "l2"),
        outlier_losses=("l1", "l2"),
        outlier_conditions=(_CONDITIONS[0], _CONDITIONS[2]),
        inpaint_recipes=("l1", "l2", "l1>l2@0.5"),
        hidden=True,
    ),
}
"""The presets by name. ``tiny`` is hidden from the CLI help (tests, smoke checks)."""


def _opt(help: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"help": help}
    meta.update(extra)
    return meta


@dataclass
class StudySpec:
    """What the user asked for. ``None`` means "the preset's value" (or "auto").

    Every field becomes a ``reconloss study`` option (``--patch-size`` for ``patch_size``);
    the ``help`` metadata is the option's help text.

    Example:
        >>> spec = StudySpec(study="reconstruct", preset="tiny", out="/tmp/x")
        >>> resolve(spec).steps
        6
    """

    study: StudyName = field(
        default="all", metadata=_opt("which study to run: reconstruct, outliers, inpaint or all")
    )
    preset: PresetName = field(
        default="quick",
        metadata=_opt("experimental design: quick (about 10 min on 2 CPU cores) or full (under an hour)"),
    )
    data: str | None = field(
        default=None,
        metadata=_opt("folder of your own images (PNG/JPEG/TIFF...); default: the built-in photographs", metavar="FOLDER"),
    )
    losses: str | None = field(
        default=None,
        metadata=_opt(
            "comma-separated loss specs replacing the preset's list for the reconstruct and outlier studies, "
            "e.g. 'l1,l2,0.84*ms_ssim+0.16*l1' (see `reconloss losses`)",
            metavar="SPECS",
        ),
    )
    seeds: int | None = field(default=None, metadata=_opt("number of seeds per loss (default: the preset's)", metavar="N"))
    steps: int | None = field(default=None, metadata=_opt("training steps per run (default: the preset's)", metavar="N"))
    batch_size: int | None = field(default=None, metadata=_opt("patches per step (default: the preset's)", metavar="N"))
    patch_size: int | None = field(default=None, metadata=_opt("patch side in pixels (default: the preset's)", metavar="P"))
    n_train: int | None = field(
        default=None, metadata=_opt("training patches per seed (default: the preset's)", metavar="N")
    )
    lr: float | None = field(default=None, metadata=_opt("Adam learning rate (default: the preset's)", metavar="LR"))
    out: str = field(default="reconloss-out", metadata=_opt("output folder (resumed if it holds this study)", metavar="DIR"))
    device: str = field(default="auto", metadata=_opt("auto, cpu, cuda or cuda:N", metavar="DEVICE"))
    resume: bool = field(
        default=True, metadata=_opt("resume the study found in --out (--no-resume reruns every run)")
    )
    workers: int | None = field(
        default=None, metadata=_opt("parallel worker processes (default: chosen for this machine)", metavar="N")
    )
    threads: int | None = field(
        default=None, metadata=_opt("torch threads per worker (default: 1 on CPU, measured fastest for these small models)", metavar="N")
    )
    report: bool = field(default=True, metadata=_opt("build report.html at the end (--no-report skips it)"))
    progress: bool = field(default=True, metadata=_opt("show a progress bar (--no-progress hides it)"))


@dataclass(frozen=True)
class StudyPlan:
    """The complete experiment: the preset with the spec's overrides applied.

    Attributes:
        studies: The studies to run, in order.
        preset: Preset name.
        data: Folder of images, or ``None`` for the built-in photographs.
        steps, batch_size, patch_size, n_train, max_test, lr, eval_every, n_samples, width,
        hole_area: As in :class:`Preset`.
        seeds: Seed values ``0 .. n-1``.
        reconstruct_losses, outlier_losses, inpaint_recipes, outlier_conditions: As in
            :class:`Preset`, after the ``losses`` override.
    """

    studies: tuple[str, ...]
    preset: str
    data: str | None
    steps: int
    batch_size: int
    patch_size: int
    n_train: int
    max_test: int
    lr: float
    eval_every: int
    n_samples: int
    width: int
    seeds: tuple[int, ...]
    reconstruct_losses: tuple[str, ...]
    outlier_losses: tuple[str, ...]
    outlier_conditions: tuple[OutlierCondition, ...]
    inpaint_recipes: tuple[str, ...]
    hole_area: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    def fingerprint(self) -> str:
        """Short hash of everything that changes the numbers (not the output folder, device,
        workers or threads): two runs with the same fingerprint compute the same experiment."""
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def conditions(self, study: str) -> list[str]:
        """Condition names of ``study`` (``"clean"`` / ``"holes"`` for the single-condition ones)."""
        if study == "outliers":
            return [c.name for c in self.outlier_conditions]
        return ["holes"] if study == "inpaint" else ["clean"]

    def losses_of(self, study: str) -> list[str]:
        """Loss specs of ``study``."""
        if study == "reconstruct":
            return list(self.reconstruct_losses)
        if study == "outliers":
            return list(self.outlier_losses)
        return list(self.inpaint_recipes)

    def condition(self, name: str) -> OutlierCondition:
        """The outlier condition called ``name``."""
        for c in self.outlier_conditions:
            if c.name == name:
                return c
        raise UnknownNameError(f"outlier condition must be one of {[c.name for c in self.outlier_conditions]}, got {name!r}")


def parse_losses(text: str) -> tuple[str, ...]:
    """Split a comma-separated list of loss specs, dropping blanks and duplicates (order kept).

    Commas inside a spec's parameter list (``mix(scales=2,alpha=0.5)``) do not split.

    Example:
        >>> parse_losses(" l1, l2 ,l1,")
        ('l1', 'l2')
        >>> parse_losses("huber(delta=0.1),mix(scales=2,alpha=0.5)")
        ('huber(delta=0.1)', 'mix(scales=2,alpha=0.5)')
    """
    if not isinstance(text, str):
        raise StudyError(f"--losses must be a comma-separated string, got {type(text).__name__}")
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    out: list[str] = []
    for part in parts:
        p = part.strip().replace(" ", "")
        if p and p not in out:
            out.append(p)
    if not out:
        raise StudyError(f"--losses must name at least one loss, got {text!r}")
    return tuple(out)


def _positive(value: int | None, name: str, fallback: int, low: int = 1) -> int:
    if value is None:
        return fallback
    if isinstance(value, bool) or not isinstance(value, int):
        raise StudyError(f"--{name.replace('_', '-')} must be an integer, got {value!r}")
    if value < low:
        raise StudyError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")
    return value


def resolve(spec: StudySpec) -> StudyPlan:
    """Apply ``spec``'s overrides to its preset and check every value.

    Raises:
        StudyError: a value out of range (``--steps 0``), an unknown study, an empty loss list.
        UnknownNameError: an unknown preset name.
    """
    if spec.preset not in PRESETS:
        raise UnknownNameError(f"--preset must be one of {', '.join(k for k in PRESETS if not PRESETS[k].hidden)}, got {spec.preset!r}")
    p = PRESETS[spec.preset]
    if spec.study == "all":
        studies = STUDIES
    elif spec.study in STUDIES:
        studies = (spec.study,)
    else:
        raise UnknownNameError(f"study must be one of {', '.join(STUDIES)} or all, got {spec.study!r}")
    steps = _positive(spec.steps, "steps", p.steps)
    batch = _positive(spec.batch_size, "batch_size", p.batch_size)
    patch = _positive(spec.patch_size, "patch_size", p.patch_size, low=16)
    n_train = _positive(spec.n_train, "n_train", p.n_train)
    n_seeds = _positive(spec.seeds, "seeds", p.seeds)
    if spec.workers is not None:
        _positive(spec.workers, "workers", 1)
    if spec.threads is not None:
        _positive(spec.threads, "threads", 1)
    lr = p.lr
    if spec.lr is not None:
        try:
            lr = float(spec.lr)
        except (TypeError, ValueError) as exc:
            raise StudyError(f"--lr must be a number, got {spec.lr!r}") from exc
        if not 0.0 < lr < 10.0:
            raise StudyError(f"--lr must be in (0, 10), got {lr!r}")
    rec, out_losses = p.reconstruct_losses, p.outlier_losses
    if spec.losses is not None:
        rec = out_losses = parse_losses(spec.losses)
    if batch > n_train:
        raise StudyError(f"--batch-size ({batch}) must not exceed --n-train ({n_train})")
    if spec.data is not None and (not isinstance(spec.data, str) or not spec.data.strip()):
        raise StudyError(f"--data must be a folder path, got {spec.data!r}")
    eval_every = max(1, min(p.eval_every, steps))
    return StudyPlan(
        studies=tuple(studies),
        preset=p.name,
        data=spec.data,
        steps=steps,
        batch_size=batch,
        patch_size=patch,
        n_train=n_train,
        max_test=p.max_test,
        lr=lr,
        eval_every=eval_every,
        n_samples=p.n_samples,
        width=p.width,
        seeds=tuple(range(n_seeds)),
        reconstruct_losses=tuple(rec),
        outlier_losses=tuple(out_losses),
        outlier_conditions=p.outlier_conditions,
        inpaint_recipes=p.inpaint_recipes,
        hole_area=p.hole_area,
    )


def spec_fields() -> list[str]:
    """Names of the :class:`StudySpec` fields, in declaration order."""
    return [f.name for f in fields(StudySpec)]


def with_overrides(spec: StudySpec, **changes: Any) -> StudySpec:
    """A copy of ``spec`` with some fields changed (unknown names raise :class:`ParameterError`)."""
    known = set(spec_fields())
    bad = sorted(set(changes) - known)
    if bad:
        raise ParameterError(f"StudySpec has no field(s) {bad}; valid: {sorted(known)}")
    return replace(spec, **changes)
