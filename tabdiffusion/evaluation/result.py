"""EvaluationResult: the scores and details of one evaluation, saved as JSON or rendered as an HTML report."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..tables import atomic_write


def jsonable(value: Any) -> Any:
    """A copy of `value` made of dict/list/str/int/float/bool/None only; NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass
class EvaluationResult:
    """Flat `scores` (name -> float) and nested per-column/per-pair `details`, both JSON-serialisable."""

    scores: dict[str, float]
    details: dict = field(default_factory=dict)

    @property
    def verdicts(self) -> dict[str, dict]:
        """Plain-language verdict per area: {'fidelity': {'level', 'headline', 'text'}, ...}."""
        return self.details.get("verdicts", {})

    def to_dict(self) -> dict:
        """{'scores': ..., 'details': ...}."""
        return {"scores": dict(self.scores), "details": self.details}

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON text; also written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> "EvaluationResult":
        """Load a result saved by `to_json` (a path or the JSON text itself)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
        return cls(scores=data["scores"], details=data.get("details", {}))

    def to_html(self, path: str | Path | None = None, max_columns: int = 24) -> str:
        """A self-contained HTML report (needs matplotlib: pip install tabdiffusion[report]); written to `path` when given."""
        from .html import render

        text = render(self, max_columns=max_columns)
        if path is not None:
            atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
        return text

    def _repr_html_(self) -> str:
        """The verdict cards and headline scores, for notebooks (the full report: to_html)."""
        from .html import render_summary

        return render_summary(self)

    def summary(self) -> str:
        """The scores as aligned text lines."""
        width = max((len(k) for k in self.scores), default=0)
        return "\n".join(f"{k:<{width}}  {v:.4f}" for k, v in self.scores.items())

    def __repr__(self) -> str:
        head = ", ".join(f"{k}={self.scores[k]:.3f}" for k in list(self.scores)[:4])
        return f"EvaluationResult({len(self.scores)} scores: {head}, ...)"
