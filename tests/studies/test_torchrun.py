"""Under torchrun the study grid is spread over the ranks and rank 0 writes the same results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconloss.studies import StudySpec, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_torchrun_two_ranks_match_one_process(tmp_path: Path) -> None:
    one = tmp_path / "one"
    run(StudySpec(study="reconstruct", preset="tiny", out=str(one), workers=1, threads=1,
                  progress=False, report=False, device="cpu"))
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "reconloss", "study", "reconstruct", "--preset", "tiny", "--out", str(two),
         "--no-progress", "--no-report", "--device", "cpu", "--threads", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    a = json.loads((one / "results.json").read_text())
    b = json.loads((two / "results.json").read_text())
    assert b["metadata"]["world_size"] == 2 and b["metadata"]["status"] == "complete"
    key = lambda r: (r["study"], r["condition"], r["loss"], r["seed"])  # noqa: E731
    ra = {key(r): r for r in a["runs"]}
    rb = {key(r): r for r in b["runs"]}
    assert set(ra) == set(rb) and len(ra) == 4
    for k in ra:
        assert ra[k]["psnr"] == pytest.approx(rb[k]["psnr"], rel=1e-6), k
        assert ra[k]["mae"] == pytest.approx(rb[k]["mae"], rel=1e-6), k
    # only rank 0 printed the summary
    assert proc.stdout.count("results:") == 1
