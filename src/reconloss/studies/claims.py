"""The folklore's claims, turned into paired tests on the study results.

Each claim of the seed text becomes a list of :class:`SubTest` s: *which study and
condition, which metric, which two losses, which sign of the difference the claim predicts*.
Every sub-test is a paired comparison across seeds (:func:`reconloss.studies.stats.paired_test`):
same seed = same patches, same initial weights, same outlier positions and holes, only the
loss differs.

Verdict rule (documented, mechanical, from the numbers only):

1. Every sub-test gets ``held`` / ``contradicted`` / ``inconclusive`` from its 95 % t interval
   (``held``: the interval excludes 0 on the claimed side; ``contradicted``: on the other side).
2. Sub-tests are *primary* (what the claim literally says) or *secondary* (context, shown in
   the details, never deciding).
3. A claim is ``contradicted`` if any primary sub-test is contradicted; else ``held`` if every
   primary sub-test that could be run held; else ``inconclusive``. A claim none of whose
   sub-tests could be run (its study was not run, or a loss is missing) is left out of the
   claims list and named in :func:`evaluate_claims`' ``skipped`` output.
4. The claim row's ``metric`` / ``comparison`` / ``effect`` / ``ci_low`` / ``ci_high`` /
   ``seed_sd`` / ``n_seeds`` / ``condition`` are those of its *headline* sub-test: the first
   contradicted primary sub-test if any (the evidence against), else the first primary one.

How each claim is operationalised (``A - B`` is always the per-seed difference):

* **Claim 1** (L2 is blurrier than L1), reconstruct study, clean patches: ``l1 - l2 > 0`` for the
  gradient-energy ratio ``sharp_gradient`` and the high-frequency energy ratio ``sharp_hf``
  (primary; both are output/target, 1 = as sharp as the target); ``sharp_laplacian`` and the
  inpainting study's ``hole_sharp_gradient`` (secondary).
* **Claim 2** (L1 sharper, but with artifacts), reconstruct study: ``sharp_gradient`` ``l1 - l2 > 0``
  and ``artifact`` (high-frequency energy *added* beyond the target's) ``l1 - l2 > 0`` (both
  primary); ``sharp_hf`` and the inpainting study's ``artifact`` (of the composited image,
so of the hole fill) secondary.
* **Claim 3** (bright outlier: L2 spreads it into a blob, L1 keeps it bright), outlier study, for
  each condition (rare random, frequent random, fixed position): ``outlier_retention``
  (share of the outlier's jump left at its pixel, 0 = removed, 1 = kept) ``l1 - l2 > 0`` and
  ``halo`` (excess brightness in the ring around it) ``l1 - l2 < 0`` (primary);
  ``clean_error`` (error away from outliers, "keeps the other pixels closer") ``l1 - l2 < 0``
  (secondary). Robust statistics predicts the opposite of the retention part for *rare*
  outliers (an L1 fit is a median and ignores them); the per-condition details show which
  happened.
* **Claim 4** (without outliers L2 is fine: smoother, more realistic), reconstruct study:
  ``sharp_gradient`` ``l2 - l1 < 0`` (smoother) and the *realism gap* ``|sharp_hf - 1|`` (how far
  the output's fine-detail energy is from the real image's) ``l2 - l1 < 0`` (primary);
  ``psnr`` ``l2 - l1 > 0``, ``ssim`` ``l2 - l1 > 0`` and ``artifact`` ``l2 - l1 < 0`` secondary.
* **Claim 5** (inpainting: L1 first, then fine-tune with L2), inpainting study: the recipe
  ``l1>l2@0.5`` against each alternative (``l1``, ``l2``, ``l2>l1@0.5`` (Zhao et al.'s order),
  ``mix``) on ``hole_psnr`` and ``hole_ssim`` (inside the hole), ``A - B > 0`` (primary);
  ``hole_sharp_gradient`` against ``l2`` secondary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .stats import Direction, PairedTest, paired_test

__all__ = [
    "CLAIM_TEXTS",
    "SubTest",
    "ClaimDef",
    "CLAIMS",
    "DERIVED_METRICS",
    "combine_verdicts",
    "evaluate_claims",
    "loss_key",
]

CLAIM_TEXTS: dict[int, str] = {
    1: (
        "If you use L2 loss, the model will tend to produce blurry images because it penalizes large errors "
        "heavily, thus averaging out sharp features to minimize these large errors."
    ),
    2: (
        "If you use L1 loss, the model will tend to produce sharper images but potentially with some artifacts, "
        "as it focuses less on minimizing large errors and more on matching the majority of pixels."
    ),
    3: (
        "If there is one really bright, outlier pixel, the L2 loss would force the model to spread this brightness "
        "across nearby pixels, creating a blurry blob. [...] If the same outlier bright pixel existed, the L1 loss "
        "would allow the model to keep this pixel bright, and keep the other pixels closer to their true values, "
        "resulting in less blur but a potentially unrealistic bright spot."
    ),
    4: "If outliers are not a concern, L2 might give smoother, more realistic images that are also less sparse.",
    5: (
        "In applications like inpainting, where missing parts must be filled, L1 loss might be used initially to "
        "generate sharp content, followed by fine-tuning with L2 to improve realism."
    ),
}
"""The claims, quoted from the seed text."""


def _realism_gap(row: Mapping[str, Any]) -> float | None:
    v = row.get("sharp_hf")
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(float(v)):
        return None
    return abs(float(v) - 1.0)


DERIVED_METRICS: dict[str, tuple[Callable[[Mapping[str, Any]], float | None], str]] = {
    "realism_gap": (_realism_gap, "|sharp_hf - 1|, how far the output's fine-detail energy is from the real image's"),
}
"""Metrics computed here from a run row (not stored in the runs): name -> (function, meaning)."""

_METRIC_WORDS: dict[str, str] = {
    "sharp_gradient": "edge strength (output/target gradient energy, 1 = as sharp as the photo)",
    "sharp_hf": "fine-detail energy (output/target, 1 = as much as the photo)",
    "sharp_laplacian": "Laplacian variance (output/target)",
    "artifact": "added high-frequency energy (artifacts, 0 = none)",
    "outlier_retention": "outlier retention (0 = outlier ignored, 1 = outlier kept, vs the same model on the clean patch)",
    "halo": "brightness the outlier adds around it (the blob)",
    "clean_error": "error on pixels away from outliers",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "realism_gap": "realism gap |sharp_hf - 1|",
}


def _metric_words(metric: str) -> str:
    if metric in _METRIC_WORDS:
        return _METRIC_WORDS[metric]
    if metric.startswith("hole_") and metric[5:] in _METRIC_WORDS:
        return _METRIC_WORDS[metric[5:]] + " inside the hole"
    return metric


@dataclass(frozen=True)
class SubTest:
    """One paired comparison ``metric(a) - metric(b)`` with the sign the claim predicts.

    Attributes:
        study: Study whose runs are compared.
        condition: Condition of that study (``None``: one sub-test per condition present).
        metric: Run key (or a :data:`DERIVED_METRICS` name).
        a: Loss spec of the first loss (canonical: ``"l1"``, ``"l1>l2@0.5"``).
        b: Loss spec of the second.
        direction: ``"greater"`` if the claim predicts ``a > b``.
        primary: Whether the sub-test decides the claim's verdict.
        meaning: What the sub-test checks, in words.
    """

    study: str
    condition: str | None
    metric: str
    a: str
    b: str
    direction: Direction
    primary: bool
    meaning: str


@dataclass(frozen=True)
class ClaimDef:
    """A claim and its sub-tests.

    Attributes:
        id: Stable identifier (``"c1-l2-blurrier"``).
        claim: Number of the claim in the seed text (1-5).
        study: Main study of the claim.
        summary: The claim in a few words (used in the sentence).
        tests: The sub-tests, in headline order.
    """

    id: str
    claim: int
    study: str
    summary: str
    tests: tuple[SubTest, ...]

    @property
    def text(self) -> str:
        """The claim, quoted from the seed."""
        return CLAIM_TEXTS[self.claim]


def _claim5_tests() -> tuple[SubTest, ...]:
    tests: list[SubTest] = []
    for metric in ("hole_psnr", "hole_ssim"):
        for alt in ("l1", "l2", "l2>l1@0.5", "mix"):
            tests.append(
                SubTest("inpaint", "holes", metric, "l1>l2@0.5", alt, "greater", True,
                        f"L1-then-L2 fills holes better ({metric}) than {alt}")
            )
    tests.append(
        SubTest("inpaint", "holes", "hole_sharp_gradient", "l1>l2@0.5", "l2", "greater", False,
                "L1-then-L2 fills holes with sharper content than L2 only")
    )
    return tuple(tests)


CLAIMS: tuple[ClaimDef, ...] = (
    ClaimDef(
        "c1-l2-blurrier", 1, "reconstruct", "L2 gives blurrier reconstructions than L1",
        (
            SubTest("reconstruct", "clean", "sharp_gradient", "l1", "l2", "greater", True, "L1 outputs have stronger edges"),
            SubTest("reconstruct", "clean", "sharp_hf", "l1", "l2", "greater", True, "L1 outputs keep more fine detail"),
            SubTest("reconstruct", "clean", "sharp_laplacian", "l1", "l2", "greater", False, "L1 outputs have more Laplacian energy"),
            SubTest("inpaint", "holes", "hole_sharp_gradient", "l1", "l2", "greater", False, "L1 fills holes with stronger edges"),
        ),
    ),
    ClaimDef(
        "c2-l1-sharper-artifacts", 2, "reconstruct", "L1 gives sharper results but adds artifacts",
        (
            SubTest("reconstruct", "clean", "sharp_gradient", "l1", "l2", "greater", True, "L1 outputs have stronger edges"),
            SubTest("reconstruct", "clean", "artifact", "l1", "l2", "greater", True, "L1 outputs add more spurious high frequencies"),
            SubTest("reconstruct", "clean", "sharp_hf", "l1", "l2", "greater", False, "L1 outputs keep more fine detail"),
            SubTest("inpaint", "holes", "artifact", "l1", "l2", "greater", False, "L1 hole fills add more spurious high frequencies"),
        ),
    ),
    ClaimDef(
        "c3-outlier-blob", 3, "outliers", "with a bright outlier pixel, L2 smears it into a blob while L1 keeps it bright",
        (
            SubTest("outliers", None, "outlier_retention", "l1", "l2", "greater", True, "L1 keeps more of the outlier's brightness"),
            SubTest("outliers", None, "halo", "l1", "l2", "less", True, "L2 spreads more brightness around the outlier"),
            SubTest("outliers", None, "clean_error", "l1", "l2", "less", False, "L1 keeps the other pixels closer to the truth"),
        ),
    ),
    ClaimDef(
        "c4-l2-smoother-realistic", 4, "reconstruct", "without outliers, L2 is fine: smoother and more realistic",
        (
            SubTest("reconstruct", "clean", "sharp_gradient", "l2", "l1", "less", True, "L2 outputs are smoother"),
            SubTest("reconstruct", "clean", "realism_gap", "l2", "l1", "less", True,
                    "L2 outputs' fine-detail energy is closer to the real image's"),
            SubTest("reconstruct", "clean", "psnr", "l2", "l1", "greater", False, "L2 outputs are closer to the photo (PSNR)"),
            SubTest("reconstruct", "clean", "ssim", "l2", "l1", "greater", False, "L2 outputs are structurally closer (SSIM)"),
            SubTest("reconstruct", "clean", "artifact", "l2", "l1", "less", False, "L2 outputs add fewer artifacts"),
        ),
    ),
    ClaimDef(
        "c5-inpaint-l1-then-l2", 5, "inpaint", "for inpainting, train with L1 first, then fine-tune with L2",
        _claim5_tests(),
    ),
)
"""The five claims of the seed text, operationalised."""

_ALIASES: dict[str, str] = {"mae": "l1", "mse": "l2", "l1loss": "l1", "mseloss": "l2"}


def loss_key(spec: str) -> str:
    """Canonical form of a loss spec for matching: lower case, no spaces, ``mae``/``mse`` -> ``l1``/``l2``.

    Example:
        >>> loss_key(" L1 > L2 @0.5"), loss_key("MSE")
        ('l1>l2@0.5', 'l2')
    """
    s = spec.strip().lower().replace(" ", "")
    for sep in (">", "~"):
        if sep in s:
            head, _, tail = s.partition("@")
            parts = [(_ALIASES.get(p, p)) for p in head.split(sep)]
            return sep.join(parts) + ("@" + tail if tail else "")
    return _ALIASES.get(s, s)


def _fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 100:
        return f"{x:.1f}"
    if ax >= 0.01:
        return f"{x:.3g}" if ax < 10 else f"{x:.2f}"
    return f"{x:.2e}"


def _signed(x: float) -> str:
    s = _fmt(x)
    return s if s.startswith("-") or s == "n/a" else "+" + s


def _row_value(row: Mapping[str, Any], metric: str) -> float | None:
    if metric in DERIVED_METRICS:
        return DERIVED_METRICS[metric][0](row)
    v = row.get(metric)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


class _Table:
    """Index of run rows: (study, condition, loss key, metric) -> {seed: value}."""

    def __init__(self, runs: Iterable[Mapping[str, Any]]) -> None:
        self.rows: dict[tuple[str, str, str], dict[int, Mapping[str, Any]]] = {}
        for r in runs:
            if r.get("status", "ok") != "ok":
                continue
            try:
                key = (str(r["study"]), str(r["condition"]), loss_key(str(r["loss"])))
                seed = int(r["seed"])
            except (KeyError, TypeError, ValueError):
                continue
            self.rows.setdefault(key, {})[seed] = r

    def conditions(self, study: str) -> list[str]:
        seen: list[str] = []
        for s, c, _ in self.rows:
            if s == study and c not in seen:
                seen.append(c)
        return seen

    def values(self, study: str, condition: str, loss: str, metric: str) -> dict[int, float | None] | None:
        rows = self.rows.get((study, condition, loss))
        if rows is None:
            return None
        return {seed: _row_value(r, metric) for seed, r in rows.items()}


def _detail(test: SubTest, condition: str, res: PairedTest) -> dict[str, Any]:
    words = _metric_words(test.metric)
    sign = ">" if test.direction == "greater" else "<"
    sentence = (
        f"{test.meaning} [{condition}]: {words} {_fmt(res.mean_a)} with {test.a} vs {_fmt(res.mean_b)} with {test.b} "
        f"({test.a} - {test.b} = {_signed(res.effect)}, 95% CI [{_fmt(res.ci_low)}, {_fmt(res.ci_high)}], "
        f"{res.n} seeds; claim predicts {sign} 0): {res.verdict}."
    )
    return {
        "study": test.study,
        "condition": condition,
        "metric": test.metric,
        "comparison": f"{test.a} - {test.b}",
        "a": test.a,
        "b": test.b,
        "direction": test.direction,
        "primary": test.primary,
        "meaning": test.meaning,
        "mean_a": res.mean_a,
        "mean_b": res.mean_b,
        "effect": res.effect,
        "ci_low": res.ci_low,
        "ci_high": res.ci_high,
        "seed_sd": res.sd,
        "n_seeds": res.n,
        "verdict": res.verdict,
        "sentence": sentence,
    }


def combine_verdicts(details: Sequence[Mapping[str, Any]]) -> str:
    """The claim-level rule: contradicted if any primary sub-test is; held if all primary held.

    Example:
        >>> combine_verdicts([{"primary": True, "verdict": "held"}, {"primary": False, "verdict": "contradicted"}])
        'held'
        >>> combine_verdicts([{"primary": True, "verdict": "held"}, {"primary": True, "verdict": "contradicted"}])
        'contradicted'
        >>> combine_verdicts([{"primary": True, "verdict": "held"}, {"primary": True, "verdict": "inconclusive"}])
        'inconclusive'
    """
    primary = [d["verdict"] for d in details if d.get("primary")]
    if not primary:
        return "inconclusive"
    if "contradicted" in primary:
        return "contradicted"
    if all(v == "held" for v in primary):
        return "held"
    return "inconclusive"


def _claim_sentence(c: ClaimDef, verdict: str, head: Mapping[str, Any], details: Sequence[Mapping[str, Any]]) -> str:
    primary = [d for d in details if d["primary"]]
    n_held = sum(d["verdict"] == "held" for d in primary)
    n_contra = sum(d["verdict"] == "contradicted" for d in primary)
    core = (
        f"{_metric_words(head['metric'])} [{head['condition']}] {_fmt(head['mean_a'])} with {head['a']} vs "
        f"{_fmt(head['mean_b'])} with {head['b']} ({head['comparison']} = {_signed(head['effect'])}, 95% CI "
        f"[{_fmt(head['ci_low'])}, {_fmt(head['ci_high'])}], {head['n_seeds']} seeds)"
    )
    extra = ""
    if c.claim == 3:
        per: list[str] = []
        for d in primary:
            if d["metric"] == "outlier_retention":
                per.append(f"{d['condition']}: L1 {_fmt(d['mean_a'])} vs L2 {_fmt(d['mean_b'])} ({d['verdict']})")
        if per:
            extra = "; outlier retention by condition, " + ", ".join(per)
    return (
        f"Claim {c.claim} ({c.summary}) is {verdict}: {core}; {n_held} of {len(primary)} primary sub-tests held and "
        f"{n_contra} contradicted{extra}."
    )


def evaluate_claims(
    runs: Iterable[Mapping[str, Any]],
    claims: Sequence[ClaimDef] = CLAIMS,
    confidence: float = 0.95,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Test every claim on a runs table.

    Args:
        runs: Run rows with at least ``study``, ``condition``, ``loss``, ``seed`` and metric
            keys (rows whose ``status`` is not ``"ok"`` are ignored).
        claims: Claim definitions (default: :data:`CLAIMS`).
        confidence: Level of the two-sided intervals.

    Returns:
        ``(rows, skipped)``: one row per testable claim with the keys ``id, claim, text, study,
        condition, metric, comparison, effect, ci_low, ci_high, seed_sd, n_seeds, verdict,
        sentence, details, rule``; and ``[{"id", "reason"}]`` for claims that could not be
        tested.
    """
    table = _Table(runs)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for c in claims:
        details: list[dict[str, Any]] = []
        missing: list[str] = []
        for t in c.tests:
            conds = [t.condition] if t.condition is not None else table.conditions(t.study)
            if not conds:
                missing.append(f"study {t.study!r} has no runs")
            for cond in conds:
                va = table.values(t.study, cond, t.a, t.metric)
                vb = table.values(t.study, cond, t.b, t.metric)
                if va is None or vb is None:
                    lack = t.a if va is None else t.b
                    missing.append(f"no {t.study}/{cond} runs with loss {lack!r}")
                    continue
                res = paired_test(va, vb, t.direction, confidence)
                if res.n == 0:
                    missing.append(f"metric {t.metric!r} missing in {t.study}/{cond}")
                    continue
                details.append(_detail(t, cond, res))
        primary = [d for d in details if d["primary"]]
        if not primary:
            reason = "; ".join(dict.fromkeys(missing)) or "no sub-test could be run"
            skipped.append({"id": c.id, "reason": reason})
            continue
        verdict = combine_verdicts(details)
        contra = [d for d in primary if d["verdict"] == "contradicted"]
        head = contra[0] if contra else primary[0]
        rows.append(
            {
                "id": c.id,
                "claim": c.claim,
                "text": c.text,
                "summary": c.summary,
                "study": c.study,
                "condition": head["condition"],
                "metric": head["metric"],
                "comparison": head["comparison"],
                "direction": head["direction"],
                "effect": head["effect"],
                "ci_low": head["ci_low"],
                "ci_high": head["ci_high"],
                "seed_sd": head["seed_sd"],
                "n_seeds": head["n_seeds"],
                "verdict": verdict,
                "sentence": _claim_sentence(c, verdict, head, details),
                "rule": (
                    "contradicted if any primary sub-test's 95% CI excludes 0 against the claim; held if every "
                    "primary sub-test's CI excludes 0 in the claimed direction; otherwise inconclusive"
                ),
                "untested": sorted(dict.fromkeys(missing)),
                "details": details,
            }
        )
    return rows, skipped
