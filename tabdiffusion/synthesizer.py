"""The Synthesizer: fit a diffusion model to a table, sample new rows, save and load it.

This is the one module that wires schema, transforms, diffusion, the denoiser and training together.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, Mapping, TypeVar

import numpy as np
import pandas as pd
import torch

from . import __version__
from ._random import Seed, numpy_rng, torch_generator
from .config import PRESETS, ModelConfig, auto_layers, auto_steps, auto_width
from .diffusion.flow import Couplings, RectifiedFlow
from .diffusion.mixed import MixedDiffusion
from .errors import ModelFileError, NotFittedError, ParameterError, SchemaError
from .hardware import resolve_device, thread_limit, uses_bfloat16
from .modelfile import read_model_file, write_model_file
from .nn.mlp import MLPDenoiser, reset_parameters
from .proximity import ProximityReference, reference_rows
from .schema import TableSchema, infer_schema
from .tables import as_dataframe
from .training import Checks, History, train
from .transforms.calibration import MarginalCalibration
from .transforms.table import Encoded, TableEncoder

# Marginal calibration (config.calibrate) learns from CALIBRATION_ROWS_PER_ROW codes of the model's per training row,
# between CALIBRATION_MIN_ROWS and CALIBRATION_MAX_ROWS; under a time budget it gets the last CALIBRATION_SHARE of
# it and stops drawing (after at least one batch) when the next batch would not fit. Where the fit's memorisation
# checks timed the sampler and half the time left holds fewer rows than one batch of CALIBRATION_MIN_ROWS, the
# batches shrink to that (calibration_batch; at least CALIBRATION_FLOOR_ROWS), so a tiny budget is not overrun by the
# first batch.
CALIBRATION_ROWS_PER_ROW = 4
CALIBRATION_MIN_ROWS = 2_000
CALIBRATION_MAX_ROWS = 20_000
CALIBRATION_SHARE = 0.05
CALIBRATION_FLOOR_ROWS = 100

# The memorisation stop (config.min_proximity): PROXIMITY_CHECKS evenly spaced checks per fit, each scoring
# PROXIMITY_ROWS sampled rows against the training rows (proximity.py). The checks draw from their own random stream,
# so a fit that the stop never ends is the same, weight for weight, as one without checks.
PROXIMITY_CHECKS = 10
PROXIMITY_ROWS = 500
# A check fails only where the sampled rows are close (proximity below min_proximity) to many training rows: at least
# MIN_DIVERSITY times as many distinct nearest training rows as real rows have. Fewer is a barely trained model
# piling its rows onto a few (proximity.py).
MIN_DIVERSITY = 0.5

# sample() and sample_chunks() decode at most SAMPLE_CHUNK_ROWS rows at a time: what sample_chunks holds in memory,
# whatever n is (the CLI's `sample` writes chunk by chunk). Up to this n, one chunk: the same rows as one batch.
SAMPLE_CHUNK_ROWS = 100_000

# preset="flow": the teacher flow trains for `steps`, then maps REFLOW_PAIRS_PER_ROW noise draws per training row
# (REFLOW_MIN_PAIRS to REFLOW_MAX_PAIRS) to rows with TEACHER_EULER_STEPS Euler steps, and the student (a copy of it)
# trains on those pairs for reflow_steps (None: 3/4 of steps) at REFLOW_LR_SCALE times lr. Under a time budget the
# teacher gets TEACHER_SHARE of it and the couplings at most COUPLING_SHARE of what is left (experiments.md, "A fast preset").
REFLOW_PAIRS_PER_ROW = 4
REFLOW_MIN_PAIRS = 50_000
REFLOW_MAX_PAIRS = 100_000
TEACHER_EULER_STEPS = 50
REFLOW_LR_SCALE = 0.5
TEACHER_SHARE = 0.55
COUPLING_SHARE = 0.25


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_number(name: str, value: object, expected: str, holds: Callable[[float], bool]) -> float:
    """`value` as a float where it is a real, finite number for which holds(value); else a ParameterError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not holds(float(value)):
        raise ParameterError(f"{name} must be {expected}, got {value!r}.")
    return float(value)


