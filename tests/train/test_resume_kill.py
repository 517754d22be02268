"""A real process killed with SIGKILL after its first checkpoint resumes to the same bits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reconloss.train import fit, load_checkpoint

from ._fit_script import config
from ._helpers import ScheduledL1L2, TinyNet, make_task, simple_eval, state_equal

SCRIPT = Path(__file__).with_name("_fit_script.py")
STEPS = 40


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_resume_is_bitwise_equal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(STEPS), "0.03"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.monotonic() + 120
    try:
        while not ckpt.exists():
            if proc.poll() is not None:
                pytest.fail(f"child ended before its first checkpoint: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint after 120 s")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(ckpt)["step"]
    assert 0 < killed_at < STEPS

    done = subprocess.run([sys.executable, str(SCRIPT), str(out), str(STEPS), "0"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed_from={killed_at}" in done.stdout

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = fit(config(STEPS), make_task(), tmp_path / "ref", model=TinyNet, loss=ScheduledL1L2(switch=10),
                  eval_fn=simple_eval)
    finally:
        torch.set_num_threads(old)
    resumed = load_checkpoint(ckpt)
    assert resumed["step"] == STEPS
    assert state_equal(resumed["model"], ref.model.state_dict()) == []
    ref_opt_state = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=True)["optimizer"]["state"]
    for k, st in resumed["optimizer"]["state"].items():
        for name, t in st.items():
            assert torch.equal(t, ref_opt_state[k][name]), (k, name)
    assert resumed["history"]["train"] == ref.history["train"]
    assert resumed["history"]["eval"] == ref.history["eval"]
