"""The tiny preset end to end: files, schema, resume after SIGKILL, refusing a foreign --out."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from reconloss.studies import PRESETS, StudySpec, run
from reconloss.studies.runner import build_grid, choose_resources, loss_slug
from reconloss.studies.spec import OutputConflictError, StudyError, resolve
from reconloss.studies.stats import VERDICTS

ROOT = Path(__file__).resolve().parents[2]
METADATA_KEYS = {"package", "version", "versions", "git_commit", "device", "threads", "workers", "seeds", "spec",
                 "config", "spec_hash", "timings", "skipped_files", "status", "invocations", "data"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tiny") / "out"
    res = run(StudySpec(study="all", preset="tiny", out=str(out), workers=1, progress=False, report=False, device="cpu"))
    return out, res


def test_tiny_writes_results_with_schema(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    out, res = tiny_run
    data = json.loads((out / "results.json").read_text())
    assert METADATA_KEYS <= set(data["metadata"])
    meta = data["metadata"]
    assert meta["status"] == "complete" and meta["device"] == "cpu"
    assert meta["seeds"] == [0, 1]
    assert set(meta["timings"]["run_seconds_per_study"]) == {"reconstruct", "outliers", "inpaint"}
    plan = resolve(StudySpec(preset="tiny"))
    assert len(data["runs"]) == len(build_grid(plan, out)) == meta["n_runs_total"]
    for r in data["runs"]:
        assert {"study", "condition", "loss", "seed", "curve", "finished_at"} <= set(r)
        assert r["status"] == "ok"
        assert isinstance(r["psnr"], float)
    outl = [r for r in data["runs"] if r["study"] == "outliers"]
    assert {"outlier_retention", "halo", "clean_error"} <= set(outl[0])
    inp = [r for r in data["runs"] if r["study"] == "inpaint"]
    assert {"hole_psnr", "hole_ssim"} <= set(inp[0])
    assert [r["switch_steps"] for r in inp if r["loss"] == "l1>l2@0.5"][0] == [3]
    assert data["claims"], "the tiny grid holds every loss a claim needs except mix"
    for c in data["claims"]:
        assert {"id", "text", "verdict", "effect", "ci_low", "ci_high", "n_seeds", "sentence", "details"} <= set(c)
        assert c["verdict"] in VERDICTS
        assert c["n_seeds"] == 2
    assert res["metadata"]["spec_hash"] == meta["spec_hash"]
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(data["runs"]) and "curve" not in rows[0] and "psnr" in rows[0]


def test_tiny_samples_file(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = tiny_run
    samples = torch.load(out / "samples.pt", weights_only=True)
    assert set(samples) == {"reconstruct/clean", "outliers/rare", "outliers/fixed", "inpaint/holes"}
    p = PRESETS["tiny"]
    rec = samples["reconstruct/clean"]
    assert rec["target"].shape[1:] == (3, p.patch_size, p.patch_size)
    assert set(rec["outputs"]) == {"l1", "l2"} and rec["outputs"]["l1"].shape == rec["target"].shape
    assert rec["spectra"]["l2"].shape == rec["spectrum_freqs"].shape == rec["spectrum_target"].shape
    assert samples["inpaint/holes"]["mask"].shape[1] == 1
    coords = samples["outliers/fixed"]["outlier_coords"]
    assert coords.dtype == torch.long and coords.shape == (rec["target"].shape[0], 3)
    assert samples["inpaint/holes"]["switch_steps"]["l1>l2@0.5"] == [3]


def test_rerun_same_out_reuses_everything(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    out, first = tiny_run
    again = run(StudySpec(study="all", preset="tiny", out=str(out), workers=1, progress=False, report=False, device="cpu"))
    inv = again["metadata"]["invocations"]
    assert len(inv) == 2 and inv[-1]["runs_executed"] == 0 and inv[-1]["runs_reused"] == len(first["runs"])
    assert [r["finished_at"] for r in again["runs"]] == [r["finished_at"] for r in first["runs"]]


def test_other_study_in_same_out_is_refused(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = tiny_run
    before = (out / "results.json").read_bytes()
    with pytest.raises(OutputConflictError, match="different study"):
        run(StudySpec(study="reconstruct", preset="tiny", out=str(out), workers=1, progress=False, report=False))
    assert (out / "results.json").read_bytes() == before


def test_resources_and_slugs() -> None:
    assert choose_resources("cpu", None, None, 10, cores=2) == (2, 1)
    assert choose_resources("cpu", None, None, 1, cores=2) == (1, 1)
    assert choose_resources("cpu", 3, 2, 10, cores=2) == (3, 2)
    assert loss_slug("l2>l1@0.5") == "l2-to-l1-at-0.5"
    with pytest.raises(StudyError, match="--steps"):
        resolve(StudySpec(steps=0))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconloss", *args]


def test_resume_after_sigkill(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["study", "all", "--preset", "tiny", "--out", str(out), "--workers", "1", "--no-report", "--no-progress",
            "--device", "cpu"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_cli(*args), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = out / "results.json"
    done_before: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists():
                try:
                    done_before = json.loads(results.read_text())["runs"]
                except (ValueError, KeyError):
                    done_before = []
                if len(done_before) >= 1:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert done_before, "no run finished before the deadline"
    killed = json.loads(results.read_text())
    finished = {(r["study"], r["condition"], r["loss"], r["seed"]): r["finished_at"] for r in killed["runs"]}
    assert killed["metadata"]["status"] == "running"  # killed: never reached 'complete'
    res = subprocess.run(_cli(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    final = json.loads(results.read_text())
    assert final["metadata"]["status"] == "complete"
    total = final["metadata"]["n_runs_total"]
    assert len(final["runs"]) == total
    inv = final["metadata"]["invocations"]
    assert len(inv) == 2
    assert inv[-1]["runs_reused"] == len(finished)
    assert inv[-1]["runs_executed"] == total - len(finished)
    for r in final["runs"]:
        key = (r["study"], r["condition"], r["loss"], r["seed"])
        if key in finished:
            assert r["finished_at"] == finished[key], f"{key} was rerun"


def test_user_folder_with_a_bad_file(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        arr = (torch.rand(48, 64, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="skipped 1 file"):
        res = run(StudySpec(study="reconstruct", preset="tiny", data=str(folder), out=str(out), workers=1,
                            progress=False, report=False, device="cpu"))
    meta = res["metadata"]
    assert [s["path"] for s in meta["skipped_files"]] == ["broken.png"]
    assert meta["data"]["n_images"] == 3 and len(res["runs"]) == 4
