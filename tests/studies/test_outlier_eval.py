"""The outlier study measures an outlier's effect against the same model's output on the clean patch."""

from __future__ import annotations

import torch

from reconloss.studies import outliers
from reconloss.studies._common import PreparedTask


def _prepared(clean: torch.Tensor, coords: torch.Tensor) -> PreparedTask:
    return PreparedTask(
        study="outliers", condition="rare", seed=0, task=None, clean_test=clean, test_coords=coords,
        outlier_value=1.0, model="autoencoder", model_kwargs={}, sample_idx=[0],
    )


def test_counterfactual_reference_separates_the_outlier_from_reconstruction_error() -> None:
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 16, 16, generator=g) * 0.5
    coords = torch.tensor([[0, 8, 8], [1, 5, 9]])
    # A blurry model: its output differs from the clean patch everywhere by +0.05 ...
    clean_out = clean + 0.05
    # ... and the outlier changes nothing (the model ignores it): retention 0, halo 0,
    ignored = outliers.evaluate(_prepared(clean, coords), clean_out.clone(), clean_outputs=clean_out)
    assert abs(ignored["outlier_retention"]) < 1e-6
    assert ignored["halo"] == 0.0
    # while against the clean patch the same output shows a halo from the +0.05 error alone.
    naive = outliers.evaluate(_prepared(clean, coords), clean_out.clone())
    assert naive["halo"] > 1.0  # 24 ring pixels x 0.05
    # A model that keeps the bright pixel exactly: retention 1, still no halo.
    kept = clean_out.clone()
    for b, r, c in coords.tolist():
        kept[b, :, r, c] = 1.0
    res = outliers.evaluate(_prepared(clean, coords), kept, clean_outputs=clean_out)
    assert abs(res["outlier_retention"] - 1.0) < 1e-6
    assert res["halo"] == 0.0
    # A model that spreads it into a 3x3 blob: the halo grows, retention falls below 1.
    blob = clean_out.clone()
    for b, r, c in coords.tolist():
        blob[b, :, r - 1 : r + 2, c - 1 : c + 2] += 0.2
    res = outliers.evaluate(_prepared(clean, coords), blob, clean_outputs=clean_out)
    assert res["halo"] > 0.2 * 8 - 1e-5
    assert 0.0 < res["outlier_retention"] < 1.0
