"""Child process of test_resume_kill: ``python _fit_script.py OUT_DIR STEPS SLEEP_S``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from reconloss.train import TrainConfig, fit  # noqa: E402
from tests.train._helpers import ScheduledL1L2, TinyNet, make_task, simple_eval  # noqa: E402


def config(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=8, lr=1e-2, progress=False, threads=1, checkpoint_every=4,
                       eval_every=8, log_every=1)


def main() -> None:
    out, steps, sleep_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(1)
    res = fit(config(steps), make_task(), out, model=lambda: TinyNet(sleep_s=sleep_s), loss=ScheduledL1L2(switch=10),
              eval_fn=simple_eval)
    print(f"done resumed_from={res.resumed_from_step}", flush=True)


if __name__ == "__main__":
    main()
