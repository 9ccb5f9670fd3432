"""EvaluationResult: an evaluation with its ways out: a JSON file, the HTML report and text."""

from __future__ import annotations

import json
from pathlib import Path

from ..tables import atomic_write
from .html import render, render_summary
from .records import Evaluation


class EvaluationResult(Evaluation):
    """Flat `scores` (name -> float), typed details per metric group (`fidelity`, `validity`, `detection`, `coverage`,
    `privacy`, `efficacy`; None where the group did not run), `run` facts and `verdicts`; `details` holds the same as
    plain JSON-serialisable dicts."""

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON text; also written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> EvaluationResult:
        """Load a result saved by `to_json` (a path or the JSON text itself)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def to_html(self, path: str | Path | None = None, max_columns: int = 24) -> str:
        """A self-contained HTML report (needs matplotlib: pip install tabdiffusion[report]); written to `path` when given."""
        text = render(self, max_columns=max_columns)
        if path is not None:
            atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
        return text

    def _repr_html_(self) -> str:
        """The verdict cards and headline scores, for notebooks (the full report: to_html)."""
        return render_summary(self)

    def summary(self) -> str:
        """The scores as aligned text lines."""
        width = max((len(k) for k in self.scores), default=0)
        return "\n".join(f"{k:<{width}}  {v:.4f}" for k, v in self.scores.items())

    def __repr__(self) -> str:
        """The number of scores and the first few."""
        head = ", ".join(f"{k}={self.scores[k]:.3f}" for k in list(self.scores)[:4])
        return f"EvaluationResult({len(self.scores)} scores: {head}, ...)"
