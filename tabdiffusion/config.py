"""Hyperparameters: ModelConfig, the presets that fill it, their validation, and the size rules that resolve its
automatic fields."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from .errors import ParameterError

# Small tables train at most EPOCHS_PER_ROW_TENTHS / 10 epochs per row (auto_steps): fewer epochs per row lower the
# DCR share of the smallest tables' synthetic rows, at a small price in detection AUC and shape error, with a test
# score inside the fit-to-fit noise (experiments.md, "Steps on the small tables").
EPOCHS_PER_ROW_TENTHS = 7  # integer tenths: the step count is exact integer arithmetic

# Tables under SMALL_TABLE_ROWS rows get a denoiser half as wide (auto_layers): on the benchmark tables under it,
# 3 x 256 scores as 3 x 512 over several fits each, in less fit time (experiments.md, "A narrower denoiser on the
# small tables").
SMALL_TABLE_ROWS = 5_000

# The memorisation stop of the default and flow presets: sampled rows whose median distance to the closest training
# row falls below this share of the training rows' own leave-one-out distance are too close (proximity.py;
# experiments.md, "The memorisation stop").
MIN_PROXIMITY = 0.8

# The default preset's column masks (ModelConfig.conditioning): this share of training rows sees a random subset of its
# columns clean, so conditional sampling and imputation condition on them natively; unconditional fidelity is
# unchanged within one fit's noise (docs/experiments.md, "Column masks for conditional generation").
CONDITIONING = 0.75


@dataclass(frozen=True)
class ModelConfig:
    """Every hyperparameter of one fit; a preset fills it and keyword arguments override single fields."""

    d_layers: tuple[int, ...] | None  # None: auto_layers(rows), resolved by fit
    num_timesteps: int
    steps: int | None  # None: auto_steps(rows, batch_size), resolved by fit
    batch_size: int
    lr: float
    weight_decay: float
    dropout: float
    ema_decay: float  # the EMA's decay is min(ema_decay, (1 + s) / (10 + s)) at step s (training.py), so 0.999 takes
    # effect only after step 8,991: below that, ema_decay changes nothing (experiments.md, "The EMA window")
    d_t: int | None = 128  # width of the input projection and embeddings; None: auto_width(input width), resolved by fit
    sampler: Literal["ancestral", "ddim", "euler"] = "ancestral"  # euler: the flow's (process="flow")
    sampling_steps: int | None = None  # None: every training timestep (flow: 1 Euler step)
    eta: float = 1.0  # DDIM noise: 0 deterministic, 1 like DDPM
    sampling_precision: Literal["auto", "float32", "bfloat16"] = "float32"  # auto: where it is faster (bfloat16_is_faster)
    training_precision: Literal["auto", "float32", "bfloat16"] = "float32"  # auto: likewise; bfloat16 runs the
    # training forward pass's matrix products in it
    dequantize: bool = False  # spread tied numeric values over their quantile interval (see transforms.table)
    fourier_features: int = 0  # learned periodic features per numeric column in the denoiser's input (0: none)
    film: bool = False  # modulate every hidden layer by the timestep/label embedding (False: input only, as TabDDPM;
    # the default preset turns it on: it raises gesture's macro F1 inside the benchmark's CPU time budget;
    # experiments.md, "Label conditioning in every layer")
    calibrate: bool = False  # after training, map the numeric codes' marginals onto the training codes' (calibration.py)
    derive_columns: bool = False  # numeric columns fixed by a categorical one are derived from it (transforms/derived.py)
    # Numeric columns that others fix exactly (a total, a copy, a length) are computed from them
    # (transforms/computed.py).
    # Off in every preset: the identities then hold in every row, but computed columns skip the marginal calibration,
    # which raises the shape error (docs/experiments.md, "Computed columns").
    compute_columns: bool = False
    # flow: rectified flow plus reflow (diffusion/flow.py). The preset chooses it, so it is no Synthesizer keyword.
    process: Literal["diffusion", "flow"] = field(default="diffusion", metadata={"keyword": False})
    reflow_steps: int | None = None  # flow only: training steps of the reflow round (None: 3/4 of steps; 0: none)
    min_proximity: float = 0.0  # stop training when the proximity ratio of sampled rows (proximity.py) falls below
    # this at a check (proximity.PROXIMITY_CHECKS per fit), keeping the last weights above it; 0: never check
    timestep_strata: int = 0  # diffusion only: each training batch draws one timestep per stratum of [0, T), shared
    # by its rows (mixed.stratified_timesteps); 0: one independent draw per row, as TabDDPM
    conditioning: float = 0.0  # diffusion only: the share of training rows that see a random subset of their columns
    # clean and flagged as known (mixed.known_columns), so that sampling conditions on any columns natively; 0: none
    label_dropout: float = 0.0  # diffusion only: the share of training rows whose class label is hidden (a null
    # label), which lets sampling use classifier-free guidance; 0: the label is always shown
    guidance: float = 0.0  # classifier-free guidance weight w on the class label at sampling (needs label_dropout):
    # the prediction is uncond + (1 + w)(cond - uncond), two network evaluations per step; 0: none
    prediction: Literal["epsilon", "v"] = "epsilon"  # diffusion only: what the denoiser's numeric outputs predict,
    # the noise (TabDDPM) or v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022), whose loss keeps weighing the
    # clean value where x_t is almost pure noise: where a known column has to place the columns it shapes
    known_values: bool = False  # conditioning models: the denoiser also reads the known columns' clean values in
    # inputs of their own (zero where unknown) beside the known flags (mixed.MixedDiffusion); no effect without them


PRESETS: dict[str, ModelConfig] = {
    # CPU-friendly: tuned with the benchmark harness (docs/design.md, "The default preset in one table").
    "default": ModelConfig(
        d_layers=None, num_timesteps=100, steps=None, batch_size=1024, lr=1e-3, weight_decay=1e-5,
        dropout=0.0, ema_decay=0.999, dequantize=True, sampler="ddim", sampling_steps=50, sampling_precision="auto",
        training_precision="auto", fourier_features=16, d_t=None, film=True, calibrate=True,
        derive_columns=True, timestep_strata=16, min_proximity=MIN_PROXIMITY, conditioning=CONDITIONING,
        prediction="v", known_values=True,
    ),
    # Few-step sampling: a rectified flow with the default's denoiser and encoding, reflowed so
    # that one Euler step draws a row: many times the default's sampling speed for some quality (experiments.md,
    # "A fast preset").
    "flow": ModelConfig(
        d_layers=(512, 512, 512), num_timesteps=100, steps=None, batch_size=1024, lr=1e-3, weight_decay=1e-5,
        dropout=0.0, ema_decay=0.999, dequantize=True, sampler="euler", sampling_steps=1, sampling_precision="auto",
        training_precision="auto", fourier_features=16, d_t=None, film=True, calibrate=True, derive_columns=True,
        process="flow", min_proximity=MIN_PROXIMITY,
    ),
    # TabDDPM as published (Kotelnikov et al. 2023): 1000 steps of diffusion, 30k training steps at batch 4096.
    # The paper tuned d_layers and lr per dataset; pass its tuned values as keywords to reproduce a given dataset.
    "tabddpm": ModelConfig(
        d_layers=(512, 1024, 1024, 512), num_timesteps=1000, steps=30000, batch_size=4096, lr=1e-3,
        weight_decay=0.0, dropout=0.0, ema_decay=0.999,
    ),
}


# The Synthesizer's keywords for the model: every ModelConfig field that a preset does not fix.
HYPERPARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(ModelConfig) if f.metadata.get("keyword", True))


def check_keywords(given: Mapping[str, object], settings: tuple[str, ...]) -> None:
    """Refuse a keyword that is no hyperparameter, naming close matches (among them and `settings`) and the valid names."""
    for name in given:
        if name not in HYPERPARAMETERS:
            close = difflib.get_close_matches(name, HYPERPARAMETERS + settings, n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ParameterError(f"{name!r} is not a Synthesizer parameter.{hint} The model hyperparameters are "
                                 f"{', '.join(HYPERPARAMETERS)}; the other settings are {', '.join(settings)}.")


def check_positive_int(name: str, value: object) -> int:
    """`value` as an int where it is a positive integer (not a bool); else a ParameterError naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_row_count(n: object) -> int:
    """A number of rows to sample as an int where it is a positive integer; a whole float is refused naming int(n)."""
    if isinstance(n, float) and n.is_integer() and n > 0:
        raise ParameterError(f"n must be an integer number of rows, got the float {n!r}; pass int(n).")
    return check_positive_int("n", n)


