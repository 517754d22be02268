"""``reconloss`` command line: ``study``, ``losses``, ``report``, ``--version``.

Examples::

    reconloss study                       # all three studies, quick preset, built-in photographs
    reconloss study outliers --preset full --out runs/outliers
    reconloss study --data ~/photos --losses l1,l2,huber
    reconloss losses                      # the loss registry
    reconloss report reconloss-out        # rebuild the HTML report from saved results

User errors (unknown loss, missing folder, bad values, an ``--out`` folder holding another
study) print one line ``reconloss: error: ...`` to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main", "build_parser", "format_summary"]

PROG = "reconloss"


class _UsageError(Exception):
    """An argparse error, re-raised so :func:`main` prints it on one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise _UsageError(message)


def _is_main_rank() -> bool:
    try:
        from reconloss.train import is_main_process

        return bool(is_main_process())
    except Exception:  # noqa: BLE001 - printing must never fail
        return True


def _add_study_options(p: argparse.ArgumentParser) -> None:
    from reconloss.studies.spec import STUDIES, StudySpec
    from reconloss.train import add_dataclass_arguments

    p.add_argument("study", nargs="?", default="all", choices=[*STUDIES, "all"],
                   help="which study to run (default: all)")
    add_dataclass_arguments(p, StudySpec, exclude={"study"})
    meta = {f.name: f for f in dataclasses.fields(StudySpec)}
    for action in p._actions:
        f = meta.get(action.dest)
        if f is not None and action.dest != "study":
            if f.metadata.get("metavar"):
                action.metavar = f.metadata["metavar"]
            if f.default is None:
                action.help = str(f.metadata.get("help", "")).replace("%", "%%")
        if action.dest == "preset":  # the hidden 'tiny' preset stays accepted but is not advertised
            action.metavar = "{quick,full}"
            action.help = "experimental design: quick (about 10 min on 2 CPU cores) or full (under an hour) (default: 'quick')"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its ``study`` options are generated from :class:`StudySpec`)."""
    import reconloss

    parser = _Parser(prog=PROG, description="Pixel reconstruction losses and the studies that test the L1-vs-L2 folklore.")
    parser.add_argument("--version", action="version", version=f"{PROG} {reconloss.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{study,losses,report}", parser_class=_Parser)
    p_study = sub.add_parser("study", help="run the studies and write results.json, samples.pt and report.html")
    _add_study_options(p_study)
    sub.add_parser("losses", help="list the registered losses (name, aliases, parameters, description)")
    p_report = sub.add_parser("report", help="rebuild report.html from a study's results folder")
    p_report.add_argument("run_dir", metavar="RUN_DIR", help="folder written by `reconloss study`")
    return parser


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------


def _num(x: Any, digits: int = 3) -> str:
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        return "n/a"
    return f"{float(x):.{digits}g}"


_MAIN_METRICS: dict[str, tuple[str, ...]] = {
    "reconstruct": ("psnr", "ssim", "sharp_gradient", "sharp_hf", "artifact"),
    "outliers": ("outlier_retention", "halo", "clean_error", "psnr"),
    "inpaint": ("hole_psnr", "hole_ssim", "hole_sharp_gradient", "psnr"),
}


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    v = [float(x) for x in values if isinstance(x, (int, float)) and math.isfinite(float(x))]
    if not v:
        return math.nan, math.nan
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else math.nan
    return m, sd


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def format_summary(results: dict[str, Any], out: str | Path | None = None) -> str:
    """Plain-text summary of a results document: main metrics per study/condition/loss
    (mean ± sd over seeds), the claim verdicts with effect and interval, and the file paths."""
    runs = [r for r in results.get("runs", []) if r.get("status", "ok") == "ok"]
    parts: list[str] = []
    for study, metrics in _MAIN_METRICS.items():
        srows = [r for r in runs if r.get("study") == study]
        if not srows:
            continue
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in srows:
            groups.setdefault((r["condition"], r["loss"]), []).append(r)
        rows = []
        for (cond, loss), rs in groups.items():
            cells = [cond, loss, str(len(rs))]
            for m in metrics:
                mean, sd = _mean_sd([r.get(m) for r in rs])
                cells.append(f"{_num(mean)} ± {_num(sd, 2)}")
            rows.append(cells)
        parts.append(f"[{study}] mean ± sd over seeds\n" + _table(["condition", "loss", "n", *metrics], rows))
    claims = results.get("claims", [])
    if claims:
        rows = []
        for c in claims:
            rows.append([
                f"{c.get('claim')}", str(c.get("verdict", "")).upper(), str(c.get("metric", "")),
                str(c.get("condition", "")), str(c.get("comparison", "")), _num(c.get("effect")),
                f"[{_num(c.get('ci_low'))}, {_num(c.get('ci_high'))}]", str(c.get("n_seeds", "")),
            ])
        parts.append("Claims (95% paired t interval across seeds; rule: contradicted if any primary sub-test is, "
                     "held if all are)\n" + _table(["#", "verdict", "metric", "condition", "comparison", "effect",
                                                     "95% CI", "seeds"], rows))
        parts.append("\n".join(f"  {c.get('claim')}. {c.get('sentence', '')}" for c in claims))
    meta = results.get("metadata", {})
    if out is not None:
        base = Path(out)
        lines = [f"results: {base / 'results.json'}", f"table:   {base / 'results.csv'}"]
        rep = meta.get("report", {}) if isinstance(meta, dict) else {}
        if isinstance(rep, dict) and rep.get("status") == "ok":
            lines.append(f"report:  {rep.get('path')}")
        elif isinstance(rep, dict) and rep.get("status"):
            lines.append(f"report:  not built ({rep.get('status')}: {rep.get('error', '')})")
        t = meta.get("timings", {}) if isinstance(meta, dict) else {}
        if isinstance(t, dict) and t.get("this_invocation_s") is not None:
            lines.append(f"time:    {float(t['this_invocation_s']):.0f} s this run")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _print_losses() -> None:
    from reconloss.losses import list_losses, loss_parameters

    rows = []
    for info in list_losses():
        try:
            params = loss_parameters(info.name)
            if isinstance(params, dict):
                ptxt = ", ".join(f"{k}={v!r}" for k, v in params.items())
            else:
                ptxt = ", ".join(str(p) for p in params)
        except Exception:  # noqa: BLE001 - a listing must not die on one entry
            ptxt = "?"
        rows.append([info.name, ", ".join(info.aliases) or "-", ptxt or "-", info.description])
    try:
        print(_table(["name", "aliases", "parameters", "description"], rows))
    except BrokenPipeError:  # `reconloss losses | head`
        return
    print("\nSpecs: a name ('l1'), with parameters ('huber(delta=0.1)'), a weighted sum ('0.84*ms_ssim+0.16*l1'), "
          "a switch ('l1>l2@0.5': L1 then L2 at 50% of the steps), a crossfade ('l1~l2@0.4:0.6').")


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def _user_errors() -> tuple[type[BaseException], ...]:
    from reconloss._checks import ReconlossError

    errs: list[type[BaseException]] = [ReconlossError]
    try:
        from reconloss.report import ReportError

        errs.append(ReportError)
    except ImportError:
        pass
    try:
        from reconloss.train import CheckpointError

        errs.append(CheckpointError)
    except ImportError:
        pass
    return tuple(errs)


def _fail(message: str) -> int:
    text = " ".join(str(message).split())
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    try:
        parser = build_parser()
        args = parser.parse_args(list(argv) if argv is not None else None)
    except _UsageError as exc:
        return _fail(str(exc))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "losses":
            _print_losses()
            return 0
        if args.command == "report":
            from reconloss.report import build_report

            path = build_report(Path(args.run_dir))
            print(f"report: {path}")
            return 0
        return _run_study(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        return _fail(str(exc))
    except FileNotFoundError as exc:
        return _fail(str(exc))


def _run_study(args: argparse.Namespace) -> int:
    from reconloss.studies import run
    from reconloss.studies.spec import StudySpec
    from reconloss.train import dataclass_from_args

    spec = dataclass_from_args(StudySpec, args, study=args.study)
    main_rank = _is_main_rank()
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        if main_rank:
            warnings.showwarning = _one_line_warning  # type: ignore[assignment]
        results = run(spec)
    if main_rank and _is_main_rank():
        print(format_summary(results, spec.out))
    return 0


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
