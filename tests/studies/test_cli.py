"""The ``reconloss`` command line: version, loss listing, one-line user errors with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import reconloss
from reconloss.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert reconloss.__version__ in capsys.readouterr().out


def test_losses_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()[2:] if line.strip() and not line.startswith("Specs")]
    assert "l1" in names and "l2" in names and "mae" in out


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("reconloss: error: ") and match in err[0]


def test_unknown_loss_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, ["study", "--preset", "tiny", "--losses", "l1,nope", "--out", str(tmp_path / "o")], "nope")
    assert not (tmp_path / "o").exists()


def test_missing_data_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, ["study", "--preset", "tiny", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                    "does not exist")


def test_bad_flag_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, ["study", "--steps", "0", "--out", str(tmp_path / "o")], "--steps")
    _one_line_error(capsys, ["study", "--seeds", "two"], "--seeds")
    _one_line_error(capsys, ["study", "everything"], "invalid choice")
    _one_line_error(capsys, ["report", str(tmp_path / "nothing")], "does not exist")


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "reconloss", "study", "--losses", "l1,l9", "--out", str(tmp_path / "o")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("reconloss: error: ")


def test_other_study_in_out_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.json").write_text('{"metadata": {"spec_hash": "0123456789abcdef", "spec": {"study": "inpaint"}}, "runs": []}')
    _one_line_error(capsys, ["study", "reconstruct", "--preset", "tiny", "--out", str(out)], "different study")