def check_number(name: str, value: object, expected: str, holds: Callable[[float], bool]) -> float:
    """`value` as a float where it is a real, finite number for which holds(value); else a ParameterError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not holds(float(value)):
        raise ParameterError(f"{name} must be {expected}, got {value!r}.")
    return float(value)


def resolve_config(preset: str, overrides: Mapping[str, object]) -> ModelConfig:
    """The preset's config with the `overrides` that are not None applied, validated (validate_config)."""
    if preset not in PRESETS:
        raise ParameterError(f"preset={preset!r} is unknown; use one of {sorted(PRESETS)}.")
    return validate_config(replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}), preset)


def validate_config(config: ModelConfig, preset: str) -> ModelConfig:
    """`config` checked field by field (a ParameterError names the first bad one), with d_layers as a tuple of ints."""
    for name in ("batch_size", "num_timesteps") + (("steps",) if config.steps is not None else ()):
        check_positive_int(name, getattr(config, name))
    if config.d_layers is not None and (not isinstance(config.d_layers, (tuple, list)) or not config.d_layers or any(
            isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in config.d_layers)):
        raise ParameterError(f"d_layers must be a non-empty list of positive layer widths, got {config.d_layers!r}.")
    if config.d_t is not None:
        check_positive_int("d_t", config.d_t)
    check_number("lr", config.lr, "a positive number", lambda v: v > 0)
    check_number("weight_decay", config.weight_decay, "a number >= 0", lambda v: v >= 0)
    check_number("dropout", config.dropout, "a number in [0, 1)", lambda v: 0 <= v < 1)
    check_number("ema_decay", config.ema_decay, "a number in [0, 1)", lambda v: 0 <= v < 1)
    check_number("eta", config.eta, "a number in [0, 1]", lambda v: 0 <= v <= 1)
    check_number("conditioning", config.conditioning, "a share in [0, 1)", lambda v: 0 <= v < 1)
    check_number("label_dropout", config.label_dropout, "a share in [0, 1)", lambda v: 0 <= v < 1)
    check_number("guidance", config.guidance, "a number >= 0", lambda v: v >= 0)
    if config.guidance and not config.label_dropout:
        raise ParameterError(f"guidance={config.guidance} needs a model trained with label_dropout > 0 (e.g. 0.1), "
                             "which learns the unconditional prediction that guidance contrasts with.")
    check_number("min_proximity", config.min_proximity, "a number from 0 (no memorisation stop) to below 10",
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
        for name in ("conditioning", "label_dropout", "known_values"):
            if getattr(config, name):
                raise ParameterError(f"{name} applies to diffusion presets only; preset={preset!r} is a flow.")
        if config.prediction != "epsilon":
            raise ParameterError(f"prediction={config.prediction!r} applies to diffusion presets only; preset={preset!r} "
                                 "is a flow, which predicts a velocity.")
    elif config.sampler not in ("ancestral", "ddim"):
        raise ParameterError(f"sampler={config.sampler!r}; use 'ancestral' (TabDDPM) or 'ddim' (few steps).")
    elif config.reflow_steps is not None:
        raise ParameterError(f"reflow_steps applies to preset='flow' only; preset={preset!r} is a diffusion model.")
    if config.prediction not in ("epsilon", "v"):
        raise ParameterError(f"prediction={config.prediction!r}; use 'epsilon' (the noise, as TabDDPM) or 'v'.")
    for name in ("dequantize", "film", "calibrate", "derive_columns", "compute_columns", "known_values"):
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
        check_positive_int("sampling_steps", config.sampling_steps)
    return config if config.d_layers is None else replace(config, d_layers=tuple(int(d) for d in config.d_layers))


def check_settings(time_budget: object, max_categories: object, sample_batch_size: object,
                   value_protection: object) -> None:
    """The Synthesizer's settings outside the model config, checked (a ParameterError names the first bad one)."""
    if time_budget is not None:
        check_number("time_budget", time_budget, "a finite positive number of seconds, or None for no limit",
                     lambda v: v > 0)
    if max_categories is not None:
        check_positive_int("max_categories", max_categories)
        if max_categories < 2:
            raise ParameterError("max_categories must be at least 2 (one level plus the pooled rare level).")
    check_positive_int("sample_batch_size", sample_batch_size)
    if not isinstance(value_protection, (bool, np.bool_)):
        raise ParameterError(f"value_protection must be True or False, got {value_protection!r}.")


def auto_steps(n_rows: int, batch_size: int) -> int:
    """Training steps for a table of n_rows: about 1000 epochs, at least 3000 and at most 10,000 steps, and never
    more than 0.7 epochs per row of the table (EPOCHS_PER_ROW_TENTHS; at least 100 steps).

    Larger tables need more steps to resolve fine joint structure. Tables under about 2,100 rows would reach
    thousands of epochs at the 3000-step floor and memorise rows: the fewer epochs per row, the fewer of a small
    table's synthetic rows lie closer to a training row than to a holdout row (experiments.md, "Steps on the small
    tables").
    """
    rows_per_batch = max(1, min(batch_size, n_rows))
    batches_per_epoch = -(-n_rows // rows_per_batch)
    steps = min(10_000, max(3_000, 1_000 * batches_per_epoch))
    return int(max(100, min(steps, EPOCHS_PER_ROW_TENTHS * n_rows * n_rows // (10 * rows_per_batch))))


def auto_layers(n_rows: int) -> tuple[int, ...]:
    """Hidden layers of the default denoiser for a table of n_rows: three of 512 units (TabDDPM's smallest tuned
    widths), or of 256 under SMALL_TABLE_ROWS rows, where the narrower network scores the same in less time
    (experiments.md, "A narrower denoiser on the small tables")."""
    return (256, 256, 256) if n_rows < SMALL_TABLE_ROWS else (512, 512, 512)


def auto_width(input_width: int) -> int:
    """Width of the denoiser's input projection and embeddings for an input of input_width entries (numeric columns,
    their periodic features and one-hot levels): TabDDPM's 128 up to 1,280 entries, then one unit per 10 entries
    (in steps of 64) up to 512.

    A 128-wide projection of a wide table is a bottleneck: on the generated 200-column table (5,100 input entries)
    a 512-wide one cut both the shape error and the detection AUC (experiments.md, the wide200 rows under "Where
    the default stands"). Every paper benchmark table is under 1,280 entries and keeps 128.
    """
    return int(min(512, max(128, 64 * -(-input_width // 640))))


def resolve_sizes(config: ModelConfig, n_rows: int) -> ModelConfig:
    """`config` with the sizes left automatic (None) resolved for a table of n_rows: steps (auto_steps), d_layers
    (auto_layers) and the flow's reflow_steps (3/4 of steps)."""
    if config.steps is None:
        config = replace(config, steps=auto_steps(n_rows, config.batch_size))
    if config.d_layers is None:
        config = replace(config, d_layers=auto_layers(n_rows))
    if config.process == "flow" and config.reflow_steps is None:
        config = replace(config, reflow_steps=max(1, 3 * config.steps // 4))
    return config
