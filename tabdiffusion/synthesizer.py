"""The Synthesizer: fit a diffusion model to a table, sample new rows, save and load it.

This is the one module that wires schema, transforms, diffusion, the denoiser and training together: it orders the
steps, which live next to what they work on. The settings, hyperparameters and their checks are in config.py (the
table and fit's arguments in tables.py, the seed in _random.py); what a differentially private fit prepares in dp.py
(budget, config) and transforms/dp_sketch.py (PrivateFit: schema, task, sketch); the time budget's deadlines in
deadline.py; the precisions chosen for the machine in hardware.py; the training loop, its step reports and its
warnings in training.py; its checkpoints and resuming from them in checkpoint.py; the memorisation stop in
proximity.py, drawing with generation.probe_sampler; reflow in diffusion/flow.py; the marginal calibration in
transforms/calibration.py; batched code generation and what conditions need first in generation.py; conditions as
code constraints in transforms/conditions.py; generation given known cells (sample_remaining_columns, impute) in
conditional.py; tables read in record batches rather than whole (two passes, memory-mapped codes) in
streaming.py; and the model file's layout in modelfile.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from . import conditional
from ._random import Seed, fit_seed, numpy_rng, torch_generator
from .checkpoint import fit_fingerprint, open_checkpoints
from .config import (HYPERPARAMETERS, ModelConfig, auto_width, check_keywords, check_positive_int, check_row_count,
                     check_settings, resolve_config, resolve_sizes)
from .deadline import Deadline
from .diffusion.flow import TEACHER_SHARE, RectifiedFlow, reflow
from .diffusion.mixed import MixedDiffusion
from .diffusion.process import Process
from .distributed import World, check_supported, process_group
from .dp import MAX_GRAD_NORM, PrivacySpent, check_dp, private_config
from .errors import NotFittedError, ParameterError
from .generation import class_likelihoods, draw_labels, needs_class_pilot, probe_generator, probe_sampler, sample_codes
from .hardware import resolve_device, resolve_precisions, thread_limit, uses_bfloat16
from .modelfile import ModelParts, check_loaded, load_model, save_model
from .nn.mlp import MLPDenoiser, reset_parameters
from .proximity import memorisation_checks, sampler_seconds_per_row
from .schema import TableSchema, infer_schema
from .streaming import TableStream, fit_input, wants_streaming
from .tables import as_dataframe, check_fit_input, check_fits_in_memory, join_chunks
from .training import Checks, PrivateTraining, TrainingStep, step_reporter, table_loss, train, warn_if_cut_short
from .transforms.calibration import CALIBRATION_SHARE, calibrate_model
from .transforms.conditions import CodeConstraints, from_conditions
from .transforms.dp_sketch import PrivateFit
from .transforms.protection import PROTECT_ROWS
from .transforms.support import PairSupport
from .transforms.table import Encoded, TableEncoder

# sample() and sample_chunks() decode at most SAMPLE_CHUNK_ROWS rows at a time: what sample_chunks holds in memory,
# whatever n is (the CLI's `sample` writes chunk by chunk). Up to this n, one chunk: the same rows as one batch.
SAMPLE_CHUNK_ROWS = 100_000

# The Synthesizer's keywords besides the model's hyperparameters (config.HYPERPARAMETERS).
SETTINGS = ("preset", "seed", "time_budget", "max_categories", "value_protection", "dp_epsilon", "dp_delta",
            "sample_batch_size", "device", "threads", "verbose")


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

    def _config(self) -> ModelConfig:
        """The preset with this object's hyperparameters applied, validated, and the other settings checked."""
        config = resolve_config(self.preset, self.hyperparameters)
        check_settings(self.time_budget, self.max_categories, self.sample_batch_size, self.value_protection)
        check_dp(self.dp_epsilon, self.dp_delta)
        return config if self.dp_epsilon is None else private_config(config, self.hyperparameters, self.preset)

    def _build(self, encoder: TableEncoder, config: ModelConfig, device: torch.device) -> tuple[Process, MLPDenoiser]:
        """The process (diffusion or flow) and the untrained denoiser that `config` describes for the encoder's layout."""
        if config.process == "flow":
            diffusion: Process = RectifiedFlow(len(encoder.numeric_), encoder.category_sizes, device)
        else:
            diffusion = MixedDiffusion(len(encoder.numeric_), encoder.category_sizes, config.num_timesteps, device,
                                       config.timestep_strata, config.conditioning, config.label_dropout, encoder.n_classes,
                                       config.prediction, config.known_values)
        d_t = config.d_t or auto_width(MLPDenoiser.input_features(diffusion.input_width, diffusion.n_numeric, config.fourier_features))
        model = MLPDenoiser(
            diffusion.input_width, list(config.d_layers), encoder.n_classes, d_t, config.dropout,
            n_numeric=diffusion.n_numeric, fourier_features=config.fourier_features, film=config.film,
            known_width=getattr(diffusion, "known_width", 0), null_label=config.label_dropout > 0,
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
        callback: Callable[[TrainingStep], None] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        streaming: bool | None = None,
        max_memory_rows: int | None = None,
        work_dir: str | os.PathLike | None = None,
    ) -> "Synthesizer":
        """Learn the table `data` (DataFrame, or path to CSV/Parquet or a folder of Parquet files); `target` is
        conditioned on if it is a class label. `callback(step)` runs after every training step with a TrainingStep
        (losses, seconds, the EMA model), e.g. to log to an experiment tracker.

        `checkpoint_dir` (a folder, made if missing) keeps one checkpoint of the training, saved every
        `checkpoint_every` steps (default 500) and at the last step, each replacing the one before in one rename so a
        kill never leaves half a checkpoint (checkpoint.py; safetensors + JSON, never pickled). `resume=True` continues
        from the checkpoint there (`callback` sees the steps after it): a fit killed at any point and resumed with the
        same data, settings and seed ends with the same model, bit for bit on one machine, as one that ran through
        (checkpoint.py says what is saved and what is not). With no checkpoint in the folder, `resume=True` starts from
        scratch (PyTorch Lightning's ckpt_path="last"), so one command serves the first run and every retry; a
        checkpoint of another fit (other seed, settings, data or device) is refused. Without a seed, a resumed fit takes
        the checkpoint's. Without `resume`, a checkpoint there is replaced (with a warning). A `time_budget` counts the
        checkpoint's training seconds as spent (the time after it, up to the kill, is lost, and each run's own set-up
        counts against that run), and a resumed fit that a budget binds is not bitwise the same. Only the training is
        checkpointed: under preset="flow" the teacher's, and a kill during reflow redoes the reflow. Not with dp_epsilon
        (a checkpoint would hold the random state of DP-SGD's noise).

        A path larger than streaming.STREAMING_BYTES, or any path with `streaming=True`, is read in record batches
        and never whole (streaming.py): exact column statistics and a sample of `max_memory_rows` rows (default
        200,000; what bounds memory) in a first pass, every row's codes written to memory-mapped files in `work_dir`
        (default the system's temporary folder; removed after the fit) in a second; `streamed_` then says how.
        """
        started = time.perf_counter()  # the time budget covers the whole fit, reading and encoding included
        if callback is not None and not callable(callback):
            raise ParameterError(f"callback must be a function of one TrainingStep, got {type(callback).__name__}.")
        if self.dp_epsilon is not None and wants_streaming(data, streaming):
            raise ParameterError("dp_epsilon needs the table in memory: pass streaming=False (or a DataFrame) to fit "
                                 "privately, or fit without dp_epsilon.")
        with thread_limit(self.threads), process_group(resolve_device(self.device)) as world, \
                fit_input(data, streaming, max_memory_rows, work_dir) as table:
            return self._fit(table, target, column_types, task, started, callback,
                             (checkpoint_dir, checkpoint_every, resume), world)

    def _fit(self, data: pd.DataFrame | str | os.PathLike | TableStream, target: str | None,
             column_types: Mapping[str, str] | None, task: str | None, started: float,
             callback: Callable[[TrainingStep], None] | None = None,
             checkpoints: tuple[str | os.PathLike | None, int | None, bool] = (None, None, False),
             world: World | None = None) -> "Synthesizer":
        """The fit's steps in order: encode, build, train (and reflow), calibrate; `started` begins the time budget;
        `checkpoints`: fit's checkpoint_dir, checkpoint_every and resume; `world`: this process's rank in a distributed
        fit (distributed.py), every rank running all of the steps. A TableStream (streaming.py) is encoded in two passes
        over its batches, and its rows are trained on from memory-mapped files; the steps that read rows read its
        sample."""
        stream = data if isinstance(data, TableStream) else None
        df = as_dataframe(data) if stream is None else stream.head()
        check_fit_input(df, target, task, column_types)
        config = self._config()
        device = resolve_device(self.device) if world is None else world.device
        verbose = self.verbose and (world is None or world.rank == 0)  # one progress bar per fit
        if world is not None:
            check_supported(self.dp_epsilon, config.process == "flow" and config.reflow_steps > 0
                            and self.time_budget is not None, checkpoints[0] is not None)
        checkpoint = open_checkpoints(*checkpoints, private=self.dp_epsilon is not None)
        seed = fit_seed(self.seed if self.seed is not None or checkpoint is None else checkpoint.seed)
        rng = numpy_rng(seed)
        # Under DP the encoder learns from a noisy sketch, never from the rows (transforms/dp_sketch.py); the sketch's
        # stand-ins for pooled levels need value protection to pool them.
        private = (None if self.dp_epsilon is None else
                   PrivateFit.prepare(df, target, task, column_types, self.dp_epsilon, self.dp_delta, seed))
        protect_rows = PROTECT_ROWS if self.value_protection or private is not None else 0
        streamed = None if stream is None else stream.fit(
            target, task, column_types, self.max_categories, protect_rows, seed, rng, config.derive_columns,
            config.compute_columns, config.dequantize)
        if streamed is None:
            schema, task, fit_table = ((infer_schema(df, column_types), task, df) if private is None else
                                       (private.schema, private.task, private.sketch))
            encoder = TableEncoder(schema, target, task, self.max_categories, seed=seed, derive=config.derive_columns,
                                   compute=config.compute_columns, protect_rows=protect_rows).fit(fit_table)
            df = df if private is None else private.trainable_rows(df, encoder)
            encoded = encoder.encode(df, dequantize=rng if config.dequantize else None)
        else:  # the sample's rows and codes stand for the table's where rows are read besides training
            schema, task, encoder, df, encoded = streamed.schema, streamed.task, streamed.encoder, streamed.sample, streamed.encoded
        n_rows = len(df) if streamed is None else streamed.rows
        config = resolve_sizes(config, n_rows)
        diffusion, model = self._build(encoder, config, device)
        # The resolved width and precisions go into the model file, which then rebuilds the same network and samples
        # the same rows on any machine.
        config = resolve_precisions(replace(config, d_t=model.d_t), device)
        reset_parameters(model, torch_generator(rng, "cpu"))
        model.to(device)
        low_precision = uses_bfloat16(config.training_precision, device)
        # The budget's last CALIBRATION_SHARE is the calibration's; the rest is training's (the teacher's and reflow's).
        deadline = Deadline.after(started, self.time_budget)
        training_deadline = deadline.earlier(CALIBRATION_SHARE * self.time_budget if config.calibrate and self.time_budget else 0.0)
        reflowing = config.process == "flow" and config.reflow_steps > 0
        probes = probe_generator(seed, device)
        found = None if private is not None else memorisation_checks(
            encoder, df, encoded, dequantized=config.dequantize, min_proximity=config.min_proximity, steps=config.steps,
            seed=seed,
            draw=probe_sampler(diffusion, config, encoder.class_frequencies_, self.sample_batch_size, device, probes))
        if checkpoint is not None:  # the sampling batch size changes the checks' draws
            trained = encoded if streamed is None else streamed.arrays  # every row's codes
            checkpoint = checkpoint.bind(
                fit_fingerprint(seed, config, (trained.x_num, trained.x_cat, trained.y), device,
                                {"sample_batch_size": self.sample_batch_size}), {"probe": probes})
        sample_rate = min(1.0, config.batch_size / n_rows)
        dp_sgd = (None if private is None else
                  PrivateTraining(private.budget.sgd_noise(sample_rate, config.steps), MAX_GRAD_NORM, sample_rate))
        if streamed is None:
            x_num, x_cat = torch.from_numpy(encoded.x_num).to(device), torch.from_numpy(encoded.x_cat).to(device)
            y = None if encoded.y is None else torch.from_numpy(encoded.y).to(device)
        on_step = step_reporter(callback, config.steps, diffusion, encoder)
        if world is not None:
            world.check_identical("The encoded rows and initial weights",
                                  [encoded.x_num, encoded.x_cat, encoded.y, *model.state_dict().values()])
        ema, history = train(
            model, table_loss(diffusion, x_num, x_cat, y) if streamed is None else streamed.loss(diffusion, device), n_rows,
            steps=config.steps, batch_size=config.batch_size, lr=config.lr,
            time_budget=training_deadline.budget(TEACHER_SHARE if reflowing else 1.0),
            weight_decay=config.weight_decay, ema_decay=config.ema_decay, generator=torch_generator(rng, device),
            low_precision=low_precision, verbose=verbose, checks=None if found is None else Checks(*found),
            private=dp_sgd, on_step=on_step, world=world, checkpoint=checkpoint,
        )
        warn_if_cut_short(history, config.steps, config.min_proximity, self.time_budget)
        self.seed_, self.config_, self.schema_, self.encoder_ = seed, config, schema, encoder
        self.device_, self.diffusion_, self.model_, self.history_ = device, diffusion, ema, history
        self.distributed_ = None if world is None else world.header()
        self.streamed_ = None if streamed is None else {"rows": streamed.rows, "sample_rows": len(streamed.sample),
                                                        **{f"{k}_seconds": v for k, v in streamed.seconds.items()}}
        self.reflow_history_, self.calibration_ = None, None  # the calibration below samples codes uncalibrated
        self.privacy_ = (None if dp_sgd is None else
                         private.budget.spent(dp_sgd.noise_multiplier, sample_rate, history.steps))
        # Which value pairs occur together is read off the rows: not kept under DP (no unseen-combination warning).
        self.support_ = None if private is not None else PairSupport.fit(
            encoded.x_num, encoder.observed_numeric(encoded.x_cat), encoded.x_cat, encoded.y, encoder.category_sizes,
            encoder.n_classes)
        if reflowing:
            generator = torch_generator(rng, device)
            self.model_, self.reflow_history_ = reflow(
                ema, diffusion, n_rows=n_rows, labels=lambda n: self._draw_labels(n, generator), generator=generator,
                config=config, batch=self.sample_batch_size, deadline=training_deadline, low_precision=low_precision,
                verbose=verbose, train=train if world is None else partial(train, world=world),
            )
        # A budget already spent leaves the model uncalibrated rather than overrun by a calibration draw.
        if config.calibrate and encoder.numeric_ and not deadline.passed():
            # Under DP the calibration's targets are the sketch's codes, not the rows'.
            targets = (encoded if private is None else
                       encoder.encode(fit_table, dequantize=rng if config.dequantize else None))
            generator = torch_generator(rng, device)
            self.calibration_ = calibrate_model(lambda n: self._sample_codes(n, generator), encoder, targets,
                                                max_batch=self.sample_batch_size, deadline=deadline,
                                                seconds_per_row=sampler_seconds_per_row(history.checks))
        return self

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
        self._check_fitted("sample")
        n = check_row_count(n)
        chunk_rows = SAMPLE_CHUNK_ROWS if chunk_rows is None else check_positive_int("chunk_rows", chunk_rows)
        if isinstance(first_row, (bool, np.bool_)) or not isinstance(first_row, (int, np.integer)) or first_row < 0:
            raise ParameterError(f"first_row must be a non-negative integer, got {first_row!r}.")
        rng = numpy_rng(seed)
        if self.threads is not None:
            check_positive_int("threads", self.threads)
        constraints = None if conditions is None else from_conditions(self.encoder_, conditions, self.calibration_, rng,
                                                                       self.support_)
        generator = torch_generator(rng, self.device_)
        return self._chunks(n, chunk_rows, rng, generator, constraints, self._class_weights(n, generator, constraints),
                            int(first_row))

    def _class_weights(self, n: int, generator: torch.Generator, constraints: CodeConstraints | None) -> np.ndarray | None:
        """P(conditions | class) up to a constant (generation.class_likelihoods), once for all `n` rows, where one set
        of conditions leaves the class free; None where the class is drawn with the training frequencies."""
        if not needs_class_pilot(constraints, self.encoder_.n_classes):
            return None
        with thread_limit(self.threads):
            return class_likelihoods(self.diffusion_, self.model_, self.config_, constraints, self.encoder_.n_classes,
                                     self.encoder_.category_sizes, n, generator, self.device_, self.sample_batch_size)

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
        return join_chunks(self._chunks(n, SAMPLE_CHUNK_ROWS, rng, torch_generator(rng, self.device_), constraints))

    def _chunks(self, n: int, chunk_rows: int, rng: np.random.Generator, generator: torch.Generator,
                constraints: CodeConstraints | None = None,
                class_weights: np.ndarray | None = None, first_row: int = 0) -> Iterator[pd.DataFrame]:
        """`n` rows as tables of at most `chunk_rows` rows, each sampled, calibrated and decoded when asked for;
        `class_weights` (1, n_classes) multiply the class frequencies of every chunk (_class_weights); `first_row`
        counts the rows generated before these (sample_chunks), for unique keys."""
        for start in range(0, n, chunk_rows):
            rows = min(chunk_rows, n - start)
            part = None if constraints is None else constraints.rows(start, start + rows)
            with thread_limit(self.threads):  # per chunk: the caller's code between chunks keeps its own threads
                encoded = self._sample_codes(rows, generator, part, class_weights)
                if self.calibration_ is not None:
                    encoded = replace(encoded, x_num=self.calibration_.apply(encoded.x_num).astype(np.float32))
                chunk = self.encoder_.decode(encoded, rng, first_row + start, adjust=None if part is None else part.fix)
            yield chunk

    def _sample_codes(self, n: int, generator: torch.Generator, constraints: CodeConstraints | None = None,
                      class_weights: np.ndarray | None = None) -> Encoded:
        """`n` rows of model codes meeting `constraints` where given (generation.sample_codes), their classes drawn
        with the training frequencies times `class_weights` where given (conditional frequencies)."""
        allowed = None if constraints is None else constraints.labels
        if class_weights is not None:
            allowed = class_weights if allowed is None else allowed * class_weights
        labels = self._draw_labels(n, generator, allowed)
        return sample_codes(self.diffusion_, self.model_, self.config_, labels, n, generator, self.device_,
                            self.sample_batch_size, constraints, self.calibration_)

    def _draw_labels(self, n: int, generator: torch.Generator, allowed: np.ndarray | None = None) -> torch.Tensor | None:
        """n class labels drawn with the training frequencies (None without a class target), among `allowed`."""
        return draw_labels(self.encoder_.class_frequencies_, n, generator, self.device_, allowed)

    # --------------------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one file (safetensors + JSON header; no pickle), atomically (modelfile.py)."""
        self._check_fitted("save")
        return save_model(path, ModelParts(
            self._params(), self.seed_, self.config_, self.encoder_, self.model_.state_dict(), self.history_,
            self.reflow_history_, self.calibration_, self.support_,
            None if self.privacy_ is None else self.privacy_.to_dict(), self.distributed_,
        ))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "Synthesizer":
        """Read a model file written by `save`; loads onto `device` (a GPU-trained model loads on a CPU)."""
        resolved = resolve_device(device)  # a bad device is the caller's error, not the file's

        def restore(parts: ModelParts) -> Synthesizer:
            synth = cls(**dict(parts.params, device=device))
            diffusion, model = synth._build(parts.encoder, parts.config, resolved)
            model.load_state_dict(parts.weights)
            synth.seed_, synth.config_, synth.schema_, synth.encoder_ = parts.seed, parts.config, parts.encoder.schema, parts.encoder
            synth.device_, synth.diffusion_, synth.model_, synth.history_ = resolved, diffusion, model.to(resolved).eval(), parts.history
            synth.calibration_, synth.reflow_history_, synth.support_ = parts.calibration, parts.reflow_history, parts.support
            synth.privacy_ = None if parts.privacy is None else PrivacySpent(**parts.privacy)
            synth.distributed_ = parts.distributed
            check_loaded(parts.encoder, parts.config, diffusion, synth.model_, parts.calibration, resolved, synth._draw_labels)
            return synth

        return load_model(path, restore)

    def __repr__(self) -> str:
        """The constructor call with the arguments that differ from the defaults, and what a private fit spent."""
        defaults = Synthesizer()._params()
        text = f"Synthesizer({', '.join(f'{k}={v!r}' for k, v in self._params().items() if defaults[k] != v)})"
        spent = getattr(self, "privacy_", None)
        return text if spent is None else f"{text}  # fitted {spent}"
