"""A small, schema-valid run folder for the report tests, written in well under a second.

The numbers are synthetic but the images are crops of a real photograph
(``skimage.data.astronaut``), and the outputs are real degradations of them (blur, noise),
so the figures look like the real thing. User strings carry HTML so the tests can check
that every one is escaped.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

EVIL_IMAGE = "<img src=x onerror=alert(1)>.png"
EVIL_FOLDER = "/data/<script>alert(1)</script>/photos"
EVIL_LOSS = "l2<b>"
EVIL_LABEL = "L2 <b>bold</b>"
LOSSES = ["l1", EVIL_LOSS, "l1>l2@0.5"]
LABELS = {"l1": "L1", EVIL_LOSS: EVIL_LABEL, "l1>l2@0.5": "L1 then L2 (switch at 50%)"}
SEEDS = [0, 1]
P = 16
STEPS = 100

# per loss: (psnr, ssim, mae, sharp_gradient); l2<b> has the best psnr, l1 the lowest mae,
# the scheduled one the sharpness ratio closest to 1.
_BASE = {
    "l1": (28.0, 0.90, 0.030, 0.80),
    EVIL_LOSS: (29.0, 0.88, 0.035, 0.70),
    "l1>l2@0.5": (28.5, 0.91, 0.032, 0.95),
}


def _blur(x: np.ndarray, k: int) -> np.ndarray:
    """Box blur of (S, 3, P, P) with a k x k kernel (edge padding)."""
    if k <= 1:
        return x
    pad = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    out = np.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out += xp[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
    return out / (k * k)


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of (S, 3, P, P), averaged over images and channels."""
    f = np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))) ** 2
    f = f.mean(axis=(0, 1))
    yy, xx = np.indices(f.shape)
    r = np.hypot(yy - P // 2, xx - P // 2).astype(int)
    bins = np.bincount(r.ravel(), f.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    n = P // 2
    return np.arange(n) / P, bins[:n]


def _samples() -> dict[str, Any]:
    from skimage.data import astronaut

    img = astronaut()[::4, ::4].astype(np.float64) / 255.0  # 128 x 128, real photo
    rng = np.random.default_rng(0)
    # two 16x16 patches: the face and the flag (fine detail)
    target = np.stack([img[20 : 20 + P, 40 : 40 + P], img[60 : 60 + P, 90 : 90 + P]]).transpose(0, 3, 1, 2)
    outs = {
        "l1": np.clip(_blur(target, 2) + rng.normal(0, 0.02, target.shape), 0, 1),
        EVIL_LOSS: _blur(target, 3),
        "l1>l2@0.5": np.clip(_blur(target, 2) * 0.7 + target * 0.3, 0, 1),
    }
    freqs, spec_t = _spectrum(target)
    spectra = {k: torch.tensor(_spectrum(v)[1]) for k, v in outs.items()}

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32)

    base = {
        "target": t(target),
        "input": t(target),
        "mask": None,
        "outlier_coords": None,
        "outputs": {k: t(v) for k, v in outs.items()},
        "spectrum_freqs": torch.tensor(freqs),
        "spectrum_target": torch.tensor(spec_t),
        "spectra": spectra,
        "switch_steps": {"l1>l2@0.5": [50]},
    }
    coords = torch.tensor([[0, 5, 7], [0, 11, 3], [1, 8, 8]], dtype=torch.long)
    noisy = target.copy()
    for s, r, c in coords.tolist():
        noisy[s, :, r, c] = 1.0
    mask = np.zeros((2, 1, P, P))
    mask[0, 0, 4:10, 5:12] = 1
    mask[1, 0, 8:14, 2:7] = 1
    return {
        "reconstruct/clean": base,
        "outliers/rate_0.01": {**base, "input": t(noisy), "outlier_coords": coords},
        "inpaint/mixed": {**base, "input": t(target * (1 - mask)), "mask": t(mask)},
    }


def _curve(seed: int, loss: str, scale: float) -> dict[str, Any]:
    steps = list(range(0, STEPS + 1, 10))
    rng = np.random.default_rng(seed + 7)
    train = [float(scale * (0.1 + np.exp(-s / 30)) * (1 + 0.05 * rng.random())) for s in steps]
    eval_steps = [0, 25, 50, 75, 100]
    psnr = [float(20 + 8 * (1 - np.exp(-s / 40)) + (0.3 if loss == EVIL_LOSS else 0) + 0.1 * seed) for s in eval_steps]
    return {"train_step": steps, "train_loss": train, "eval_step": eval_steps, "eval": {"psnr": psnr}}


def _results() -> dict[str, Any]:
    runs = []
    for study, cond in (("reconstruct", "clean"), ("outliers", "rate_0.01"), ("inpaint", "mixed")):
        for li, loss in enumerate(LOSSES):
            for seed in SEEDS:
                psnr, ssim, mae, sharp = _BASE[loss]
                jitter = 0.05 * (seed - 0.5) * (1 + 0.4 * li)
                run: dict[str, Any] = {
                    "study": study,
                    "condition": cond,
                    "loss": loss,
                    "label": LABELS[loss],
                    "seed": seed,
                    "steps": STEPS,
                    "wall_s": 1.5 + 0.1 * li,
                    "psnr": psnr + jitter,
                    "ssim": ssim + jitter / 100,
                    "ms_ssim": None if (loss == "l1" and seed == 1) else ssim + 0.02,
                    "mae": mae + jitter / 1000,
                    "mse": (mae * 1.3) ** 2,
                    "sharp_gradient": sharp + jitter / 10,
                    "sharp_laplacian": sharp - 0.05,
                    "sharp_hf": sharp - 0.1,
                    "artifact": 0.01 * (li + 1),
                    "curve": _curve(seed, loss, 1.0 if loss != EVIL_LOSS else 0.1),
                    "switch_steps": [50] if "@" in loss else [],
                }
                if study == "outliers":
                    run.update(
                        retention_mean=[0.2, 0.6, 0.4][li] + jitter / 10,
                        halo_mean=[0.05, 0.15, 0.1][li] + jitter / 100,
                        clean_error_mean=[0.02, 0.03, 0.025][li] + jitter / 1000,
                    )
                if study == "inpaint":
                    run.update(hole_psnr=[22.0, 22.1, 23.0][li] + jitter, hole_ssim=0.7, hole_mae=0.05, hole_sharp_gradient=0.6)
                runs.append(run)
    claims = []
    for i, verdict in enumerate(("held", "contradicted", "inconclusive")):
        claims.append(
            {
                "id": f"C{i + 1}",
                "claim": i + 1,
                "text": [
                    "L2 gives blurrier outputs than L1",
                    "L2 chases outlier pixels more than L1",
                    "Switching L1 to L2 mid-training beats either alone",
                ][i],
                "study": ["reconstruct", "outliers", "reconstruct"][i],
                "condition": ["clean", "rate_0.01", "clean"][i],
                "metric": ["sharp_gradient", "halo_mean", "psnr"][i],
                "comparison": ["l2 vs l1", "l2 vs l1", "l1>l2@0.5 vs l1"][i],
                "effect": [-0.1, -0.02, 0.1][i],
                "ci_low": [-0.15, -0.05, -0.3][i],
                "ci_high": [-0.05, 0.01, 0.5][i],
                "seed_sd": 0.02,
                "n_seeds": 2,
                "verdict": verdict,
                "sentence": f"Claim {i + 1} {verdict} in this run.",
                "details": [
                    {
                        "condition": "clean",
                        "metric": "psnr",
                        "comparison": "l2 vs l1",
                        "effect": 0.5,
                        "ci_low": 0.1,
                        "ci_high": 0.9,
                        "seed_sd": 0.1,
                        "n_seeds": 2,
                        "verdict": verdict,
                    }
                ],
            }
        )
    studies = {
        s: {"conditions": [c], "losses": list(LOSSES), "labels": dict(LABELS)}
        for s, c in (("reconstruct", "clean"), ("outliers", "rate_0.01"), ("inpaint", "mixed"))
    }
    metadata = {
        "reconloss_version": "0.1.0",
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": "3.11"},
        "git_commit": "0123456789abcdef",
        "device": "cpu",
        "threads": 2,
        "workers": 1,
        "seeds": SEEDS,
        "preset": "tiny",
        "config": {"steps": STEPS, "batch_size": 8, "lr": 0.001, "model": "autoencoder"},
        "data": {
            "source": EVIL_FOLDER,
            "images": [EVIL_IMAGE, "astronaut.png"],
            "patch_size": P,
            "n_train_patches": 64,
            "n_test_patches": 16,
        },
        "skipped_files": [{"path": EVIL_FOLDER + "/notes.txt", "reason": "not an image <i>"}],
        "timings": {"total_s": 12.5, "per_study_s": {"reconstruct": 4.0, "outliers": 4.5, "inpaint": 4.0}},
        "started": "2025-01-01T10:00:00Z",
        "finished": "2025-01-01T10:00:12Z",
        "status": "complete",
    }
    return {"metadata": metadata, "studies": studies, "runs": runs, "claims": claims}


def write_run_folder(path: Path, *, samples: bool = True) -> Path:
    """Write ``results.json`` (and ``samples.pt``) of a small synthetic run into ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(_results(), indent=1), encoding="utf-8")
    if samples:
        torch.save(_samples(), path / "samples.pt")
    return path


@pytest.fixture(scope="session")
def _run_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run_folder(tmp_path_factory.mktemp("run_template") / "run")


@pytest.fixture
def run_dir(_run_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the synthetic run folder (results.json + samples.pt)."""
    dst = tmp_path / "run"
    shutil.copytree(_run_template, dst)
    return dst


@pytest.fixture(scope="session")
def built_report(_run_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic run folder with its report built once (shared by read-only tests)."""
    from reconloss.report import build_report

    dst = tmp_path_factory.mktemp("built") / "run"
    shutil.copytree(_run_template, dst)
    build_report(dst)
    return dst
