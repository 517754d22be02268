"""The HTML page: one self-contained file rendered with jinja2.

* ``autoescape=True``: every string from the run (file names, folder paths, loss specs and
  labels typed on the command line) is escaped by the template engine; nothing is marked
  safe, and the page contains no ``<script>`` and no external URL (CSS inline, fonts from
  the system, images as ``data:image/png;base64``).
* Deterministic: the same run folder gives the same bytes (no timestamps; the figures are
  deterministic PNGs; iteration orders come from ``results.json``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from reconloss.report import figures as F
from reconloss.report import tables as T
from reconloss.report._schema import RunData, SampleSet

__all__ = ["FigureItem", "ConditionSection", "StudySection", "Page", "build_page", "render_html", "slug"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

STUDY_BLURBS: dict[str, str] = {
    "reconstruct": "An autoencoder reconstructs held-out patches of real photographs; one model per loss and seed.",
    "outliers": (
        "The training targets contain isolated outlier pixels. A loss that is robust to them neither copies the "
        "outliers (retention) nor smears them into a blurry blob (halo), and keeps the clean pixels accurate."
    ),
    "inpaint": "A small network fills masked holes; hole_* metrics are computed inside the holes only.",
}


def slug(text: str, taken: set[str] | None = None) -> str:
    """A safe file/anchor name: ASCII letters, digits, ``-`` and ``_`` only, unique in ``taken``."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower()[:60] or "x"
    if taken is not None:
        base, k = s, 2
        while s in taken:
            s = f"{base}-{k}"
            k += 1
        taken.add(s)
    return s


@dataclass
class FigureItem:
    """One embedded figure: file name under ``figures/``, PNG bytes, alt text and caption."""

    filename: str
    png: bytes
    alt: str
    caption: str
    wide: bool = False

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,...``."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def width(self) -> int:
        """Pixel width from the PNG header."""
        return int.from_bytes(self.png[16:20], "big")

    @property
    def height(self) -> int:
        """Pixel height from the PNG header."""
        return int.from_bytes(self.png[20:24], "big")


