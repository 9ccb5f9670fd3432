"""A fit's steps in order: read and encode the table, build the networks, train (and reflow), calibrate.

The Synthesizer hands its checked settings (FitSettings) and fit's arguments to fit_model and keeps the FittedModel
it returns. Each step lives next to what it works on: the settings and their checks in config.py (the fit's
arguments in tables.py, the seed in _random.py); what a differentially private fit prepares in dp.py and
transforms/dp_sketch.py (PrivateFit: schema, task, sketch); the time budget's deadlines in deadline.py; the precisions
chosen for the machine in hardware.py; the training loop, its step reports and warnings in training.py; checkpoints
and resuming in checkpoint.py; the memorisation stop in proximity.py; reflow in diffusion/flow.py; the marginal
calibration in transforms/calibration.py; tables read in record batches (two passes, memory-mapped codes) in
streaming.py; one process's part of a torchrun fit in distributed.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import partial

import pandas as pd
import torch

from ._random import fit_seed, numpy_rng, torch_generator
from .checkpoint import fit_fingerprint, open_checkpoints
from .config import ModelConfig, resolve_sizes
from .deadline import Deadline
from .diffusion.flow import TEACHER_SHARE, reflow
from .distributed import World, check_supported, process_group
from .dp import MAX_GRAD_NORM
from .errors import ParameterError
from .fitted import FittedModel, build_networks
from .generation import probe_generator, probe_sampler
from .hardware import resolve_device, resolve_precisions, thread_limit, uses_bfloat16
from .nn.mlp import reset_parameters
from .proximity import memorisation_checks, sampler_seconds_per_row
from .schema import infer_schema
from .streaming import TableStream, fit_input, wants_streaming
from .tables import as_dataframe, check_fit_input
from .training import Checks, PrivateTraining, TrainingStep, step_reporter, table_loss, train, warn_if_cut_short
from .transforms.calibration import CALIBRATION_SHARE, calibrate_model
from .transforms.dp_sketch import PrivateFit
from .transforms.protection import PROTECT_ROWS
from .transforms.support import PairSupport
from .transforms.table import TableEncoder


@dataclass(frozen=True)
class FitSettings:
    """The Synthesizer's settings that a fit reads (its constructor's keywords besides `preset` and the
    hyperparameters, which `config` holds), already checked; `config` is the preset with the caller's
    hyperparameters (and a private fit's changes), before it is sized to the table."""

    config: ModelConfig
    seed: int | None
    time_budget: float | None
    max_categories: int | None
    value_protection: bool
    dp_epsilon: float | None
    dp_delta: float | None
    sample_batch_size: int
    device: str
    threads: int | None
    verbose: bool


@dataclass(frozen=True)
class FitInput:
    """fit's arguments besides the table: the target and how to read the table, the step callback, the checkpoints
    (folder, every, resume), how a path is streamed (streaming, max_memory_rows, work_dir) and a private fit's
    declared levels (categories)."""

    target: str | None = None
    column_types: Mapping[str, str] | None = None
    task: str | None = None
    callback: Callable[[TrainingStep], None] | None = None
    checkpoints: tuple[str | os.PathLike | None, int | None, bool] = (None, None, False)
    streaming: bool | None = None
    max_memory_rows: int | None = None
    work_dir: str | os.PathLike | None = None
    categories: Mapping[str, object] | None = None  # transforms/dp_sketch.public_levels


# The Synthesizer's keywords besides the model's hyperparameters (config.HYPERPARAMETERS), in its signature's order.
SETTINGS = ("preset", *(field.name for field in fields(FitSettings) if field.name != "config"))


def fit_model(settings: FitSettings, data: pd.DataFrame | str | os.PathLike, given: FitInput) -> FittedModel:
    """Fit a model of `data` under `settings`: the time budget counts from here, reading and encoding included."""
    started = time.perf_counter()
    if given.callback is not None and not callable(given.callback):
        raise ParameterError(f"callback must be a function of one TrainingStep, got {type(given.callback).__name__}.")
    if settings.dp_epsilon is not None and wants_streaming(data, given.streaming):
        raise ParameterError("dp_epsilon needs the table in memory: pass streaming=False (or a DataFrame) to fit "
                             "privately, or fit without dp_epsilon.")
    if given.categories is not None and settings.dp_epsilon is None:
        raise ParameterError("categories= declares public levels for a differentially private fit; without dp_epsilon "
                             "the levels are read from the data. Pass dp_epsilon, or leave categories out.")
    with thread_limit(settings.threads), process_group(resolve_device(settings.device)) as world, \
            fit_input(data, given.streaming, given.max_memory_rows, given.work_dir) as table:
        return _fit(settings, table, given, started, world)


def _fit(settings: FitSettings, data: pd.DataFrame | TableStream, given: FitInput, started: float,
         world: World | None) -> FittedModel:
    """The fit's steps; `world`: this process's rank in a distributed fit, every rank running all of the steps. A
    TableStream is encoded in two passes over its batches and trained on from memory-mapped files; the steps that
    read rows besides training read its sample."""
    stream = data if isinstance(data, TableStream) else None
    df = as_dataframe(data) if stream is None else stream.head()
    target, column_types, task = given.target, given.column_types, given.task
    check_fit_input(df, target, task, column_types)
    config = settings.config
    device = resolve_device(settings.device) if world is None else world.device
    verbose = settings.verbose and (world is None or world.rank == 0)  # one progress bar per fit
    if world is not None:
        check_supported(settings.dp_epsilon, config.process == "flow" and config.reflow_steps > 0
                        and settings.time_budget is not None, given.checkpoints[0] is not None)
    checkpoint = open_checkpoints(*given.checkpoints, private=settings.dp_epsilon is not None)
    seed = fit_seed(settings.seed if settings.seed is not None or checkpoint is None else checkpoint.seed)
    rng = numpy_rng(seed)
    # Under DP the encoder learns from a noisy sketch, never from the rows (transforms/dp_sketch.py); the sketch's
    # stand-ins for pooled levels need value protection to pool them.
    private = (None if settings.dp_epsilon is None else
               PrivateFit.prepare(df, target, task, column_types, settings.dp_epsilon, settings.dp_delta, seed,
                                  given.categories))
    protect_rows = PROTECT_ROWS if settings.value_protection or private is not None else 0
    streamed = None if stream is None else stream.fit(
        target, task, column_types, settings.max_categories, protect_rows, seed, rng, config.derive_columns,
        config.compute_columns, config.dequantize)
    if streamed is None:
        task, fit_table = (task, df) if private is None else (private.task, private.sketch)
        encoder = TableEncoder(infer_schema(df, column_types) if private is None else private.schema, target, task,
                               settings.max_categories, seed=seed, derive=config.derive_columns,
                               compute=config.compute_columns, protect_rows=protect_rows).fit(fit_table)
        df = df if private is None else private.trainable_rows(df, encoder)
        encoded = encoder.encode(df, dequantize=rng if config.dequantize else None)
    else:  # the sample's rows and codes stand for the table's where rows are read besides training
        encoder, df, encoded = streamed.encoder, streamed.sample, streamed.encoded
    n_rows = len(df) if streamed is None else streamed.rows
    config = resolve_sizes(config, n_rows)
    diffusion, model = build_networks(encoder, config, device)
    # The resolved width and precisions go into the model file, which then rebuilds the same network and samples
    # the same rows on any machine.
    config = resolve_precisions(replace(config, d_t=model.d_t), device)
    reset_parameters(model, torch_generator(rng, "cpu"))
    model.to(device)
    low_precision = uses_bfloat16(config.training_precision, device)
    # The budget's last CALIBRATION_SHARE is the calibration's; the rest is training's (the teacher's and reflow's).
    budget = settings.time_budget
    deadline = Deadline.after(started, budget)
    training_deadline = deadline.earlier(CALIBRATION_SHARE * budget if config.calibrate and budget else 0.0)
    reflowing = config.process == "flow" and config.reflow_steps > 0
    probes = probe_generator(seed, device)
    found = None if private is not None else memorisation_checks(
        encoder, df, encoded, dequantized=config.dequantize, min_proximity=config.min_proximity, steps=config.steps,
        seed=seed, draw=probe_sampler(diffusion, config, encoder.class_frequencies_, settings.sample_batch_size,
                                      device, probes))
    if checkpoint is not None:  # the sampling batch size changes the checks' draws
        trained = encoded if streamed is None else streamed.arrays  # every row's codes
        checkpoint = checkpoint.bind(
            fit_fingerprint(seed, config, (trained.x_num, trained.x_cat, trained.y), device,
                            {"sample_batch_size": settings.sample_batch_size}), {"probe": probes})
    sample_rate = min(1.0, config.batch_size / n_rows)
    dp_sgd = (None if private is None else
              PrivateTraining(private.budget.sgd_noise(sample_rate, config.steps), MAX_GRAD_NORM, sample_rate))
    if streamed is None:
        x_num, x_cat = torch.from_numpy(encoded.x_num).to(device), torch.from_numpy(encoded.x_cat).to(device)
        y = None if encoded.y is None else torch.from_numpy(encoded.y).to(device)
    on_step = step_reporter(given.callback, config.steps, diffusion, encoder)
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
    warn_if_cut_short(history, config.steps, config.min_proximity, budget)
    fitted = FittedModel(
        seed, config, encoder, device, diffusion, ema, history,
        privacy=None if dp_sgd is None else private.budget.spent(dp_sgd.noise_multiplier, sample_rate, history.steps),
        # Which value pairs occur together is read off the rows: not kept under DP (no unseen-combination warning).
        support=None if private is not None else PairSupport.fit(
            encoded.x_num, encoder.observed_numeric(encoded.x_cat), encoded.x_cat, encoded.y, encoder.category_sizes,
            encoder.n_classes),
        distributed=None if world is None else world.header(),
        streamed=None if streamed is None else {"rows": streamed.rows, "sample_rows": len(streamed.sample),
                                                **{f"{k}_seconds": v for k, v in streamed.seconds.items()}},
    )
    if reflowing:
        generator = torch_generator(rng, device)
        fitted.model, fitted.reflow_history = reflow(
            ema, diffusion, n_rows=n_rows, labels=lambda n: fitted.draw_labels(n, generator), generator=generator,
            config=config, batch=settings.sample_batch_size, deadline=training_deadline, low_precision=low_precision,
            verbose=verbose, train=train if world is None else partial(train, world=world),
        )
    # A budget already spent leaves the model uncalibrated rather than overrun by a calibration draw; the calibration
    # samples the codes uncalibrated.
    if config.calibrate and encoder.numeric_ and not deadline.passed():
        # Under DP the calibration's targets are the sketch's codes, not the rows'.
        targets = (encoded if private is None else
                   encoder.encode(fit_table, dequantize=rng if config.dequantize else None))
        generator = torch_generator(rng, device)
        fitted.calibration = calibrate_model(
            lambda n: fitted.sample_codes(n, generator, settings.sample_batch_size), encoder, targets,
            max_batch=settings.sample_batch_size, deadline=deadline,
            seconds_per_row=sampler_seconds_per_row(history.checks))
    return fitted
