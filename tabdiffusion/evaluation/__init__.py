"""Evaluate synthetic tables: fidelity, detection, coverage, ML efficacy, privacy and validity, plus an HTML report.

`tabdiffusion.evaluate(real, synthetic, holdout=None, target=None, seed=0)` returns an EvaluationResult;
metric definitions are in docs/metrics.md.
"""

from .command import report_cli
from .core import GROUPS, evaluate
from .limits import Limits
from .result import EvaluationResult

__all__ = ["evaluate", "EvaluationResult", "Limits", "GROUPS", "report_cli"]
