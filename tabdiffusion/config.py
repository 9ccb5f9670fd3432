"""Hyperparameters: ModelConfig, the presets that fill it, and the size rules that resolve its automatic fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Small tables train at most EPOCHS_PER_ROW_TENTHS / 10 epochs per row (auto_steps). Four fits of diabetes: DCR share
# 0.545 at one epoch per row, 0.534-0.537 at 0.7-0.8; the price is detection AUC 0.44 -> 0.46-0.48 (insurance
# 0.46 -> 0.51), shape errors about 0.002 higher, and a test score 0.019 lower at 343 steps, about the fit-to-fit
# noise (experiments.md, "Steps on the small tables").
EPOCHS_PER_ROW_TENTHS = 7  # integer tenths: the step count is exact integer arithmetic

# Tables under SMALL_TABLE_ROWS rows get a denoiser half as wide (auto_layers): on the four benchmark tables under it
# (491 to 3,096 training rows) 3 x 256 scored as 3 x 512 over four fits each, in about half the fit time (experiments.md,
# "A narrower denoiser on the small tables").
SMALL_TABLE_ROWS = 5_000

# The memorisation stop of the default and flow presets: sampled rows whose median distance to the closest training
# row falls below this share of the training rows' own leave-one-out distance are too close (proximity.py; experiments.md,
# "The memorisation stop").
MIN_PROXIMITY = 0.8


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
    # the default preset turns it on: gesture +0.02 to +0.05 macro F1 inside the 300 s CPU budget, experiments.md)
    calibrate: bool = False  # after training, map the numeric codes' marginals onto the training codes' (calibration.py)
    derive_columns: bool = False  # numeric columns fixed by a categorical one are derived from it (transforms/derived.py)
    # Numeric columns that others fix exactly (a total, a copy, a length) are computed from them
    # (transforms/computed.py).
    # Off in every preset: the identities then hold in every row, but computed columns skip the marginal calibration
    # (gesture's shape error 0.0122 -> 0.0160 in the harness; docs/experiments.md, "Computed columns").
    compute_columns: bool = False
    process: Literal["diffusion", "flow"] = "diffusion"  # flow: rectified flow plus reflow (diffusion/flow.py)
    reflow_steps: int | None = None  # flow only: training steps of the reflow round (None: 3/4 of steps; 0: none)
    min_proximity: float = 0.0  # stop training when the proximity ratio of sampled rows (proximity.py) falls below
    # this at a check (PROXIMITY_CHECKS per fit), keeping the last weights above it; 0: never check
    timestep_strata: int = 0  # diffusion only: each training batch draws one timestep per stratum of [0, T), shared
    # by its rows (mixed.stratified_timesteps); 0: one independent draw per row, as TabDDPM


PRESETS: dict[str, ModelConfig] = {
    # CPU-friendly starting point; issue 5 tunes it with the benchmark harness.
    "default": ModelConfig(
        d_layers=None, num_timesteps=100, steps=None, batch_size=1024, lr=1e-3, weight_decay=1e-5,
        dropout=0.0, ema_decay=0.999, dequantize=True, sampler="ddim", sampling_steps=50, sampling_precision="auto",
        training_precision="auto", fourier_features=16, d_t=None, film=True, calibrate=True,
        derive_columns=True, timestep_strata=16, min_proximity=MIN_PROXIMITY,
    ),
    # Few-step sampling (issue 5, target 5): a rectified flow with the default's denoiser and encoding, reflowed so
    # that one Euler step draws a row; about 40x the default's sampling speed for some quality (experiments.md).
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


def auto_steps(n_rows: int, batch_size: int) -> int:
    """Training steps for a table of n_rows: about 1000 epochs, at least 3000 and at most 10,000 steps, and never
    more than 0.7 epochs per row of the table (EPOCHS_PER_ROW_TENTHS; at least 100 steps).

    Larger tables need more steps to resolve fine joint structure. Tables under about 2,100 rows would reach
    thousands of epochs at the 3000-step floor and memorise rows: diabetes (491 rows) at 3000 steps puts about 66%
    of its synthetic rows closer to a training row than to a holdout row, at 491 steps 54.5%, at 343 steps 53.4%
    (experiments.md, "Steps on the small tables").
    """
    rows_per_batch = max(1, min(batch_size, n_rows))
    batches_per_epoch = -(-n_rows // rows_per_batch)
    steps = min(10_000, max(3_000, 1_000 * batches_per_epoch))
    return int(max(100, min(steps, EPOCHS_PER_ROW_TENTHS * n_rows * n_rows // (10 * rows_per_batch))))


def auto_layers(n_rows: int) -> tuple[int, ...]:
    """Hidden layers of the default denoiser for a table of n_rows: three of 512 units (TabDDPM's smallest tuned
    widths), or of 256 under SMALL_TABLE_ROWS rows, where the narrower network scores the same in half the time."""
    return (256, 256, 256) if n_rows < SMALL_TABLE_ROWS else (512, 512, 512)


def auto_width(input_width: int) -> int:
    """Width of the denoiser's input projection and embeddings for an input of input_width entries (numeric columns,
    their periodic features and one-hot levels): TabDDPM's 128 up to 1,280 entries, then one unit per 10 entries
    (in steps of 64) up to 512.

    A 128-wide projection of a wide table is a bottleneck: on the generated 200-column table (5,100 input entries)
    512 cut the shape error from 0.141 to 0.047 and detection AUC from 1.000 to 0.716 (experiments.md). Every paper
    benchmark table is under 1,280 entries and keeps 128.
    """
    return int(min(512, max(128, 64 * -(-input_width // 640))))
