"""Tables of the report: metric tables, "what to use", claim cards, Markdown summary and CSV.

Everything here is plain data (dataclasses of strings and floats) computed from a validated
:class:`~reconloss.report._schema.RunData`; the HTML template and :func:`write_summary_md`
render the same objects, so the page and the Markdown never disagree.

Orientation of a metric (higher better, lower better, or closest to an ideal value) comes from
:func:`reconloss.metrics.metric_info`. A metric it does not know is shown without a "best"
mark rather than guessed.

Lead-vs-noise rule ("what to use"): for the winning loss and the runner-up, take the
per-seed differences of their scores over the seeds both ran (a paired comparison: the same
seed gives the same data split and initialisation). The lead is *clear* when the two-sided
95 % Student-t interval of the mean difference excludes 0. With one seed the question cannot
be answered and the page says so.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reconloss._io import atomic_write_text
from reconloss.report._schema import NON_METRIC_KEYS, RunData

__all__ = [
    "Orientation",
    "orientation",
    "Cell",
    "Row",
    "Column",
    "MetricTable",
    "metric_table",
    "metric_tables",
    "Goal",
    "GOALS",
    "Recommendation",
    "recommendations",
    "ClaimCard",
    "claim_cards",
    "fmt",
    "t_critical",
    "LEAD_RULE",
    "summary_markdown",
    "write_summary_md",
    "csv_text",
    "write_csv",
]

#: One sentence stating the lead-vs-noise rule, printed on the page and in the Markdown.
LEAD_RULE = (
    "A lead is called clear when the 95% Student-t interval of the per-seed paired differences "
    "(winner minus runner-up, same seeds) excludes zero; with a single seed it cannot be tested."
)

#: Metrics shown first in tables, in this order; other metrics follow alphabetically.
PREFERRED_ORDER: tuple[str, ...] = (
    "psnr",
    "ssim",
    "ms_ssim",
    "mae",
    "mse",
    "sharp_gradient",
    "sharp_laplacian",
    "sharp_hf",
    "artifact",
    "hole_psnr",
    "hole_ssim",
    "hole_mae",
    "hole_sharp_gradient",
    "retention_mean",
    "halo_mean",
    "clean_error_mean",
)

# Used only when ``reconloss.metrics`` cannot be imported (e.g. a partial install): the same
# orientation the metrics registry documents for the standard set.
_FALLBACK: dict[str, tuple[bool | None, float]] = {
    "psnr": (True, math.inf),
    "ssim": (True, 1.0),
    "ms_ssim": (True, 1.0),
    "mae": (False, 0.0),
    "mse": (False, 0.0),
    "sharp_gradient": (None, 1.0),
    "sharp_laplacian": (None, 1.0),
    "sharp_hf": (None, 1.0),
    "artifact": (False, 0.0),
}


@dataclass(frozen=True)
class Orientation:
    """How to rank a metric: ``higher_is_better`` True/False, or None = closest to ``ideal``."""

    higher_is_better: bool | None
    ideal: float
    description: str = ""
    unit: str = ""

    @property
    def arrow(self) -> str:
        """A short marker for column headers: ↑, ↓ or →ideal."""
        if self.higher_is_better is True:
            return "↑"
        if self.higher_is_better is False:
            return "↓"
        return f"→{self.ideal:g}"

    @property
    def phrase(self) -> str:
        """Words for the orientation, used in titles and alt text."""
        if self.higher_is_better is True:
            return "higher is better"
        if self.higher_is_better is False:
            return "lower is better"
        return f"closest to {self.ideal:g} is best"

    def score(self, value: float) -> float:
        """A number where larger is always better."""
        if self.higher_is_better is True:
            return value
        if self.higher_is_better is False:
            return -value
        return -abs(value - self.ideal)


def _metric_info(name: str) -> Any:
    try:
        from reconloss.metrics import metric_info
    except ImportError:
        return None
    try:
        return metric_info(name)
    except (KeyError, ValueError, LookupError, TypeError, AttributeError):
        return None


def orientation(metric: str) -> Orientation | None:
    """Orientation of ``metric`` from :func:`reconloss.metrics.metric_info`, or None if unknown.

    ``metric_info`` strips prefixes such as ``hole_``; a ``_mean`` suffix (outlier study
    aggregates such as ``halo_mean``) is stripped here if the full name is unknown.
    """
    for name in (metric, metric[: -len("_mean")] if metric.endswith("_mean") else None):
        if not name:
            continue
        info = _metric_info(name)
        if info is not None:
            hib = getattr(info, "higher_is_better", None)
            ideal = getattr(info, "ideal", None)
            try:
                ideal_f = float(ideal) if ideal is not None else (math.inf if hib else 0.0)
            except (TypeError, ValueError):
                ideal_f = 0.0
            if hib is None and not math.isfinite(ideal_f):
                return None
            return Orientation(
                hib if hib is None else bool(hib),
                ideal_f,
                str(getattr(info, "description", "") or ""),
                str(getattr(info, "unit", "") or ""),
            )
    try:
        import reconloss.metrics as _m

        has_registry = hasattr(_m, "metric_info")
    except ImportError:
        has_registry = False
    if not has_registry:
        base = metric[len("hole_") :] if metric.startswith("hole_") else metric
        if base in _FALLBACK:
            hib, ideal = _FALLBACK[base]
            return Orientation(hib, ideal)
    return None


def fmt(value: float | None, digits: int = 4) -> str:
    """Format a number with ``digits`` significant digits; ``None`` as an em dash."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    mag = abs(value)
    if 1e-4 <= mag < 1e5:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(mag))))
        return f"{value:.{decimals}f}"
    return f"{value:.{digits - 1}e}"


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    n = len(values)
    m = math.fsum(values) / n
    if n < 2:
        return m, None
    var = math.fsum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var)