def validate_config(config: ModelConfig, preset: str) -> ModelConfig:
    """`config` checked field by field (a ParameterError names the first bad one), with d_layers as a tuple of ints."""
    for name in ("batch_size", "num_timesteps") + (("steps",) if config.steps is not None else ()):
        _check_positive_int(name, getattr(config, name))
    if config.d_layers is not None and (not isinstance(config.d_layers, (tuple, list)) or not config.d_layers or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in config.d_layers)):
        raise ParameterError(f"d_layers must be a non-empty list of positive layer widths, got {config.d_layers!r}.")
    if config.d_t is not None:
        _check_positive_int("d_t", config.d_t)
    _check_number("lr", config.lr, "a positive number", lambda v: v > 0)
    _check_number("weight_decay", config.weight_decay, "a number >= 0", lambda v: v >= 0)
    _check_number("dropout", config.dropout, "a number in [0, 1)", lambda v: 0 <= v < 1)
    _check_number("ema_decay", config.ema_decay, "a number in [0, 1)", lambda v: 0 <= v < 1)
    _check_number("eta", config.eta, "a number in [0, 1]", lambda v: 0 <= v <= 1)
    _check_number("min_proximity", config.min_proximity, "a number from 0 (no memorisation stop) to below 10",
                  lambda v: 0 <= v < 10)
    if config.process not in ("diffusion", "flow"):
        raise ParameterError(f"process={config.process!r}; use 'diffusion' or 'flow'.")
    if config.process == "flow":
        if config.sampler != "euler":
            raise ParameterError(f"sampler={config.sampler!r}, but preset={preset!r} is a flow; its sampler is 'euler'.")
        if config.reflow_steps is not None and (isinstance(config.reflow_steps, bool) or not isinstance(config.reflow_steps, (int, np.integer)) or config.reflow_steps < 0):
            raise ParameterError(f"reflow_steps must be an integer >= 0 (0: no reflow) or None, got {config.reflow_steps!r}.")
        if config.timestep_strata:
            raise ParameterError(f"timestep_strata applies to diffusion presets only; preset={preset!r} is a flow.")
    elif config.sampler not in ("ancestral", "ddim"):
        raise ParameterError(f"sampler={config.sampler!r}; use 'ancestral' (TabDDPM) or 'ddim' (few steps).")
    elif config.reflow_steps is not None:
        raise ParameterError(f"reflow_steps applies to preset='flow' only; preset={preset!r} is a diffusion model.")
    for name in ("dequantize", "film", "calibrate", "derive_columns", "compute_columns"):
        if not isinstance(getattr(config, name), (bool, np.bool_)):
            raise ParameterError(f"{name} must be True or False, got {getattr(config, name)!r}.")
    for name in ("fourier_features", "timestep_strata"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ParameterError(f"{name} must be an integer >= 0 (0 turns it off), got {value!r}.")
    for name in ("sampling_precision", "training_precision"):
        if getattr(config, name) not in ("auto", "float32", "bfloat16"):
            raise ParameterError(f"{name}={getattr(config, name)!r}; use 'auto', 'float32' or 'bfloat16'.")
    if config.sampling_steps is not None:
        _check_positive_int("sampling_steps", config.sampling_steps)
    return config if config.d_layers is None else replace(config, d_layers=tuple(int(d) for d in config.d_layers))


_Part = TypeVar("_Part")


def _draw_until(items: Iterable, deadline: float | None, draw: Callable[..., _Part]) -> list[_Part]:
    """draw(item) for each item in turn, stopping early when the next draw, if it took as long as the last, would end
    past `deadline` (perf_counter seconds; None: never). At least one draw runs."""
    parts = []
    for item in items:
        start = time.perf_counter()
        parts.append(draw(item))
        now = time.perf_counter()
        if deadline is not None and now + (now - start) > deadline:
            break
    return parts


def calibration_batch(batch: int, seconds_left: float, seconds_per_row: float) -> int:
    """Rows per calibration draw: `batch`, or as many as half of `seconds_left` holds at `seconds_per_row` where that
    is fewer (at least CALIBRATION_FLOOR_ROWS; half, since a draw's rate is only estimated, and later draws go on
    while they fit). A budget that leaves room for two whole batches keeps them, so it draws the rows of no budget."""
    return max(min(batch, CALIBRATION_FLOOR_ROWS), min(batch, int(seconds_left / 2 / seconds_per_row)))


def _sampling_seconds_per_row(history: History) -> float | None:
    """The sampler's seconds per row as the fit's quickest memorisation check measured it (sampling and scoring
    PROXIMITY_ROWS rows, so an upper bound); None without checks."""
    timed = [check["seconds"] for check in history.checks]
    return min(timed) / PROXIMITY_ROWS if timed else None


def _draw_labels(frequencies: np.ndarray | None, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor | None:
    """n class labels drawn with the training frequencies (None without a class target)."""
    if frequencies is None:
        return None
    weights = torch.as_tensor(frequencies, dtype=torch.float32, device=device)
    return torch.multinomial(weights, n, replacement=True, generator=generator)


def _generate_codes(diffusion: MixedDiffusion | RectifiedFlow, model: torch.nn.Module, config: ModelConfig,
                    y: torch.Tensor | None, n: int, generator: torch.Generator, batch_size: int, low_precision: bool,
                    steps: int | None) -> Encoded:
    """`n` rows of model codes for labels `y` (or none), with the config's sampler and `steps`, in batches."""
    parts_num, parts_cat = [], []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        x_num, x_cat = diffusion.sample(
            model, stop - start, None if y is None else y[start:stop], generator,
            steps=steps, sampler=config.sampler, eta=config.eta, low_precision=low_precision,
        )
        parts_num.append(x_num.cpu().numpy())
        parts_cat.append(x_cat.cpu().numpy())
    return Encoded(np.concatenate(parts_num), np.concatenate(parts_cat), None if y is None else y.cpu().numpy())


def _check_table(df: pd.DataFrame, target: str | None) -> None:
    """Reject tables that cannot be fitted, naming the problem and the fix."""
    if df.shape[1] == 0:
        raise SchemaError("The table has no columns. Pass a table with at least one column.")
    if len(df) == 0:
        raise SchemaError(f"The table has no rows (columns: {list(df.columns)}). Pass a table with at least one row.")
    if isinstance(df.columns, pd.MultiIndex):
        raise SchemaError("The table has multi-level column names. Flatten them first, e.g. "
                          "df.columns = ['_'.join(map(str, c)) for c in df.columns].")
    unnamed = [c for c in df.columns if not isinstance(c, str)]
    if unnamed:
        raise SchemaError(
            f"Column names must be text; {unnamed[:5]} are {type(unnamed[0]).__name__}. The synthetic table, model files "
            "and column_types= name columns by text, so rename them first, e.g. df.columns = df.columns.astype(str)."
        )
    names = list(df.columns)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaError(f"Column names must be unique; repeated: {duplicates}. Rename them before fitting.")
    if target is not None and target not in names:
        raise SchemaError(f"target={target!r} is not a column of the table. Columns are: {names}.")
    for name in df.columns:
        series = df[name]
        if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
            infinite = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
            if infinite.any():
                raise SchemaError(
                    f"Column {name!r} has {int(infinite.sum())} infinite values (e.g. {series[infinite].iloc[0]}). "
                    "Replace them with NaN (missing) or finite numbers."
                )


class Synthesizer:
    """Learns a table with TabDDPM-style diffusion and generates new rows with the same columns, order and dtypes.

    Parameters are stored as given and checked by `fit` (scikit-learn's convention). Any hyperparameter of
    `ModelConfig` may be passed to override the preset. `time_budget` (seconds) bounds the whole fit: training
    stops early rather than start a step that would end past it. The stopping step then depends on the machine's
    speed, which trades exact reproducibility for wall time.
    """

    def __init__(
        self,
        *,
        preset: Literal["default", "flow", "tabddpm"] = "default",
        seed: int | None = None,
        steps: int | None = None,
        time_budget: float | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float | None = None,
        d_layers: tuple[int, ...] | list[int] | None = None,
        num_timesteps: int | None = None,
        dropout: float | None = None,
        ema_decay: float | None = None,
        sampler: Literal["ancestral", "ddim", "euler"] | None = None,
        sampling_steps: int | None = None,
        eta: float | None = None,
        sampling_precision: Literal["auto", "float32", "bfloat16"] | None = None,
        training_precision: Literal["auto", "float32", "bfloat16"] | None = None,
        dequantize: bool | None = None,
        fourier_features: int | None = None,
        film: bool | None = None,
        calibrate: bool | None = None,
        derive_columns: bool | None = None,
        compute_columns: bool | None = None,
        reflow_steps: int | None = None,
        timestep_strata: int | None = None,
        min_proximity: float | None = None,
        max_categories: int | None = 100,
        sample_batch_size: int = 16384,
        device: str = "auto",
        threads: int | None = None,
        verbose: bool = True,
    ) -> None:
        self.preset, self.seed, self.steps, self.time_budget = preset, seed, steps, time_budget
        self.batch_size, self.lr, self.weight_decay, self.d_layers = batch_size, lr, weight_decay, d_layers
        self.num_timesteps, self.dropout, self.ema_decay = num_timesteps, dropout, ema_decay
        self.sampler, self.sampling_steps, self.eta = sampler, sampling_steps, eta
        self.sampling_precision, self.training_precision = sampling_precision, training_precision
        self.dequantize = dequantize
        self.fourier_features, self.film, self.calibrate = fourier_features, film, calibrate
        self.derive_columns, self.reflow_steps, self.timestep_strata = derive_columns, reflow_steps, timestep_strata
        self.compute_columns = compute_columns
        self.min_proximity = min_proximity
        self.max_categories, self.sample_batch_size = max_categories, sample_batch_size
        self.device, self.threads, self.verbose = device, threads, verbose

    # ----------------------------------------------------------------------------------------------- configuration
    def _config(self) -> ModelConfig:
        """The preset with this object's overrides applied, validated."""
        if self.preset not in PRESETS:
            raise ParameterError(f"preset={self.preset!r} is unknown; use one of {sorted(PRESETS)}.")
        overrides = {
            name: getattr(self, name)
            for name in ("steps", "batch_size", "lr", "weight_decay", "d_layers", "num_timesteps", "dropout", "ema_decay",
                         "sampler", "sampling_steps", "eta", "sampling_precision", "training_precision", "dequantize",
                         "fourier_features", "film", "calibrate", "derive_columns", "compute_columns", "reflow_steps",
                         "timestep_strata", "min_proximity")
            if getattr(self, name) is not None
        }
        config = validate_config(replace(PRESETS[self.preset], **overrides), self.preset)
        if self.time_budget is not None:
            _check_number("time_budget", self.time_budget, "a finite positive number of seconds, or None for no limit",
                          lambda v: v > 0)
        if self.max_categories is not None:
            _check_positive_int("max_categories", self.max_categories)
            if self.max_categories < 2:
                raise ParameterError("max_categories must be at least 2 (one level plus the pooled rare level).")
        _check_positive_int("sample_batch_size", self.sample_batch_size)
        return config

    def _build(self, encoder: TableEncoder, config: ModelConfig, device: torch.device) -> tuple[MixedDiffusion | RectifiedFlow, MLPDenoiser]:
        if config.process == "flow":
            diffusion: MixedDiffusion | RectifiedFlow = RectifiedFlow(len(encoder.numeric_), encoder.category_sizes, device)
        else:
            diffusion = MixedDiffusion(
                len(encoder.numeric_), encoder.category_sizes, config.num_timesteps, device, config.timestep_strata
            )
        d_t = config.d_t or auto_width(MLPDenoiser.input_features(diffusion.input_width, diffusion.n_numeric, config.fourier_features))
        model = MLPDenoiser(
            diffusion.input_width, list(config.d_layers), encoder.n_classes, d_t, config.dropout,
            n_numeric=diffusion.n_numeric, fourier_features=config.fourier_features, film=config.film,
        )
        return diffusion, model

    # --------------------------------------------------------------------------------------------------- fitting
    def fit(
        self,
        data: pd.DataFrame | str | os.PathLike,
        target: str | None = None,
        *,
        column_types: Mapping[str, str] | None = None,
        task: Literal["classification", "regression"] | None = None,
    ) -> "Synthesizer":
        """Learn the table `data` (DataFrame, or path to CSV/Parquet); `target` is conditioned on if it is a class label."""
        started = time.perf_counter()  # the time budget covers the whole fit, reading and encoding included
        with thread_limit(self.threads):
            return self._fit(data, target, column_types, task, started)

    def _fit(self, data: pd.DataFrame | str | os.PathLike, target: str | None, column_types: Mapping[str, str] | None,
             task: str | None, started: float) -> "Synthesizer":
        df = as_dataframe(data)
        if task not in (None, "classification", "regression"):
            raise ParameterError(f"task={task!r}; use 'classification', 'regression' or None (inferred).")
        if task is not None and target is None:
            raise ParameterError("task= needs target=: name the column the task refers to.")
        _check_table(df, target)
        if column_types is not None and not (isinstance(column_types, Mapping) and all(
                isinstance(kind, str) for kind in column_types.values())):
            raise ParameterError(f"column_types must map column names to kinds, e.g. {{'zip': 'categorical'}}; got "
                                 f"{column_types!r}.")
        config = self._config()
        device = resolve_device(self.device)
        seed = int(numpy_rng(None).integers(2**31)) if self.seed is None else self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise ParameterError(f"seed must be an integer from 0 to 2**32 - 1, or None, got {seed!r}.")
        rng = numpy_rng(int(seed))
        schema = infer_schema(df, column_types)
        encoder = TableEncoder(schema, target, task, self.max_categories, seed=int(seed),
                               derive=config.derive_columns, compute=config.compute_columns).fit(df)
        encoded = encoder.encode(df, dequantize=rng if config.dequantize else None)
        if config.steps is None:
            config = replace(config, steps=auto_steps(len(df), config.batch_size))
        if config.d_layers is None:
            config = replace(config, d_layers=auto_layers(len(df)))
        if config.process == "flow" and config.reflow_steps is None:
            config = replace(config, reflow_steps=max(1, 3 * config.steps // 4))
        diffusion, model = self._build(encoder, config, device)
        config = replace(config, d_t=model.d_t)  # the resolved width, so that the model file rebuilds the same network
        reset_parameters(model, torch_generator(rng, "cpu"))
        model.to(device)
        x_num, x_cat = torch.from_numpy(encoded.x_num).to(device), torch.from_numpy(encoded.x_cat).to(device)
        y = None if encoded.y is None else torch.from_numpy(encoded.y).to(device)
        low_precision = uses_bfloat16(config.training_precision, device)
        # 'auto' precisions are resolved here, once, on the fitting machine, and stored in the model file: the same
        # file and seed then sample the same rows on any machine, whatever its hardware would choose.
        config = replace(config, training_precision="bfloat16" if low_precision else "float32",
                         sampling_precision="bfloat16" if uses_bfloat16(config.sampling_precision, device) else "float32")
        deadline = None if self.time_budget is None else started + self.time_budget
        reserved = CALIBRATION_SHARE * self.time_budget if config.calibrate and self.time_budget else 0.0
        reflowing = config.process == "flow" and config.reflow_steps > 0
        checks = self._memorisation_checks(encoder, df, encoded, diffusion, config, device, int(seed))
        left = None if deadline is None else deadline - reserved - time.perf_counter()
        ema, history = train(
            model, diffusion, x_num, x_cat, y,
            steps=config.steps, batch_size=config.batch_size, lr=config.lr,
            time_budget=None if left is None else max(1e-6, left * (TEACHER_SHARE if reflowing else 1.0)),
            weight_decay=config.weight_decay, ema_decay=config.ema_decay, generator=torch_generator(rng, device),
            low_precision=low_precision, verbose=self.verbose, checks=checks,
        )
        if history.stopped_by == "memorisation" and history.kept_step is None:
            warnings.warn(
                f"Rows sampled after {history.steps} training steps already sit closer to training rows than training "
                f"rows sit to each other (proximity ratio {history.checks[-1]['proximity']:.2f}, below min_proximity="
                f"{config.min_proximity}), so training stopped there. The table may be too small or too repetitive to "
                "synthesize without copying rows: check the privacy section of `tabdiffusion report`.",
                UserWarning, stacklevel=2,
            )
        if history.stopped_by == "time_budget" and history.steps < config.steps // 10:
            warnings.warn(
                f"time_budget={self.time_budget} s stopped training after {history.steps} of {config.steps} steps, so the "
                "model is barely trained and its rows will be poor. Raise time_budget or pass fewer steps=.",
                UserWarning, stacklevel=2,
            )
        self.seed_, self.config_, self.schema_, self.encoder_ = int(seed), config, schema, encoder
        self.device_, self.diffusion_, self.model_, self.history_ = device, diffusion, ema, history
        self.reflow_history_ = None
        if reflowing:
            self.model_, self.reflow_history_ = self._reflow(ema, len(df), rng, None if deadline is None else deadline - reserved, low_precision)
        # A budget already spent leaves the model uncalibrated rather than overrun by a calibration draw.
        calibrating = config.calibrate and encoder.numeric_ and (deadline is None or time.perf_counter() < deadline)
        self.calibration_ = (self._fit_calibration(encoded, rng, deadline, _sampling_seconds_per_row(history))
                             if calibrating else None)
        return self

    def _memorisation_checks(self, encoder: TableEncoder, df: pd.DataFrame, encoded: Encoded,
                             diffusion: MixedDiffusion | RectifiedFlow, config: ModelConfig, device: torch.device,
                             seed: int) -> Checks | None:
        """The memorisation stop's checks for this fit: PROXIMITY_CHECKS evenly spaced scores of PROXIMITY_ROWS
        sampled rows (the flow's teacher sampled with TEACHER_EULER_STEPS). None when config.min_proximity is 0 or
        the ratio is undefined (most training rows repeat exactly)."""
        if not config.min_proximity:
            return None
        rng = np.random.default_rng([seed, 2])
        rows = reference_rows(len(df), rng)
        # Distances between the rows' own values, so not the dequantised codes: only the reference's rows are encoded again.
        plain = encoder.encode(df.iloc[rows]) if config.dequantize else encoded.take(rows)
        reference = ProximityReference(encoder, plain, rng)
        if not reference.usable:
            return None
        generator = torch_generator(np.random.default_rng([seed, 3]), device)
        low_precision = uses_bfloat16(config.sampling_precision, device)
        steps = TEACHER_EULER_STEPS if config.process == "flow" else config.sampling_steps

        def probe(model: torch.nn.Module) -> dict[str, float]:
            labels = _draw_labels(encoder.class_frequencies_, PROXIMITY_ROWS, generator, device)
            codes = _generate_codes(diffusion, model.eval(), config, labels, PROXIMITY_ROWS, generator,
                                    self.sample_batch_size, low_precision, steps)
            return reference.score(codes)

        def passes(values: dict[str, float]) -> bool:  # too close to too many training rows fails
            return values["proximity"] >= config.min_proximity or values["diversity"] < MIN_DIVERSITY

        at = frozenset(max(1, round(i * config.steps / PROXIMITY_CHECKS)) for i in range(1, PROXIMITY_CHECKS + 1))
        return Checks(at, probe, passes)

    def _reflow(self, teacher: MLPDenoiser, n_rows: int, rng: np.random.Generator, deadline: float | None,
                low_precision: bool) -> tuple[MLPDenoiser, History]:
        """Reflow (flow preset): pair noise draws with the teacher's rows, then train a copy of the teacher on those
        pairs at the one- and two-step Euler times; returns the student (its EMA copy) and its loss history.

        Under a deadline the couplings stop after COUPLING_SHARE of the time left (at least one batch) and the
        student trains until the deadline.
        """
        config, flow = self.config_, self.diffusion_
        pairs = min(REFLOW_MAX_PAIRS, max(REFLOW_MIN_PAIRS, REFLOW_PAIRS_PER_ROW * n_rows))
        generator = torch_generator(rng, self.device_)
        y_all = self._draw_labels(pairs, generator)
        batch = self.sample_batch_size
        stop = None if deadline is None else time.perf_counter() + COUPLING_SHARE * max(0.0, deadline - time.perf_counter())

        def couple(start: int) -> tuple[torch.Tensor, torch.Tensor]:
            z = torch.randn((min(batch, pairs - start), flow.input_width), generator=generator, device=self.device_)
            labels = None if y_all is None else y_all[start : start + len(z)]
            return z, flow.euler(teacher, z, labels, TEACHER_EULER_STEPS, low_precision)

        coupled = _draw_until(range(0, pairs, batch), stop, couple)
        z, rows_t = torch.cat([part[0] for part in coupled]), torch.cat([part[1] for part in coupled])
        y = None if y_all is None else y_all[: len(z)]
        index = torch.arange(len(z), dtype=torch.float32, device=self.device_)[:, None]
        return train(
            copy.deepcopy(teacher).requires_grad_(True), Couplings(flow, z, rows_t), index,
            torch.zeros((len(z), 0), dtype=torch.long, device=self.device_), y,
            steps=config.reflow_steps, batch_size=config.batch_size, lr=REFLOW_LR_SCALE * config.lr,
            time_budget=None if deadline is None else max(1e-6, deadline - time.perf_counter()),
            weight_decay=config.weight_decay, ema_decay=config.ema_decay, generator=generator,
            low_precision=low_precision, verbose=self.verbose,
        )

    def _draw_labels(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        return _draw_labels(self.encoder_.class_frequencies_, n, generator, self.device_)

    def _fit_calibration(self, encoded: Encoded, rng: np.random.Generator, deadline: float | None,
                         seconds_per_row: float | None) -> MarginalCalibration:
        """Draw codes from the fitted model (fewer if the deadline comes) and learn the maps onto the training codes.

        Snapped columns keep their codes (see calibration.py). `seconds_per_row`, the sampler's cost measured during
        the fit (None: not measured), sizes the batches to the deadline; under a deadline without it, a first draw of
        CALIBRATION_FLOOR_ROWS rows measures it, and more rows are drawn only where the time left holds a batch.
        """
        rows = min(CALIBRATION_MAX_ROWS, max(CALIBRATION_MIN_ROWS, CALIBRATION_ROWS_PER_ROW * len(encoded.x_num)))
        generator = torch_generator(rng, self.device_)
        batch = min(self.sample_batch_size, CALIBRATION_MIN_ROWS)
        parts: list[Encoded] = []
        if deadline is not None and not seconds_per_row:
            began = time.perf_counter()
            parts.append(self._sample_codes(CALIBRATION_FLOOR_ROWS, generator))
            seconds_per_row = (time.perf_counter() - began) / CALIBRATION_FLOOR_ROWS
            rows -= CALIBRATION_FLOOR_ROWS
        if deadline is not None:
            batch = calibration_batch(batch, deadline - time.perf_counter(), seconds_per_row)
        if not parts or time.perf_counter() + batch * seconds_per_row <= deadline:
            parts += _draw_until([batch] * -(-rows // batch), deadline, lambda size: self._sample_codes(size, generator))
        x_num, x_cat = np.concatenate([p.x_num for p in parts]), np.concatenate([p.x_cat for p in parts])
        return MarginalCalibration.fit(x_num, encoded.x_num, self.encoder_.observed_numeric(x_cat),
                                       self.encoder_.observed_numeric(encoded.x_cat), fixed=self.encoder_.snapped_numeric())

    @property
    def schema(self) -> TableSchema:
        """The column kinds learned by `fit` (also saved in the model file)."""
        self._check_fitted("schema")
        return self.schema_

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This Synthesizer is not fitted yet; call fit(data) before {method}.")

    # -------------------------------------------------------------------------------------------------- sampling
    def sample(self, n: int, seed: Seed = None) -> pd.DataFrame:
        """`n` synthetic rows with the training table's columns, order and dtypes.

        `seed=None` draws fresh randomness on every call (as numpy, scikit-learn and SDV do), so two runs or two
        workers sampling one model never repeat each other; an integer seed repeats its rows. The rows are
        `sample_chunks(n, seed)` put together.
        """
        chunks = list(self.sample_chunks(n, seed))
        return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)

    def sample_chunks(self, n: int, seed: Seed = None, chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
        """`n` synthetic rows as consecutive tables of at most `chunk_rows` rows (None: SAMPLE_CHUNK_ROWS), each
        generated when it is asked for, so memory stays bounded by `chunk_rows` however large `n` is; with the
        default `chunk_rows` and the same seed they put together the table `sample(n, seed)` returns. Generated keys
        stay unique across chunks.
        """
        self._check_fitted("sample")
        if isinstance(n, float) and n.is_integer() and n > 0:
            raise ParameterError(f"n must be an integer number of rows, got the float {n!r}; pass int(n).")
        n = _check_positive_int("n", n)
        chunk_rows = SAMPLE_CHUNK_ROWS if chunk_rows is None else _check_positive_int("chunk_rows", chunk_rows)
        rng = numpy_rng(seed)
        if self.threads is not None:
            _check_positive_int("threads", self.threads)
        return self._chunks(n, chunk_rows, rng, torch_generator(rng, self.device_))

    def _chunks(self, n: int, chunk_rows: int, rng: np.random.Generator, generator: torch.Generator) -> Iterator[pd.DataFrame]:
        for first_row in range(0, n, chunk_rows):
            with thread_limit(self.threads):  # per chunk: the caller's code between chunks keeps its own threads
                encoded = self._sample_codes(min(chunk_rows, n - first_row), generator)
                if self.calibration_ is not None:
                    encoded = replace(encoded, x_num=self.calibration_.apply(encoded.x_num).astype(np.float32))
                chunk = self.encoder_.decode(encoded, rng, first_row)
            yield chunk

    def _sample_codes(self, n: int, generator: torch.Generator) -> Encoded:
        """`n` rows of model codes, labels drawn with the training frequencies, in batches of sample_batch_size."""
        config = self.config_
        return _generate_codes(self.diffusion_, self.model_, config, self._draw_labels(n, generator), n, generator,
                               self.sample_batch_size, uses_bfloat16(config.sampling_precision, self.device_),
                               config.sampling_steps)

    # --------------------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one file (safetensors + JSON header; no pickle), atomically."""
        self._check_fitted("save")
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ParameterError(f"save needs a file path, e.g. syn.save('model.tdm'); got {path!r}.")
        encoder_meta, encoder_arrays = self.encoder_.state()
        payload = {
            "tabdiffusion_version": __version__,
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")},
            "seed": self.seed_,
            "config": asdict(self.config_),
            "encoder": encoder_meta,
            "history": asdict(self.history_),
            "reflow_history": None if self.reflow_history_ is None else asdict(self.reflow_history_),
        }
        tensors = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        tensors.update({f"encoder.{k}": v for k, v in encoder_arrays.items()})
        if self.calibration_ is not None:
            tensors.update({f"calibration.{k}": v for k, v in self.calibration_.state().items()})
        return write_model_file(path, payload, tensors)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "Synthesizer":
        """Read a model file written by `save`; loads onto `device` (a GPU-trained model loads on a CPU)."""
        resolved_device = resolve_device(device)  # a bad device is the caller's error, not the file's
        payload, tensors = read_model_file(path)
        try:
            params = dict(payload["params"], device=device)
            synth = cls(**params)
            config = ModelConfig(**{**payload["config"], "d_layers": tuple(payload["config"]["d_layers"])})
            encoder_arrays = {k.removeprefix("encoder."): v.numpy() for k, v in tensors.items() if k.startswith("encoder.")}
            encoder = TableEncoder.from_state(payload["encoder"], encoder_arrays)
            synth.device_ = resolved_device
            diffusion, model = synth._build(encoder, config, synth.device_)
            model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
            history = History(**payload["history"])
            reflow_history = History(**payload["reflow_history"]) if payload.get("reflow_history") else None
            calibration_arrays = {k.removeprefix("calibration."): v.numpy() for k, v in tensors.items() if k.startswith("calibration.")}
            calibration = MarginalCalibration.from_state(calibration_arrays) if calibration_arrays else None
            seed = int(payload["seed"])
            config = validate_config(config, payload["params"].get("preset", "default"))
            synth.seed_, synth.config_, synth.schema_, synth.encoder_ = seed, config, encoder.schema, encoder
            synth.diffusion_, synth.model_, synth.history_ = diffusion, model.to(synth.device_).eval(), history
            synth.calibration_, synth.reflow_history_ = calibration, reflow_history
            synth._check_loaded()
        except Exception as error:  # any inconsistency in the file's content, reported as the file's fault
            raise ModelFileError(
                f"{str(path)!r} cannot be used: its content does not fit together ({type(error).__name__}: {error}). "
                f"It was written by tabdiffusion {payload.get('tabdiffusion_version')}; this is {__version__}. Use the "
                "file as `save` wrote it (the checksum catches damage, not deliberate edits), or save the model again."
            ) from None
        return synth

    def _check_loaded(self) -> None:
        """Draw two rows with a two-step sampler and decode them together with every column's extreme codes, so that
        a model file whose parts do not fit together fails at load rather than at sample."""
        encoder, config, device = self.encoder_, self.config_, self.device_
        frequencies = encoder.class_frequencies_
        if frequencies is not None and (len(frequencies) != encoder.n_classes or not np.isfinite(frequencies).all()
                                        or (frequencies < 0).any() or not frequencies.sum() > 0):
            raise ValueError(f"{len(frequencies)} class frequencies for {encoder.n_classes} classes")
        generator = torch_generator(np.random.default_rng(0), device)
        flow = config.process == "flow"
        x_num, x_cat = self.diffusion_.sample(
            self.model_, 2, self._draw_labels(2, generator), generator, steps=1 if flow else 2,
            sampler="euler" if flow else "ddim", eta=config.eta, low_precision=uses_bfloat16(config.sampling_precision, device),
        )
        sizes = np.asarray(encoder.category_sizes, dtype=np.int64)
        extremes = Encoded(
            np.array([[-8.0] * len(encoder.numeric_), [8.0] * len(encoder.numeric_)], np.float32).reshape(2, -1),
            np.stack([np.zeros_like(sizes), sizes - 1]).reshape(2, -1),
            None if encoder.label_ is None else np.array([0, encoder.n_classes - 1]),
        )
        drawn = Encoded(x_num.cpu().numpy(), x_cat.cpu().numpy(), None)
        codes = Encoded(np.concatenate([drawn.x_num, extremes.x_num]), np.concatenate([drawn.x_cat, extremes.x_cat]),
                        None if extremes.y is None else np.concatenate([extremes.y, extremes.y]))
        if self.calibration_ is not None:
            codes = replace(codes, x_num=self.calibration_.apply(codes.x_num).astype(np.float32))
        encoder.decode(codes, np.random.default_rng(0))

    def __repr__(self) -> str:
        changed = {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}
        defaults = Synthesizer().__dict__
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items() if defaults.get(k) != v)
        return f"Synthesizer({shown})"
