"""The README's library example runs and prints what it says (the seed's L1/L2 example)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block() -> str:
    text = README.read_text()
    start = text.index("```python\n") + len("```python\n")
    return text[start : text.index("```", start)]


def test_readme_example_runs_and_matches_torch_nn() -> None:
    out = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(_python_block(), str(README), "exec"), namespace)  # noqa: S102 - our own README
    lines = out.getvalue().splitlines()
    g, t = namespace["generated"], namespace["target"]
    assert lines[0] == f"L1 Loss: {torch.nn.L1Loss()(g, t).item()}"
    assert lines[1] == f"L2 Loss: {torch.nn.MSELoss()(g, t).item()}"
    assert namespace["recipe"].switch_steps == [500]  # type: ignore[attr-defined]
