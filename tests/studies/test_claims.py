"""Claims from a synthetic runs table: operationalisation, verdict rule, row schema."""

from __future__ import annotations

from typing import Any

import pytest

from reconloss.studies.claims import CLAIM_TEXTS, CLAIMS, combine_verdicts, evaluate_claims, loss_key
from reconloss.studies.stats import VERDICTS

ROW_KEYS = {"id", "claim", "text", "study", "condition", "metric", "comparison", "effect", "ci_low", "ci_high",
            "seed_sd", "n_seeds", "verdict", "sentence", "details"}


def _rows(study: str, condition: str, loss: str, values: dict[str, list[float]]) -> list[dict[str, Any]]:
    n = len(next(iter(values.values())))
    return [
        {"study": study, "condition": condition, "loss": loss, "seed": s, "status": "ok",
         **{k: v[s] for k, v in values.items()}}
        for s in range(n)
    ]


def _reconstruct(l1_sharp: list[float], l2_sharp: list[float]) -> list[dict[str, Any]]:
    runs = _rows("reconstruct", "clean", "l1", {"sharp_gradient": l1_sharp, "sharp_hf": l1_sharp,
                                               "artifact": [0.2, 0.21, 0.19], "psnr": [25.0, 25.1, 24.9]})
    runs += _rows("reconstruct", "clean", "l2", {"sharp_gradient": l2_sharp, "sharp_hf": l2_sharp,
                                                "artifact": [0.1, 0.12, 0.09], "psnr": [25.5, 25.6, 25.4]})
    return runs


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_claim1_held_when_l1_sharper_on_every_seed() -> None:
    rows, skipped = evaluate_claims(_reconstruct([0.90, 0.85, 0.88], [0.70, 0.66, 0.69]))
    c1 = _by_id(rows)["c1-l2-blurrier"]
    assert c1["verdict"] == "held"
    assert ROW_KEYS <= set(c1)
    assert c1["text"] == CLAIM_TEXTS[1]
    assert c1["metric"] == "sharp_gradient" and c1["comparison"] == "l1 - l2"
    assert c1["effect"] == pytest.approx(0.86 - 0.67, abs=1e-9) or c1["effect"] > 0
    assert c1["ci_low"] > 0 and c1["n_seeds"] == 3
    assert "held" in c1["sentence"] and "0.877" in c1["sentence"]
    # claim 2: sharper (held) and more artifacts (held) -> held
    assert _by_id(rows)["c2-l1-sharper-artifacts"]["verdict"] == "held"
    # claim 4: L2 smoother (held) but realism gap larger for L2 (1 - 0.68 > 1 - 0.88) -> contradicted
    c4 = _by_id(rows)["c4-l2-smoother-realistic"]
    assert c4["verdict"] == "contradicted" and c4["metric"] == "realism_gap"
    ids = {s["id"] for s in skipped}
    assert ids == {"c3-outlier-blob", "c5-inpaint-l1-then-l2"}


def test_claim1_contradicted_and_inconclusive() -> None:
    rows, _ = evaluate_claims(_reconstruct([0.60, 0.62, 0.61], [0.80, 0.79, 0.83]))
    assert _by_id(rows)["c1-l2-blurrier"]["verdict"] == "contradicted"
    rows, _ = evaluate_claims(_reconstruct([0.80, 0.60, 0.75], [0.70, 0.75, 0.70]))
    assert _by_id(rows)["c1-l2-blurrier"]["verdict"] == "inconclusive"


def test_single_seed_is_inconclusive() -> None:
    rows, _ = evaluate_claims([r for r in _reconstruct([0.9, 0.9, 0.9], [0.5, 0.5, 0.5]) if r["seed"] == 0])
    c1 = _by_id(rows)["c1-l2-blurrier"]
    assert c1["verdict"] == "inconclusive" and c1["n_seeds"] == 1


