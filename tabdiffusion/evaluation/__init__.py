"""Evaluate synthetic tables: fidelity, detection, coverage, ML efficacy, privacy and validity, plus an HTML report.

`tabdiffusion.evaluate(real, synthetic, holdout=None, target=None, seed=0)` returns an EvaluationResult (result.py)
whose typed details per metric group are defined in records.py; the verdicts' thresholds are in thresholds.py and
metric definitions in docs/metrics.md.
"""

from .command import report_cli
from .core import evaluate
from .limits import Limits
from .records import GROUPS
from .result import EvaluationResult

__all__ = ["evaluate", "EvaluationResult", "Limits", "GROUPS", "report_cli"]