# Two-sided 95 % Student-t critical values, df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_critical(df: int) -> float:
    """Two-sided 95 % critical value of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def metric_names(runs: Iterable[dict[str, Any]]) -> list[str]:
    """Metric keys present in ``runs`` (preferred order first, then alphabetical)."""
    present: set[str] = set()
    for r in runs:
        for k, v in r.items():
            if k not in NON_METRIC_KEYS and (v is None or isinstance(v, float)):
                present.add(k)
    first = [m for m in PREFERRED_ORDER if m in present]
    return first + sorted(present - set(first))


@dataclass
class Cell:
    """One table cell: mean ± std over seeds of one metric for one loss."""

    mean: float | None
    std: float | None
    n: int
    best: bool = False

    @property
    def mean_text(self) -> str:
        """The mean (or an em dash)."""
        return "—" if self.mean is None else fmt(self.mean)

    @property
    def std_text(self) -> str:
        """``"± std"``, or empty with one seed / no value."""
        return "" if self.mean is None or self.std is None else f"± {fmt(self.std, 2)}"

    @property
    def text(self) -> str:
        """``"mean ± std"`` (or just the mean with one seed, or an em dash)."""
        if self.mean is None:
            return "—"
        if self.std is None:
            return fmt(self.mean)
        return f"{fmt(self.mean)} ± {fmt(self.std, 2)}"


@dataclass
class Column:
    """A metric column: name, orientation (None = unknown, no best mark)."""

    metric: str
    orientation: Orientation | None

    @property
    def header(self) -> str:
        """Column header text with the orientation arrow."""
        return f"{self.metric} {self.orientation.arrow}" if self.orientation else self.metric

    @property
    def title(self) -> str:
        """Tooltip / description of the column."""
        if self.orientation is None:
            return f"{self.metric}: orientation unknown, no best value marked"
        desc = f"{self.orientation.description}; " if self.orientation.description else ""
        return f"{self.metric}: {desc}{self.orientation.phrase}"


@dataclass
class Row:
    """One loss: spec, human label, seeds and one :class:`Cell` per column."""

    loss: str
    label: str
    n_seeds: int
    cells: list[Cell]
    wall_s: float | None = None


@dataclass
class MetricTable:
    """Metric table of one study/condition."""

    study: str
    condition: str
    columns: list[Column]
    rows: list[Row]


def metric_table(data: RunData, study: str, condition: str) -> MetricTable:
    """Per-loss mean ± std over seeds of every metric, best value per column marked."""
    runs = data.runs_of(study, condition)
    metrics = metric_names(runs)
    columns = [Column(m, orientation(m)) for m in metrics]
    rows: list[Row] = []
    for loss in data.losses(study, condition):
        lr = [r for r in runs if r["loss"] == loss]
        cells = []
        for m in metrics:
            vals = [r[m] for r in lr if isinstance(r.get(m), float)]
            mean, std = _mean_std(vals)
            cells.append(Cell(mean, std, len(vals)))
        wall = [r["wall_s"] for r in lr if isinstance(r.get("wall_s"), float)]
        rows.append(Row(loss, data.label(study, loss), len({r["seed"] for r in lr}), cells, _mean_std(wall)[0]))
    for j, col in enumerate(columns):
        if col.orientation is None or len(rows) < 2:
            continue
        scored = [(col.orientation.score(row.cells[j].mean), i) for i, row in enumerate(rows) if row.cells[j].mean is not None]
        if len(scored) < 2:
            continue
        top = max(s for s, _ in scored)
        tol = 1e-12 * max(1.0, abs(top))
        for s, i in scored:
            if s >= top - tol:
                rows[i].cells[j].best = True
    return MetricTable(study, condition, columns, rows)


def metric_tables(data: RunData) -> list[MetricTable]:
    """:func:`metric_table` for every study/condition, in page order."""
    return [metric_table(data, s, c) for s in data.study_names() for c in data.conditions(s)]


@dataclass(frozen=True)
class Goal:
    """A user goal and the metric that decides it."""

    key: str
    title: str
    study: str
    metric: str
    direction: Literal["higher", "lower", "ideal"]
    ideal: float = 0.0

    @property
    def orientation(self) -> Orientation:
        """The ranking rule of this goal."""
        if self.direction == "higher":
            return Orientation(True, math.inf)
        if self.direction == "lower":
            return Orientation(False, 0.0)
        return Orientation(None, self.ideal)

    @property
    def rule(self) -> str:
        """Words for the ranking rule, e.g. ``"highest psnr"``."""
        if self.direction == "higher":
            return f"highest {self.metric}"
        if self.direction == "lower":
            return f"lowest {self.metric}"
        return f"{self.metric} closest to {self.ideal:g}"


GOALS: tuple[Goal, ...] = (
    Goal("fidelity", "Fidelity", "reconstruct", "psnr", "higher"),
    Goal("structure", "Structure", "reconstruct", "ssim", "higher"),
    Goal("sharpness", "Sharpness like the target", "reconstruct", "sharp_gradient", "ideal", 1.0),
    Goal("outlier_halo", "Robust to outlier pixels: least halo", "outliers", "halo_mean", "lower"),
    Goal("outlier_retention", "Robust to outlier pixels: least copied", "outliers", "retention_mean", "lower"),
    Goal("outlier_clean", "Robust to outlier pixels: clean pixels", "outliers", "clean_error_mean", "lower"),
    Goal("holes", "Inpainted holes", "inpaint", "hole_psnr", "higher"),
)


@dataclass
class Recommendation:
    """The winner of one goal in one condition, and how sure we are."""

    goal: Goal
    condition: str
    winner: str
    winner_label: str
    winner_mean: float
    runner_up: str | None
    runner_up_label: str | None
    runner_up_mean: float | None
    lead: float | None  # winner's score minus runner-up's score, in metric units (>= 0)
    ci_low: float | None
    ci_high: float | None
    n_paired: int
    clear: bool | None  # None = cannot be tested (fewer than 2 paired seeds or one loss)

    @property
    def verdict(self) -> str:
        """Short words: ``"clear lead"``, ``"within seed noise"`` or ``"untested"``."""
        if self.clear is None:
            return "untested"
        return "clear lead" if self.clear else "within seed noise"

    @property
    def lead_text(self) -> str:
        """The lead and its 95 % interval as text."""
        if self.lead is None:
            return "—"
        if self.ci_low is None or self.ci_high is None:
            return f"{fmt(self.lead, 3)} ({self.n_paired} seed)"
        return f"{fmt(self.lead, 3)} [95% CI {fmt(self.ci_low, 2)}, {fmt(self.ci_high, 2)}; {self.n_paired} seeds]"


def _recommend(data: RunData, goal: Goal, condition: str) -> Recommendation | None:
    runs = [r for r in data.runs_of(goal.study, condition) if isinstance(r.get(goal.metric), float)]
    if not runs:
        return None
    ori = goal.orientation
    per_loss: dict[str, dict[int, float]] = {}
    for loss in data.losses(goal.study, condition):
        vals = {r["seed"]: r[goal.metric] for r in runs if r["loss"] == loss}
        if vals:
            per_loss[loss] = vals
    if not per_loss:
        return None
    means = {k: math.fsum(v.values()) / len(v) for k, v in per_loss.items()}
    # sorted() is stable: equal scores keep the declared loss order, so the result is deterministic.
    ranked = sorted(means, key=lambda k: -ori.score(means[k]))
    win = ranked[0]
    rec = Recommendation(
        goal, condition, win, data.label(goal.study, win), means[win], None, None, None, None, None, None, 0, None
    )
    if len(ranked) < 2:
        return rec
    run_up = ranked[1]
    rec.runner_up, rec.runner_up_label, rec.runner_up_mean = run_up, data.label(goal.study, run_up), means[run_up]
    rec.lead = ori.score(means[win]) - ori.score(means[run_up])
    seeds = sorted(set(per_loss[win]) & set(per_loss[run_up]))
    rec.n_paired = len(seeds)
    if len(seeds) >= 2:
        diffs = [ori.score(per_loss[win][s]) - ori.score(per_loss[run_up][s]) for s in seeds]
        m = math.fsum(diffs) / len(diffs)
        sd = math.sqrt(math.fsum((d - m) ** 2 for d in diffs) / (len(diffs) - 1))
        half = t_critical(len(seeds) - 1) * sd / math.sqrt(len(seeds))
        rec.ci_low, rec.ci_high = m - half, m + half
        rec.clear = rec.ci_low > 0
    return rec


def recommendations(data: RunData, goals: Sequence[Goal] = GOALS) -> list[Recommendation]:
    """One :class:`Recommendation` per goal and condition of the goal's study (goals whose
    study or metric is absent from the run are skipped)."""
    out: list[Recommendation] = []
    for goal in goals:
        for cond in data.conditions(goal.study):
            rec = _recommend(data, goal, cond)
            if rec is not None:
                out.append(rec)
    return out


_VERDICTS = {
    "held": ("held", "Held", "✓"),
    "contradicted": ("contradicted", "Contradicted", "✗"),
    "inconclusive": ("inconclusive", "Inconclusive", "?"),
}


@dataclass
class ClaimCard:
    """What a claim card shows."""

    id: str
    number: str
    text: str
    study: str
    condition: str
    metric: str
    comparison: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    seed_sd: float | None
    n_seeds: int | None
    verdict: str  # css class: held | contradicted | inconclusive | unknown
    verdict_label: str
    verdict_icon: str
    sentence: str
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def effect_text(self) -> str:
        """Effect with its 95 % interval."""
        ci = f" [95% CI {fmt(self.ci_low, 3)}, {fmt(self.ci_high, 3)}]" if self.ci_low is not None else ""
        return f"{fmt(self.effect, 3)}{ci}"


def _verdict(v: str) -> tuple[str, str, str]:
    key = (v or "").strip().lower()
    if key in _VERDICTS:
        return _VERDICTS[key]
    return ("unknown", f"Unknown verdict: {v}" if v else "No verdict", "–")


def claim_cards(data: RunData) -> list[ClaimCard]:
    """Claim cards in the order of ``results.json``."""
    cards = []
    for c in data.claims:
        cls, label, icon = _verdict(c.get("verdict", ""))
        details = []
        for d in c.get("details", []):
            dcls, dlabel, dicon = _verdict(d.get("verdict", ""))
            details.append({**d, "verdict_class": dcls, "verdict_label": dlabel, "verdict_icon": dicon})
        cards.append(
            ClaimCard(
                id=str(c.get("id", "")),
                number="" if c.get("claim") is None else str(c["claim"]),
                text=c.get("text", ""),
                study=c.get("study", ""),
                condition=c.get("condition", ""),
                metric=c.get("metric", ""),
                comparison=c.get("comparison", ""),
                effect=c.get("effect"),
                ci_low=c.get("ci_low"),
                ci_high=c.get("ci_high"),
                seed_sd=c.get("seed_sd"),
                n_seeds=c.get("n_seeds"),
                verdict=cls,
                verdict_label=label,
                verdict_icon=icon,
                sentence=c.get("sentence", ""),
                details=details,
            )
        )
    return cards


# ---------------------------------------------------------------- Markdown


def md_escape(text: Any) -> str:
    """Escape a user string for Markdown (inline HTML is neutralised, table pipes escaped)."""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#":
        s = s.replace(ch, "\\" + ch)
    return s.replace("\r", " ").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def summary_markdown(data: RunData) -> str:
    """The claim verdicts, "what to use" and metric tables as Markdown text."""
    md = data.metadata
    out: list[str] = ["# reconloss report", ""]
    data_meta = md.get("data") if isinstance(md.get("data"), dict) else {}
    facts = [
        ("preset", md.get("preset")),
        ("status", md.get("status")),
        ("seeds", ", ".join(str(s) for s in md.get("seeds", [])) if isinstance(md.get("seeds"), list) else md.get("seeds")),
        ("data", data_meta.get("source") if data_meta else None),
        ("reconloss", md.get("reconloss_version")),
        ("commit", md.get("git_commit")),
    ]
    for k, v in facts:
        if v not in (None, ""):
            out.append(f"- **{k}**: {md_escape(v)}")
    out.append("")
    cards = claim_cards(data)
    if cards:
        out += ["## Claims", ""]
        rows = [
            [
                md_escape(c.number or c.id),
                f"{c.verdict_icon} {md_escape(c.verdict_label)}",
                md_escape(c.text),
                md_escape(c.comparison),
                md_escape(c.metric),
                md_escape(c.effect_text),
                md_escape(fmt(c.seed_sd, 3)),
                md_escape("—" if c.n_seeds is None else c.n_seeds),
            ]
            for c in cards
        ]
        out += _md_table(["#", "verdict", "claim", "comparison", "metric", "effect [95% CI]", "seed sd", "seeds"], rows)
        out.append("")
        for c in cards:
            if c.sentence:
                out.append(f"- **{md_escape(c.number or c.id)}** ({md_escape(c.verdict_label)}): {md_escape(c.sentence)}")
        out.append("")
    recs = recommendations(data)
    if recs:
        out += ["## What to use", "", md_escape(LEAD_RULE), ""]
        rows = [
            [
                md_escape(r.goal.title),
                md_escape(r.condition),
                md_escape(r.goal.rule),
                f"**{md_escape(r.winner_label)}** ({md_escape(fmt(r.winner_mean))})",
                md_escape(r.runner_up_label or "—") + (f" ({md_escape(fmt(r.runner_up_mean))})" if r.runner_up else ""),
                md_escape(r.lead_text),
                r.verdict,
            ]
            for r in recs
        ]
        out += _md_table(["goal", "condition", "rule", "use", "runner-up", "lead", "lead vs noise"], rows)
        out.append("")
    tables = metric_tables(data)
    if tables:
        out += ["## Metrics (mean ± std over seeds; **bold** = best in column)", ""]
    for t in tables:
        out += [f"### {md_escape(t.study)} / {md_escape(t.condition)}", ""]
        header = ["loss", "seeds"] + [md_escape(c.header) for c in t.columns]
        rows = []
        for row in t.rows:
            cells = [f"**{c.text}**" if c.best else c.text for c in row.cells]
            label = md_escape(row.label) + ("" if row.label == row.loss else f" (`{md_escape(row.loss)}`)")
            rows.append([label, str(row.n_seeds)] + cells)
        out += _md_table(header, rows)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_summary_md(data: RunData, path: str | os.PathLike[str]) -> None:
    """Write :func:`summary_markdown` to ``path`` atomically."""
    atomic_write_text(path, summary_markdown(data))


# ---------------------------------------------------------------- CSV


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def csv_text(data: RunData) -> str:
    """The runs as CSV: one row per run, scalar keys only (curves and lists left out)."""
    columns: list[str] = []
    for r in data.runs:
        for k, v in r.items():
            if not isinstance(v, (dict, list)) and k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in data.runs:
        w.writerow([_csv_value(r.get(k)) for k in columns])
    return buf.getvalue()


def write_csv(data: RunData, path: str | os.PathLike[str]) -> None:
    """Write :func:`csv_text` to ``path`` atomically."""
    atomic_write_text(path, csv_text(data))
