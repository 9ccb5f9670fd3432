"""Row caps and model sizes that keep `evaluate` fast on large tables; every cap is recorded in the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ParameterError


@dataclass(frozen=True)
class Limits:
    """Documented maxima for the parts of `evaluate` whose cost grows faster than linearly."""

    # Rows per table (synthetic, training, holdout) used for nearest neighbours: privacy and coverage.
    max_rows_neighbors: int = 10_000
    # Rows per class (real and synthetic) used for detection; the classifier sees at most twice this.
    max_rows_detection: int = 10_000
    # Rows used to train each efficacy model (per training table) and rows of the holdout scored.
    max_rows_efficacy: int = 50_000
    # Rows per table used for column-pair trends (cost grows with the number of column pairs).
    max_rows_pairs: int = 200_000
    # Folds of the stratified cross-validation in detection.
    cv_folds: int = 5
    # k of the k-NN precision/recall radii.
    knn_k: int = 5
    # Multiplies the number of trees/iterations of the efficacy and detection models (1.0 = documented sizes).
    model_scale: float = 1.0
    # Most frequent categories per column kept as their own one-hot dimension in the distance embedding.
    max_categories_embedding: int = 100

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "model_scale":
                if not (isinstance(value, (int, float)) and 0 < value <= 10):
                    raise ParameterError(f"Limits.model_scale must be a number in (0, 10], got {value!r}.")
            elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"Limits.{name} must be a positive integer, got {value!r}.")
        if self.cv_folds < 2:
            raise ParameterError(f"Limits.cv_folds must be at least 2, got {self.cv_folds}.")

    def scaled(self, size: int, minimum: int = 5) -> int:
        """`size` multiplied by model_scale, at least `minimum`."""
        return max(minimum, int(round(size * self.model_scale)))

    def to_dict(self) -> dict:
        """The limits as a plain dict."""
        return asdict(self)
