"""The Synthesizer: fit a diffusion model to a table, sample new rows, save and load it.

The public face of the package: it keeps the settings as given (scikit-learn's convention), hands them to
fitting.fit_model, keeps the FittedModel's parts as its fitted attributes (`model_`, `encoder_`, `history_`, ...),
and samples by putting them back together (fitted.py). Settings and hyperparameters are declared and checked in
config.py; conditions become code constraints in transforms/conditions.py; generation given known cells
(sample_remaining_columns, impute) is in conditional.py; the model file's layout in modelfile.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import conditional
from ._random import Seed, numpy_rng, torch_generator
from .config import HYPERPARAMETERS, check_keywords, check_positive_int, check_row_count, check_settings, resolve_config
from .dp import check_dp, private_config
from .errors import NotFittedError, ParameterError
from .fitted import FittedModel
from .fitting import SETTINGS, FitInput, FitSettings, fit_model
from .hardware import resolve_device, thread_limit
from .modelfile import load_model, save_model
from .schema import TableSchema
from .tables import check_fits_in_memory, join_chunks
from .training import TrainingStep
from .transforms.conditions import CodeConstraints, from_conditions

# sample() and sample_chunks() decode at most SAMPLE_CHUNK_ROWS rows at a time: what sample_chunks holds in memory,
# whatever n is (the CLI's `sample` writes chunk by chunk). Up to this n, one chunk: the same rows as one batch.
SAMPLE_CHUNK_ROWS = 100_000


class Synthesizer:
    """Learns a table with TabDDPM-style diffusion and generates new rows with the same columns, order and dtypes.

    Parameters are stored as given and checked by `fit` (scikit-learn's convention). Any hyperparameter of
    `ModelConfig` (config.HYPERPARAMETERS) may be passed as a keyword to override the preset; another keyword is a
    ParameterError. `value_protection` (default True) keeps no value that fewer than PROTECT_ROWS training rows
    hold, neither in the model file nor in sampled rows (transforms/protection.py). `dp_epsilon` (and optionally
    `dp_delta`, default 1 / n^1.1) makes the whole fit differentially private: the encoder is fitted on a noisy
    sketch of the table and the denoiser trained with DP-SGD (dp.py, transforms/dp_sketch.py); what it spent is in
    `privacy_` and the model file. `time_budget` (seconds) bounds the whole fit: training stops early rather than
    start a step that would end past it. The stopping step then depends on the machine's speed, which trades exact
    reproducibility for wall time.
    """

    def __init__(
        self,
        *,
        preset: Literal["default", "flow", "tabddpm"] = "default",
        seed: int | None = None,
        time_budget: float | None = None,
        max_categories: int | None = 100,
        value_protection: bool = True,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        sample_batch_size: int = 16384,
        device: str = "auto",
        threads: int | None = None,
        verbose: bool = True,
        **hyperparameters: Any,
    ) -> None:
        check_keywords(hyperparameters, SETTINGS)
        self.preset, self.seed, self.time_budget = preset, seed, time_budget
        self.max_categories, self.value_protection, self.sample_batch_size = max_categories, value_protection, sample_batch_size
        self.dp_epsilon, self.dp_delta = dp_epsilon, dp_delta
        self.device, self.threads, self.verbose = device, threads, verbose
        self.hyperparameters = dict(hyperparameters)  # as given; None (or absent): the preset's value

    # ----------------------------------------------------------------------------------------------- configuration
    def _params(self) -> dict[str, Any]:
        """The constructor's arguments, with every hyperparameter (None: the preset's); Synthesizer(**_params()) is a copy."""
        return {**{name: getattr(self, name) for name in SETTINGS},
                **{name: self.hyperparameters.get(name) for name in HYPERPARAMETERS}}

    def _settings(self) -> FitSettings:
        """The settings a fit reads: the preset with this object's hyperparameters applied and validated (and a
        private fit's changes), the other settings checked."""
        config = resolve_config(self.preset, self.hyperparameters)
        check_settings(self.time_budget, self.max_categories, self.sample_batch_size, self.value_protection)
        check_dp(self.dp_epsilon, self.dp_delta)
        config = config if self.dp_epsilon is None else private_config(config, self.hyperparameters, self.preset)
        return FitSettings(config, **{name: getattr(self, name) for name in SETTINGS if name != "preset"})

    # --------------------------------------------------------------------------------------------------- fitting
    def fit(
        self,
        data: pd.DataFrame | str | os.PathLike,
        target: str | None = None,
        *,
        column_types: Mapping[str, str] | None = None,
        task: Literal["classification", "regression"] | None = None,
        callback: Callable[[TrainingStep], None] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        streaming: bool | None = None,
        max_memory_rows: int | None = None,
        work_dir: str | os.PathLike | None = None,
        categories: Mapping[str, Sequence[object]] | None = None,
    ) -> "Synthesizer":
        """Learn the table `data` (DataFrame, or path to CSV/Parquet or a folder of Parquet files); `target` is
        conditioned on if it is a class label. `callback(step)` runs after every training step with a TrainingStep
        (losses, seconds, the EMA model), e.g. to log to an experiment tracker.

        `checkpoint_dir` (a folder, made if missing) keeps one checkpoint of the training, replaced atomically every
        `checkpoint_every` steps (default 500) and at the last step; `resume=True` continues from it, or starts from
        scratch where there is none (PyTorch Lightning's ckpt_path="last"), so one command serves the first run and
        every retry. A fit killed and resumed with the same data, settings and seed ends with the same model as one
        that ran through (bit for bit on one machine, unless a time_budget binds); a checkpoint of another fit is
        refused. checkpoint.py says what is saved; not with dp_epsilon.

        A path larger than streaming.STREAMING_BYTES, or any path with `streaming=True`, is read in record batches and
        never whole (streaming.py): statistics and a sample of `max_memory_rows` rows (default 200,000) in a first
        pass, every row's codes in memory-mapped files in `work_dir` (default: the system's temporary folder) in a
        second; `streamed_` then says how.

        `categories` (with dp_epsilon only) declares the levels that categorical columns or a class target can take,
        known without the data (a code list, the classes: `{"fraud": [0, 1]}`): their noisy counts are released
        without the threshold that otherwise hides levels too rare to survive the noise, so a rare class stays;
        values outside the list are pooled (docs/privacy.md).
        """
        return self._adopt(fit_model(self._settings(), data, FitInput(
            target, column_types, task, callback, (checkpoint_dir, checkpoint_every, resume), streaming,
            max_memory_rows, work_dir, categories)))

    def _adopt(self, fitted: FittedModel) -> "Synthesizer":
        """Keep the fitted model's parts as this object's fitted attributes (`model_`, `encoder_`, ...)."""
        for name in FittedModel.part_names():
            setattr(self, f"{name}_", getattr(fitted, name))
        self.schema_ = fitted.encoder.schema
        return self

    def _fitted(self, method: str) -> FittedModel:
        """The fitted attributes put back together (a NotFittedError naming `method` before fit or load)."""
        self._check_fitted(method)
        return FittedModel(**{name: getattr(self, f"{name}_") for name in FittedModel.part_names()})

    def _check_fitted(self, method: str) -> None:
        """A NotFittedError naming `method` unless fit or load has run."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This Synthesizer is not fitted yet; call fit(data) before {method}.")

    @property
    def schema(self) -> TableSchema:
        """The column kinds learned by `fit` (also saved in the model file)."""
        self._check_fitted("schema")
        return self.schema_

    # -------------------------------------------------------------------------------------------------- sampling
    def sample(self, n: int, seed: Seed = None, conditions: Mapping[str, object] | None = None) -> pd.DataFrame:
        """`n` synthetic rows with the training table's columns, order and dtypes.

        `seed=None` draws fresh randomness on every call (as numpy, scikit-learn and SDV do), so two runs or two
        workers sampling one model never repeat each other; an integer seed repeats its rows. `conditions` fix
        columns in every row: a value (`{"country": "AT"}`), a range for numeric, integer and datetime columns
        (`{"age": (30, 40)}`, inclusive, None for an open end), a list of allowed levels (`{"country": ["AT", "DE"]}`)
        or None for a missing value; the other columns follow the model's conditional distribution
        (transforms/conditions.py). The rows are `sample_chunks(n, seed, conditions=conditions)` put together.

        An `n` whose rows cannot fit in the available memory is refused before anything is generated: write them
        with `sample_chunks` or the CLI's `--out DIR/` instead.
        """
        self._check_fitted("sample")
        if check_row_count(n) > SAMPLE_CHUNK_ROWS:  # one chunk is held anyway
            check_fits_in_memory(n, self.encoder_.bytes_per_row())
        return join_chunks(self.sample_chunks(n, seed, conditions=conditions))

    def sample_chunks(self, n: int, seed: Seed = None, chunk_rows: int | None = None,
                      conditions: Mapping[str, object] | None = None, first_row: int = 0) -> Iterator[pd.DataFrame]:
        """`n` synthetic rows as consecutive tables of at most `chunk_rows` rows (None: SAMPLE_CHUNK_ROWS), each
        generated when it is asked for, so memory stays bounded by `chunk_rows` however large `n` is; with the
        default `chunk_rows` and the same seed they put together the table `sample(n, seed)` returns. Generated keys
        stay unique across chunks. `conditions` as for `sample`. `first_row` counts the rows of the same dataset
        generated elsewhere before these (other partitions: partitioned.py), so that integer keys continue after
        theirs and stay unique across all of them.
        """
        fitted = self._fitted("sample")
        n = check_row_count(n)
        chunk_rows = SAMPLE_CHUNK_ROWS if chunk_rows is None else check_positive_int("chunk_rows", chunk_rows)
        if isinstance(first_row, (bool, np.bool_)) or not isinstance(first_row, (int, np.integer)) or first_row < 0:
            raise ParameterError(f"first_row must be a non-negative integer, got {first_row!r}.")
        rng = numpy_rng(seed)
        if self.threads is not None:
            check_positive_int("threads", self.threads)
        constraints = None if conditions is None else from_conditions(fitted.encoder, conditions, fitted.calibration,
                                                                       rng, fitted.support)
        generator = torch_generator(rng, fitted.device)
        with thread_limit(self.threads):  # the class pilot: once for all n rows
            weights = fitted.class_weights(n, generator, self.sample_batch_size, constraints)
        return fitted.chunks(n, chunk_rows, rng, generator, self.sample_batch_size, self.threads, constraints, weights,
                             int(first_row))

    def sample_remaining_columns(self, known: pd.DataFrame, seed: Seed = None) -> pd.DataFrame:
        """One synthetic row per row of `known`, with that row's non-missing cells kept as they are and every other
        cell (and every column `known` lacks) generated from the model's conditional distribution given them.

        The result has the training table's columns and `known`'s index. A known level never seen in training is
        kept but cannot be conditioned on.
        """
        self._check_fitted("sample_remaining_columns")
        return conditional.remaining_columns(known, seed, self.encoder_, self.calibration_, self._rows)

    def impute(self, data: pd.DataFrame, draws: int = 1, seed: Seed = None) -> pd.DataFrame | list[pd.DataFrame]:
        """`data` with its missing cells filled, each row's generated from the model's conditional distribution given
        that row's observed cells; observed cells, dtypes, index and column order are kept, and `data` is not
        modified. `draws=k` (k > 1) returns a list of k completed copies drawn independently (multiple imputation:
        their spread shows the uncertainty). Columns the model does not know are returned as they are.
        """
        draws = check_positive_int("draws", draws)
        self._check_fitted("impute")
        return conditional.impute(data, draws, seed, self.encoder_, self.calibration_, self._rows)

    def _rows(self, n: int, rng: np.random.Generator, constraints: CodeConstraints) -> pd.DataFrame:
        """n rows, row i meeting row i of `constraints`, generated chunk by chunk and put together."""
        return join_chunks(self._fitted("sample").chunks(n, SAMPLE_CHUNK_ROWS, rng, torch_generator(rng, self.device_),
                                                         self.sample_batch_size, self.threads, constraints))

    # --------------------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one file (safetensors + JSON header; no pickle), atomically (modelfile.py)."""
        return save_model(path, self._params(), self._fitted("save"))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "Synthesizer":
        """Read a model file written by `save`; loads onto `device` (a GPU-trained model loads on a CPU)."""
        resolved = resolve_device(device)  # a bad device is the caller's error, not the file's
        return load_model(path, resolved, lambda params, fitted: cls(**dict(params, device=device))._adopt(fitted))

    def __repr__(self) -> str:
        """The constructor call with the arguments that differ from the defaults, and what a private fit spent."""
        defaults = Synthesizer()._params()
        text = f"Synthesizer({', '.join(f'{k}={v!r}' for k, v in self._params().items() if defaults[k] != v)})"
        spent = getattr(self, "privacy_", None)
        return text if spent is None else f"{text}  # fitted {spent}"