def test_claim3_details_per_condition_and_rule() -> None:
    runs: list[dict[str, Any]] = []
    # rare: L1 removes the outlier (retention ~0), L2 keeps a part of it -> retention sub-test contradicted
    runs += _rows("outliers", "rare", "l1", {"outlier_retention": [0.02, 0.03, 0.01], "halo": [0.01, 0.02, 0.01],
                                             "clean_error": [0.05, 0.05, 0.05]})
    runs += _rows("outliers", "rare", "l2", {"outlier_retention": [0.20, 0.25, 0.22], "halo": [0.30, 0.28, 0.35],
                                             "clean_error": [0.06, 0.06, 0.06]})
    # fixed: both keep it, L1 more -> held
    runs += _rows("outliers", "fixed", "l1", {"outlier_retention": [0.95, 0.97, 0.96], "halo": [0.05, 0.04, 0.06],
                                              "clean_error": [0.05, 0.05, 0.05]})
    runs += _rows("outliers", "fixed", "l2", {"outlier_retention": [0.70, 0.72, 0.69], "halo": [0.20, 0.22, 0.25],
                                              "clean_error": [0.06, 0.06, 0.06]})
    rows, _ = evaluate_claims(runs)
    c3 = _by_id(rows)["c3-outlier-blob"]
    conds = {(d["condition"], d["metric"]): d["verdict"] for d in c3["details"]}
    assert conds[("rare", "outlier_retention")] == "contradicted"
    assert conds[("rare", "halo")] == "held"
    assert conds[("fixed", "outlier_retention")] == "held"
    assert c3["verdict"] == "contradicted"  # any primary sub-test contradicted
    assert c3["condition"] == "rare" and c3["metric"] == "outlier_retention"  # headline = the evidence against
    assert "rare" in c3["sentence"] and "fixed" in c3["sentence"]
    assert all(d["verdict"] in VERDICTS for d in c3["details"])


def test_combine_rule_and_secondary_tests_do_not_decide() -> None:
    assert combine_verdicts([{"primary": True, "verdict": "held"}, {"primary": False, "verdict": "contradicted"}]) == "held"
    assert combine_verdicts([{"primary": True, "verdict": "held"}, {"primary": True, "verdict": "inconclusive"}]) == "inconclusive"
    assert combine_verdicts([{"primary": True, "verdict": "inconclusive"}, {"primary": True, "verdict": "contradicted"}]) == "contradicted"
    assert combine_verdicts([]) == "inconclusive"


def test_claim5_compares_against_each_alternative() -> None:
    runs: list[dict[str, Any]] = []
    for loss, base in (("l1", 20.0), ("l2", 20.5), ("l1>l2@0.5", 21.5), ("l2>l1@0.5", 21.0), ("mix", 20.8)):
        runs += _rows("inpaint", "holes", loss, {"hole_psnr": [base, base + 0.1, base - 0.1],
                                                 "hole_ssim": [base / 30, base / 30 + 0.01, base / 30 - 0.005]})
    rows, _ = evaluate_claims(runs)
    c5 = _by_id(rows)["c5-inpaint-l1-then-l2"]
    alts = {d["b"] for d in c5["details"] if d["primary"]}
    assert alts == {"l1", "l2", "l2>l1@0.5", "mix"}
    assert c5["verdict"] == "held"


def test_failed_runs_are_ignored_and_loss_keys_normalised() -> None:
    runs = _reconstruct([0.9, 0.85, 0.88], [0.7, 0.66, 0.69])
    for r in runs:
        if r["loss"] == "l2":
            r["loss"] = "MSE"
    runs.append({"study": "reconstruct", "condition": "clean", "loss": "l1", "seed": 7, "status": "failed"})
    rows, _ = evaluate_claims(runs)
    assert _by_id(rows)["c1-l2-blurrier"]["n_seeds"] == 3
    assert loss_key("L1 > L2 @ 0.5") == "l1>l2@0.5"
    assert {c.claim for c in CLAIMS} == {1, 2, 3, 4, 5}