@dataclass
class ConditionSection:
    """One study/condition: its metric table and figures."""

    condition: str
    anchor: str
    table: T.MetricTable
    figures: list[FigureItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class StudySection:
    """One study and its conditions."""

    name: str
    anchor: str
    blurb: str
    conditions: list[ConditionSection]


@dataclass
class Page:
    """Everything the template renders."""

    title: str
    facts: list[tuple[str, str]]
    claims: list[T.ClaimCard]
    recommendations: list[T.Recommendation]
    lead_rule: str
    studies: list[StudySection]
    notes: list[str]
    settings: list[tuple[str, str]]
    config: list[tuple[str, str]]
    data_facts: list[tuple[str, str]]
    images: list[str]
    skipped: list[tuple[str, str]]
    environment: list[tuple[str, str]]
    timings: list[tuple[str, str]]
    has_samples: bool = False


def _s(v: Any) -> str:
    """A metadata value as display text (nested values as compact, key-sorted JSON)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return T.fmt(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
    return str(v)


def _pairs(m: Any) -> list[tuple[str, str]]:
    return [(str(k), _s(v)) for k, v in m.items()] if isinstance(m, Mapping) else []


def _condition_figures(
    data: RunData, study: str, condition: str, samples: SampleSet | None, taken: set[str]
) -> tuple[list[FigureItem], list[str]]:
    losses = data.losses(study, condition)
    labels = {x: data.label(study, x) for x in losses}
    runs = data.runs_of(study, condition)
    base = slug(f"{study}-{condition}")
    figs: list[FigureItem] = []
    notes: list[str] = []
    names = ", ".join(labels[x] for x in losses)
    if samples is not None:
        extra = [labels.get(x, x) for x in samples.outputs if x not in losses]
        png, reason = F.image_grid(samples, losses, labels)
        parts = ["target", "input" if not _same(samples) else None] + [labels[x] for x in losses if x in samples.outputs]
        cols = ", ".join(p for p in parts + extra if p)
        marks = []
        if samples.mask is not None:
            marks.append("the hole outlined in light blue")
        if samples.outlier_coords is not None:
            marks.append("outlier pixels circled in vermillion")
        mark_text = ("; " + "; ".join(marks)) if marks else ""
        figs.append(
            FigureItem(
                slug(base + "-images", taken) + ".png",
                png,
                f"Example test images for {study} / {condition}. Columns: {cols}. Rows per sample: full image "
                f"with its PSNR, a zoomed crop ({reason}), and the absolute error against the target{mark_text}.",
                f"Example outputs. Yellow box = zoomed crop ({reason}){mark_text}. Error maps share one colour "
                "scale (cividis, clipped at the 99.5th percentile); numbers under the images are PSNR in dB "
                "against the target.",
                wide=True,
            )
        )
        spec = F.spectra_figure(samples, losses, labels)
        if spec is not None:
            figs.append(
                FigureItem(
                    slug(base + "-spectra", taken) + ".png",
                    spec,
                    f"Radially averaged power spectra for {study} / {condition}, log-log, target dashed, losses: "
                    f"{names}; right panel: each spectrum divided by the target's.",
                    "Power spectra. A curve below the target's at high frequency means lost fine detail (blur); "
                    "above it, added noise or artefacts.",
                )
            )
    hole = any(isinstance(r.get("hole_psnr"), float) for r in runs)
    fid, sharp = ("hole_psnr", "hole_sharp_gradient") if hole else ("psnr", "sharp_gradient")
    if not any(isinstance(r.get(sharp), float) for r in runs):
        sharp = "sharp_gradient"
    ori = T.orientation(sharp)
    ideal = ori.ideal if ori is not None and ori.higher_is_better is None else 1.0
    sc = F.sharpness_fidelity_figure(runs, losses, labels, fidelity=fid, sharpness=sharp, ideal=ideal)
    if sc is not None:
        figs.append(
            FigureItem(
                slug(base + "-sharpness", taken) + ".png",
                sc,
                f"Scatter of {sharp} (sharpness ratio, ideal {ideal:g}) against {fid} for {study} / {condition}; "
                f"one point per loss with mean and standard deviation over seeds; losses: {names}.",
                f"Sharpness against fidelity: the best loss sits at the right, on the dashed line ({sharp} = "
                f"{ideal:g}). Bars: ± one standard deviation over seeds.",
            )
        )
    cv = F.curves_figure(runs, losses, labels)
    if cv is not None:
        png, metric = cv
        figs.append(
            FigureItem(
                slug(base + "-curves", taken) + ".png",
                png,
                f"Training loss and evaluation {metric} against training step for {study} / {condition}, "
                f"mean over seeds with min-max band, switch steps of scheduled losses as dotted vertical lines; "
                f"losses: {names}.",
                "Training curves: line = mean over seeds, band = min–max. Each loss is on its own scale, so "
                "compare shapes, not levels. Dotted vertical lines: switch step of a scheduled recipe.",
            )
        )
    return figs, notes


def _same(samples: SampleSet) -> bool:
    import numpy as np

    return bool(np.allclose(samples.input, samples.target))


def build_page(data: RunData, samples: Mapping[str, SampleSet], notes: Sequence[str] = ()) -> Page:
    """Compute every table and figure of the page (no file is written here)."""
    md = data.metadata
    taken: set[str] = set()
    anchors: set[str] = set()
    studies: list[StudySection] = []
    for study in data.study_names():
        conds = []
        for cond in data.conditions(study):
            table = T.metric_table(data, study, cond)
            s = samples.get(f"{study}/{cond}")
            figs, cnotes = _condition_figures(data, study, cond, s, taken)
            if s is None and samples:
                cnotes.append("No example images were saved for this condition.")
            conds.append(ConditionSection(cond, slug(f"{study}-{cond}", anchors), table, figs, cnotes))
        studies.append(StudySection(study, slug(f"study-{study}", anchors), STUDY_BLURBS.get(study, ""), conds))

    data_meta = md.get("data") if isinstance(md.get("data"), Mapping) else {}
    images = [str(x) for x in data_meta.get("images", [])] if isinstance(data_meta.get("images"), list) else []
    data_facts = [(k, _s(v)) for k, v in data_meta.items() if k != "images"]
    skipped = []
    for item in md.get("skipped_files", []) or []:
        if isinstance(item, Mapping):
            skipped.append((_s(item.get("path")), _s(item.get("reason"))))
        else:
            skipped.append((_s(item), ""))
    timings_raw = md.get("timings") if isinstance(md.get("timings"), Mapping) else {}
    timings = []
    for k, v in timings_raw.items():
        if isinstance(v, Mapping):
            timings += [(f"{k}: {kk}", _s(vv) + (" s" if isinstance(vv, (int, float)) else "")) for kk, vv in v.items()]
        else:
            timings.append((str(k), _s(v) + (" s" if isinstance(v, (int, float)) and not isinstance(v, bool) else "")))
    env = [("reconloss", _s(md.get("reconloss_version"))), ("git commit", _s(md.get("git_commit")))]
    env += [(k, v) for k, v in _pairs(md.get("versions"))]
    env += [(k, _s(md[k])) for k in ("device", "threads", "workers") if k in md]
    known = {
        "reconloss_version", "versions", "git_commit", "device", "threads", "workers", "config", "data",
        "skipped_files", "timings",
    }  # fmt: skip
    settings = [(str(k), _s(v)) for k, v in md.items() if k not in known]
    seeds = md.get("seeds")
    facts = [
        ("status", _s(md.get("status"))),
        ("preset", _s(md.get("preset"))),
        ("seeds", ", ".join(str(x) for x in seeds) if isinstance(seeds, list) else _s(seeds)),
        ("data", _s(data_meta.get("source")) if data_meta else "—"),
        ("finished", _s(md.get("finished"))),
    ]
    facts = [(k, v) for k, v in facts if v not in ("—", "")]
    return Page(
        title="reconloss report",
        facts=facts,
        claims=T.claim_cards(data),
        recommendations=T.recommendations(data),
        lead_rule=T.LEAD_RULE,
        studies=studies,
        notes=list(notes),
        settings=settings,
        config=_pairs(md.get("config")),
        data_facts=data_facts,
        images=images,
        skipped=skipped,
        environment=env,
        timings=timings,
        has_samples=bool(samples),
    )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(page: Page) -> str:
    """Render ``page`` with ``templates/report.html`` (autoescaped)."""
    return _environment().get_template("report.html").render(page=page, fmt=T.fmt)
