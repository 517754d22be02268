"""reconloss.report: render a study's run folder as one self-contained HTML page.

The report renders only from saved results (``results.json`` and the optional
``samples.pt``), so it can be rebuilt without retraining::

    from reconloss.report import build_report
    page = build_report("runs/2025-01-01")      # -> runs/2025-01-01/report.html

Files written (atomically, and only inside the output folder): ``report.html``,
``summary.md``, ``results.csv`` and ``figures/*.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconloss._io import atomic_write_bytes, atomic_write_text
from reconloss.report._schema import ReportError, RunData, load_results, load_samples

__all__ = ["ReportError", "RunData", "build_report", "load_results"]


def build_report(run_dir: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Build ``report.html``, ``summary.md``, ``results.csv`` and ``figures/*.png`` for a run.

    Args:
        run_dir: folder written by ``reconloss study`` (holds ``results.json`` and optionally
            ``samples.pt``).
        out_dir: where to write the report files; defaults to ``run_dir``. Nothing is written
            outside it.

    Returns:
        The path of ``report.html``.

    Raises:
        ReportError: the run folder is missing, or ``results.json`` is missing or corrupt
            (invalid JSON, a missing key, a value of the wrong type). The message names the
            file and the problem. A missing or unreadable ``samples.pt`` is not an error: the
            image figures are omitted and the page says so.

    Example:
        >>> build_report("runs/demo")  # doctest: +SKIP
        PosixPath('runs/demo/report.html')
    """
    from reconloss.report import html, tables

    run = Path(run_dir)
    data = load_results(run)
    samples, notes = load_samples(run)
    out = Path(out_dir) if out_dir is not None else run
    if out.exists() and not out.is_dir():
        raise ReportError(f"output folder {out} exists and is not a folder")
    page = html.build_page(data, samples, notes)
    fig_dir = out / "figures"
    for study in page.studies:
        for cond in study.conditions:
            for fig in cond.figures:
                # file names are slugs (letters, digits, '-', '_'): they cannot leave fig_dir
                atomic_write_bytes(fig_dir / fig.filename, fig.png)
    tables.write_csv(data, out / "results.csv")
    tables.write_summary_md(data, out / "summary.md")
    target = out / "report.html"
    atomic_write_text(target, html.render_html(page))
    return target
