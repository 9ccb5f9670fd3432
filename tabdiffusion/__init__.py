"""tabdiffusion: synthetic tabular data with diffusion models (TabDDPM and beyond)."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    ModelFileError, NotFittedError, ParameterError, SchemaError, TabDiffusionError, TrainingDivergedError,
)
from .schema import ColumnSpec, TableSchema, infer_schema  # noqa: E402
from .config import PRESETS, ModelConfig  # noqa: E402
from .synthesizer import Synthesizer  # noqa: E402
from .training import TrainingStep  # noqa: E402
from .evaluation import evaluate  # noqa: E402  (the function; the subpackage is tabdiffusion.evaluation)


def __getattr__(name: str):
    """DiffusionOversampler is imported on first use: it needs the optional imbalanced-learn."""
    if name == "DiffusionOversampler":
        try:
            from .oversampling import DiffusionOversampler
        except ModuleNotFoundError as error:
            if (error.name or "").partition(".")[0] != "imblearn":
                raise
            raise ImportError("DiffusionOversampler needs imbalanced-learn: pip install 'tabdiffusion[imbalanced]' "
                              "(or pip install imbalanced-learn).") from None
        return DiffusionOversampler
    raise AttributeError(f"module 'tabdiffusion' has no attribute {name!r}")


__all__ = [
    "Synthesizer", "TrainingStep", "evaluate", "ModelConfig", "PRESETS", "TableSchema", "ColumnSpec", "infer_schema", "TabDiffusionError",
    "SchemaError", "ParameterError", "NotFittedError", "TrainingDivergedError", "ModelFileError", "__version__",
    "DiffusionOversampler",
]
