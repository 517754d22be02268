"""Tests of reconloss.report: a self-contained, escaped, deterministic page from a run folder."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reconloss.report import ReportError, build_report, load_results
from reconloss.report import tables as T
from reconloss.report._schema import load_samples

from .conftest import EVIL_FOLDER, EVIL_IMAGE, EVIL_LABEL, EVIL_LOSS, LABELS, LOSSES, SEEDS

OUTPUTS = {"report.html", "summary.md", "results.csv"}


class Page(HTMLParser):
    """Collects every start tag (with attributes), the text, and the metric tables' cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.tables: list[list[list[tuple[str, str, str]]]] = []  # table -> row -> (tag, class, text)
        self._cell: list[str] | None = None
        self._cell_meta: tuple[str, str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self._cell, self._cell_meta = [], (tag, a.get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._cell_meta is not None:
            self.tables[-1][-1].append((self._cell_meta[0], self._cell_meta[1], "".join(self._cell).strip()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


@pytest.fixture(scope="module")
def page_text(built_report: Path) -> str:
    return (built_report / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parsed(page_text: str) -> Page:
    return parse(page_text)


# ------------------------------------------------------------------ self-contained, valid page


def test_page_parses_and_references_nothing_external(page_text: str, parsed: Page) -> None:
    assert page_text.startswith("<!DOCTYPE html>")
    names = [t for t, _ in parsed.tags]
    for needed in ("html", "head", "body", "main", "table", "img", "style"):
        assert needed in names
    assert "script" not in names
    assert "<script" not in page_text.lower().replace("&lt;script", "")
    for tag, attrs in parsed.tags:
        for key in ("src", "href", "srcset", "action", "poster", "data"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(("http://", "https://", "//", "javascript:")), (tag, key, value[:80])
        if tag == "link":
            assert "stylesheet" not in (attrs.get("rel") or ""), attrs
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,")
            assert (attrs.get("alt") or "").strip(), "every image needs alt text"
        if tag in ("iframe", "object", "embed", "base", "form"):
            pytest.fail(f"unexpected <{tag}> in the report")
    assert "http://" not in page_text and "https://" not in page_text
    assert "@import" not in page_text and "url(" not in page_text


def test_every_embedded_image_decodes_and_is_not_blank(parsed: Page) -> None:
    imgs = [a["src"] for t, a in parsed.tags if t == "img" and a.get("src")]
    assert len(imgs) >= 12  # 3 studies x (images, spectra, scatter, curves)
    for src in imgs:
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        im = Image.open(io.BytesIO(raw))
        im.load()
        assert im.format == "PNG"
        arr = np.asarray(im.convert("RGB"), dtype=np.float64)
        assert arr.shape[0] > 100 and arr.shape[1] > 200
        assert arr.std() > 10, "image looks blank"
        packed = arr.astype(np.int64) @ np.array([65536, 256, 1])
        assert len(np.unique(packed)) > 32


def test_files_written_inside_the_run_folder_only(built_report: Path) -> None:
    produced = {p.relative_to(built_report).as_posix() for p in built_report.rglob("*") if p.is_file()}
    assert OUTPUTS <= produced
    figs = {p for p in produced if p.startswith("figures/")}
    assert len(figs) == 12 and all(p.endswith(".png") for p in figs)
    assert produced == OUTPUTS | figs | {"results.json", "samples.pt"}
    assert sorted(os.listdir(built_report.parent)) == ["run"]
    assert not [p for p in built_report.rglob("*.tmp")]


# ------------------------------------------------------------------ content


def test_every_loss_and_claim_appears(page_text: str, parsed: Page, built_report: Path) -> None:
    text = " ".join(" ".join(parsed.text).split())
    for loss in LOSSES:
        assert loss in text, loss
        assert LABELS[loss] in text, LABELS[loss]
    data = json.loads((built_report / "results.json").read_text())
    for claim in data["claims"]:
        for key in ("id", "text", "sentence"):
            assert str(claim[key]) in text, claim[key]
    for word in ("Held", "Contradicted", "Inconclusive"):
        assert word in text  # verdict as words, not colour alone
    for cls in ("card held", "card contradicted", "card inconclusive"):
        assert f'class="{cls}"' in page_text
    for heading in ("Claims", "What to use", "Study: reconstruct", "Study: outliers", "Study: inpaint", "Skipped files"):
        assert heading in text
    # claims first, then what to use, then studies, then settings
    order = [page_text.index(f'id="{a}"') for a in ("claims", "what-to-use", "study-reconstruct", "settings")]
    assert order == sorted(order)


def test_user_strings_are_escaped_never_live(page_text: str, parsed: Page, built_report: Path) -> None:
    for tag, attrs in parsed.tags:
        assert not any(k.lower().startswith("on") for k in attrs), (tag, attrs)
        if tag == "img":
            assert attrs.get("src") != "x"
    for raw in (EVIL_IMAGE, EVIL_FOLDER, EVIL_LABEL, EVIL_LOSS, "<i>"):
        assert raw not in page_text, f"unescaped user string {raw!r}"
    text = " ".join(parsed.text)
    for raw in (EVIL_IMAGE, EVIL_FOLDER, EVIL_LABEL):
        assert raw in text  # shown to the reader, as text
        assert html.escape(raw, quote=False) in page_text or html.escape(raw) in page_text
    assert not [t for t, _ in parsed.tags if t == "i"]
    # the only <b> tags are the template's own; none wraps the user's "bold"
    assert "<b>bold</b>" not in page_text
    md = (built_report / "summary.md").read_text()
    for raw in (EVIL_LABEL, EVIL_LOSS, "<script>"):
        assert raw not in md


def test_best_marking_follows_orientation(built_report: Path, parsed: Page) -> None:
    data = load_results(built_report)
    table = T.metric_table(data, "reconstruct", "clean")
    cols = [c.metric for c in table.columns]

    def best(metric: str) -> list[str]:
        j = cols.index(metric)
        return [r.loss for r in table.rows if r.cells[j].best]

    assert best("psnr") == [EVIL_LOSS]  # higher is better
    assert best("mae") == ["l1"]  # lower is better
    assert best("mse") == ["l1"]
    assert best("sharp_gradient") == ["l1>l2@0.5"]  # closest to 1
    # the same marks in the rendered HTML (first metric table of the reconstruct study)
    metric_tables = [t for t in parsed.tables if t and t[0] and t[0][0][2] == "loss"]
    html_table = metric_tables[0]
    header = [c[2].split(" ")[0] for c in html_table[0]]
    rows = {r[0][2]: r for r in html_table[1:]}
    psnr_j, mae_j = header.index("psnr"), header.index("mae")
    marked_psnr = [k for k, r in rows.items() if "best" in r[psnr_j][1]]
    marked_mae = [k for k, r in rows.items() if "best" in r[mae_j][1]]
    assert len(marked_psnr) == 1 and marked_psnr[0].startswith(EVIL_LABEL)
    assert len(marked_mae) == 1 and marked_mae[0].startswith("L1") and "then" not in marked_mae[0]


def test_unknown_metric_is_shown_unmarked(run_dir: Path) -> None:
    raw = json.loads((run_dir / "results.json").read_text())
    for i, r in enumerate(raw["runs"]):
        r["zz_mystery"] = float(i)
    (run_dir / "results.json").write_text(json.dumps(raw))
    data = load_results(run_dir)
    assert T.orientation("zz_mystery") is None
    table = T.metric_table(data, "reconstruct", "clean")
    j = [c.metric for c in table.columns].index("zz_mystery")
    assert not any(r.cells[j].best for r in table.rows)
    assert all(r.cells[j].mean is not None for r in table.rows)


def test_what_to_use_and_lead_rule(built_report: Path) -> None:
    data = load_results(built_report)
    recs = {(r.goal.key, r.condition): r for r in T.recommendations(data)}
    fid = recs[("fidelity", "clean")]
    assert fid.winner == EVIL_LOSS and fid.runner_up == "l1>l2@0.5"
    assert fid.lead == pytest.approx(0.5)
    assert fid.n_paired == len(SEEDS) and fid.clear is not None
    assert recs[("sharpness", "clean")].winner == "l1>l2@0.5"
    assert recs[("outlier_halo", "rate_0.01")].winner == "l1"
    assert recs[("holes", "mixed")].winner == "l1>l2@0.5"
    assert T.t_critical(1) == pytest.approx(12.706) and T.t_critical(200) == pytest.approx(1.972, abs=2e-3)
    # one seed: the lead cannot be tested against seed noise
    data.runs = [r for r in data.runs if r["seed"] == SEEDS[0]]
    one = [r for r in T.recommendations(data) if r.goal.key == "fidelity"][0]
    assert one.clear is None and one.verdict == "untested"


def test_csv_and_markdown(built_report: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((built_report / "results.csv").read_text())))
    assert len(rows) == 3 * len(LOSSES) * len(SEEDS)
    assert "curve" not in rows[0] and "switch_steps" not in rows[0]
    assert {"study", "condition", "loss", "seed", "psnr", "mae"} <= set(rows[0])
    assert {r["loss"] for r in rows} == set(LOSSES)
    assert math.isclose(float(rows[0]["psnr"]), 28.0 - 0.025)
    assert any(r["ms_ssim"] == "" for r in rows)  # null stays empty
    md = (built_report / "summary.md").read_text()
    for needed in ("# reconloss report", "## Claims", "## What to use", "### reconstruct / clean", "Held", "Contradicted"):
        assert needed in md
    assert "&lt;b&gt;" in md


# ------------------------------------------------------------------ determinism, out_dir


def test_deterministic_and_out_dir_writes_only_there(
    built_report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p: p.stat().st_mtime_ns for p in built_report.rglob("*")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "out"
    result = build_report(built_report, out_dir=out)
    assert result == out / "report.html"
    assert {p: p.stat().st_mtime_ns for p in built_report.rglob("*")} == before  # run folder untouched
    assert sorted(os.listdir(tmp_path)) == ["cwd", "out"] and not os.listdir(cwd)
    new = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert new == sorted(
        p.relative_to(built_report).as_posix()
        for p in built_report.rglob("*")
        if p.is_file() and p.name not in ("results.json", "samples.pt")
    )
    for rel in new:
        assert (out / rel).read_bytes() == (built_report / rel).read_bytes(), f"{rel} differs between builds"


def test_missing_samples_omits_images_with_a_note(run_dir: Path) -> None:
    (run_dir / "samples.pt").unlink()
    page = build_report(run_dir).read_text()
    assert "samples.pt is missing" in page
    p = parse(page)
    alts = [a.get("alt") or "" for t, a in p.tags if t == "img"]
    assert alts and not any(a.startswith("Example test images") for a in alts)
    assert not any(a.startswith("Radially averaged") for a in alts)


def test_corrupt_samples_is_a_note_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "samples.pt").write_bytes(b"not a torch file")
    samples, notes = load_samples(tmp_path)
    assert samples == {} and "could not be read" in notes[0]


# ------------------------------------------------------------------ errors


def _edit(run_dir: Path, fn: Any) -> None:
    raw = json.loads((run_dir / "results.json").read_text())
    new = fn(raw)
    (run_dir / "results.json").write_text(new if isinstance(new, str) else json.dumps(new if new is not None else raw))


def _set(path: list[Any], value: Any) -> Any:
    def fn(raw: dict[str, Any]) -> dict[str, Any]:
        obj = raw
        for k in path[:-1]:
            obj = obj[k]
        if value is _DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
        return raw

    return fn


_DELETE = object()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda raw: "{not json", "is not valid JSON"),
        (lambda raw: "", "is not valid JSON"),
        (lambda raw: "[1, 2]", "must hold a JSON object"),
        (_set(["runs"], _DELETE), "missing the top-level key 'runs'"),
        (_set(["metadata"], _DELETE), "missing the top-level key 'metadata'"),
        (_set(["runs"], {"a": 1}), "runs must be an array, got object"),
        (_set(["runs", 3, "psnr"], "high"), "runs[3].psnr must be a number or null, got string"),
        (_set(["runs", 1, "loss"], _DELETE), "runs[1] is missing the key 'loss'"),
        (_set(["runs", 0, "seed"], "0"), "runs[0].seed must be an integer"),
        (_set(["claims"], "none"), "claims must be an array"),
        (_set(["claims", 0, "effect"], [1]), "claims[0].effect must be a number or null, got array"),
        (_set(["runs", 2, "curve", "train_loss"], "x"), "runs[2].curve.train_loss must be an array"),
    ],
)
def test_corrupt_results_json_raises_one_clear_error(run_dir: Path, edit: Any, expected: str) -> None:
    _edit(run_dir, edit)
    with pytest.raises(ReportError) as info:
        build_report(run_dir)
    msg = str(info.value)
    assert expected in msg
    assert str(run_dir / "results.json") in msg
    assert isinstance(info.value, ValueError)
    assert not (run_dir / "report.html").exists()


def test_missing_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        build_report(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReportError, match=r"results\.json is missing"):
        build_report(empty)
    assert os.listdir(empty) == []
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ReportError, match="not a folder"):
        build_report(tmp_path / "afile")


def test_nan_tokens_and_null_metrics_are_tolerated(run_dir: Path) -> None:
    text = (run_dir / "results.json").read_text()
    raw = json.loads(text)
    raw["runs"][0]["psnr"] = None
    text = json.dumps(raw).replace('"psnr": null', '"psnr": NaN', 1)
    (run_dir / "results.json").write_text(text)
    data = load_results(run_dir)
    assert data.runs[0]["psnr"] is None
    table = T.metric_table(data, "reconstruct", "clean")
    j = [c.metric for c in table.columns].index("psnr")
    assert table.rows[0].cells[j].n == len(SEEDS) - 1
