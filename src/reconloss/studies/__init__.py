"""reconloss.studies: the experiments that test the L1-vs-L2 folklore on real photographs.

Three studies (``reconstruct``, ``outliers``, ``inpaint``) x conditions x losses x seeds, run
by :func:`run` from a :class:`StudySpec`, written to ``results.json`` / ``results.csv`` /
``samples.pt`` and turned into claim verdicts (:mod:`reconloss.studies.claims`) with paired
t intervals across seeds (:mod:`reconloss.studies.stats`).

Example:
    >>> from reconloss.studies import PRESETS, StudySpec
    >>> sorted(PRESETS)
    ['full', 'quick', 'tiny']
    >>> StudySpec(study="outliers").preset
    'quick'
"""

from __future__ import annotations

from typing import Any

from .claims import CLAIMS, evaluate_claims
from .spec import PRESETS, STUDIES, OutlierCondition, OutputConflictError, Preset, StudyError, StudyPlan, StudySpec, resolve
from .stats import PairedTest, paired_test, t_quantile, verdict_from_interval

__all__ = [
    "run",
    "StudySpec",
    "StudyPlan",
    "Preset",
    "PRESETS",
    "STUDIES",
    "OutlierCondition",
    "StudyError",
    "OutputConflictError",
    "resolve",
    "CLAIMS",
    "evaluate_claims",
    "PairedTest",
    "paired_test",
    "t_quantile",
    "verdict_from_interval",
]


def run(spec: StudySpec, **kwargs: Any) -> dict[str, Any]:
    """Run or resume a study; see :func:`reconloss.studies.runner.run`."""
    from .runner import run as _run

    return _run(spec, **kwargs)
