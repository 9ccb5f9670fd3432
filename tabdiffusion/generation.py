"""Model codes from a fitted process and denoiser: class labels, batched sampling, and what conditions need first.

The Synthesizer orders these steps; they work on codes and tensors only (no tables): labels drawn with the training
frequencies (or, under conditions, with their conditional frequencies), rows generated in batches, conditions moved
onto the model's device, and a numeric range drawn before the full pass (sample_codes says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from ._random import torch_generator
from .config import ModelConfig
from .diffusion.constraints import Constraints
from .diffusion.flow import TEACHER_EULER_STEPS
from .diffusion.process import Process
from .transforms.calibration import MarginalCalibration
from .transforms.conditions import CodeConstraints
from .hardware import uses_bfloat16
from .transforms.table import QUANTILE_BOUND, Encoded

# A range condition is drawn first by a projected sampling pass of this many steps (see sample_codes).
RANGE_PASS_STEPS = 10


def draw_labels(frequencies: np.ndarray | None, n: int, generator: torch.Generator, device: torch.device,
                allowed: np.ndarray | None = None) -> torch.Tensor | None:
    """n class labels drawn with the training frequencies (None without a class target), times `allowed` (1 or n,
    n_classes; 0/1 or weights) where given: a condition on the target goes through the label conditioning, and
    conditions on other columns weigh the classes by their likelihood (class_likelihoods)."""
    if frequencies is None:
        return None
    weights = torch.as_tensor(frequencies, dtype=torch.float32, device=device)
    if allowed is None:
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    weights = weights * torch.as_tensor(allowed, dtype=torch.float32, device=device)
    if len(weights) == 1:
        return torch.multinomial(weights[0], n, replacement=True, generator=generator)
    return torch.multinomial(weights, 1, generator=generator)[:, 0]


def generate_codes(diffusion: Process, model: torch.nn.Module, config: ModelConfig,
                   y: torch.Tensor | None, n: int, generator: torch.Generator, batch_size: int, low_precision: bool,
                   steps: int | None, constraints: Constraints | None = None) -> Encoded:
    """`n` rows of model codes for labels `y` (or none), with the config's sampler and `steps`, in batches, each row
    meeting its `constraints` where given."""
    parts_num, parts_cat = [], []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        x_num, x_cat = diffusion.sample(
            model, stop - start, None if y is None else y[start:stop], generator,
            steps=steps, sampler=config.sampler, eta=config.eta, low_precision=low_precision,
            constraints=None if constraints is None else constraints.rows(start, stop),
            **({"guidance": config.guidance} if config.guidance else {}),
        )
        parts_num.append(x_num.cpu().numpy())
        parts_cat.append(x_cat.cpu().numpy())
    return Encoded(np.concatenate(parts_num), np.concatenate(parts_cat), None if y is None else y.cpu().numpy())


# P(class | conditions) is estimated from the model's own rows of each class: ceil(n / classes) rows per class, at
# least PILOT_MIN_ROWS and at most PILOT_MAX_ROWS, drawn with PILOT_STEPS DDIM steps (class_likelihoods).
PILOT_MIN_ROWS, PILOT_MAX_ROWS, PILOT_STEPS = 250, 2_000, 10


def needs_class_pilot(constraints: CodeConstraints | None, n_classes: int) -> bool:
    """Whether one set of conditions restricts some column other than the class and leaves more than one class."""
    if constraints is None or constraints.per_row or not n_classes:
        return False
    classes = n_classes if constraints.labels is None else int(constraints.labels[0].sum())
    return classes > 1 and constraints.restricts_columns


def class_likelihoods(process: Process, model: torch.nn.Module, config: ModelConfig, constraints: CodeConstraints,
                      n_classes: int, category_sizes: list[int], n: int, generator: torch.Generator,
                      device: torch.device, batch_size: int) -> np.ndarray:
    """(1, n_classes) P(conditions | class) up to a constant: the share of the model's rows of each class that meet
    the conditions, with half a row added to every count, so that conditions no pilot row meets leave the training
    frequencies as they are.

    The class is an input of the denoiser, not a column it generates, so conditions on other columns cannot move it
    by themselves; yet a country's incomes are not the whole table's. Bayes' rule, P(class | conditions) ~ P(class)
    P(conditions | class), with the second factor counted on a short draw per class, gives the class its
    conditional frequencies; the rows themselves still meet the conditions by construction.
    """
    rows = int(np.clip(-(-n // n_classes), PILOT_MIN_ROWS, PILOT_MAX_ROWS))
    diffusion = config.process == "diffusion"
    pilot = replace(config, sampler="ddim") if diffusion else config
    low_precision = uses_bfloat16(config.sampling_precision, device)
    classes = np.arange(n_classes) if constraints.labels is None else np.flatnonzero(constraints.labels[0])
    labels = np.repeat(classes, rows)  # every class in one pass
    codes = generate_codes(process, model, pilot, torch.as_tensor(labels, device=device), len(labels), generator,
                           batch_size, low_precision, PILOT_STEPS if diffusion else config.sampling_steps)
    hits = np.bincount(labels[constraints.met_by(codes.x_num, codes.x_cat, category_sizes)], minlength=n_classes)
    return ((hits + 0.5) / (rows + 1))[None, :]


def probe_generator(seed: int, device: torch.device) -> torch.Generator:
    """The memorisation checks' random stream: one of the fit's `seed` of its own, so that checks leave the fit's
    stream as it is."""
    return torch_generator(np.random.default_rng([seed, 3]), device)


def probe_sampler(diffusion: Process, config: ModelConfig, frequencies: np.ndarray | None, batch_size: int,
                  device: torch.device, generator: torch.Generator) -> Callable[[torch.nn.Module, int], Encoded]:
    """draw(model, n) for the memorisation stop's checks during training: n rows of codes from `model` (the EMA copy)
    with the config's sampler (the flow's teacher with TEACHER_EULER_STEPS), labels at the training `frequencies`,
    from `generator` (probe_generator; a checkpoint saves its state)."""
    low_precision = uses_bfloat16(config.sampling_precision, device)
    steps = TEACHER_EULER_STEPS if config.process == "flow" else config.sampling_steps

    def draw(model: torch.nn.Module, n: int) -> Encoded:
        labels = draw_labels(frequencies, n, generator, device)
        return generate_codes(diffusion, model.eval(), config, labels, n, generator, batch_size, low_precision, steps)

    return draw


def constraint_tensors(constraints: CodeConstraints, generator: torch.Generator, device: torch.device) -> Constraints:
    """The constraints on `device`; a fixed numeric column's clean code is a draw inside its codes' interval (a tied
    value's, as dequantised training codes fill it)."""
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=device)

    low, high, known = tensor(constraints.low), tensor(constraints.high), torch.as_tensor(constraints.known_num, device=device)
    spread = torch.rand(low.shape, generator=generator, device=device)
    values = torch.where(known, low + spread * (high - low), torch.zeros_like(low))
    return Constraints(low, high, tensor(constraints.allowed), known, values)


def only_one_range(constraints: CodeConstraints, ranged: np.ndarray) -> bool:
    """Whether the constraints are one numeric range and nothing else, the same for every row."""
    labels_free = constraints.labels is None or constraints.labels.all()
    return (not constraints.per_row and int(ranged.sum()) == 1 and not constraints.known_num.any()
            and constraints.allowed.all() and labels_free)


def truncated_marginal(constraints: CodeConstraints, calibration: MarginalCalibration | None, n: int,
                       generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, d_num) codes whose one ranged column is drawn from its training marginal inside the range, exactly:
    calibrated codes are standard normal by construction (quantile transform, dequantised), so a normal truncated
    to the range's calibrated bounds, mapped back through the calibration (others 0)."""
    low, high = constraints.low, constraints.high
    if calibration is not None:
        low, high = calibration.apply(low), calibration.apply(high)
    column = int(np.flatnonzero((np.isfinite(low) | np.isfinite(high))[0])[0])
    lower, upper = ndtr(low[0, column]), ndtr(high[0, column])
    u = torch.rand(n, generator=generator, device=device, dtype=torch.float64).cpu().numpy()
    codes = np.zeros((n, low.shape[1]))
    codes[:, column] = ndtri(np.clip(lower + u * (upper - lower), QUANTILE_BOUND, 1 - QUANTILE_BOUND))
    if calibration is not None:
        codes = calibration.invert(codes)
    codes[:, column] = np.clip(codes[:, column], constraints.low[0, column], constraints.high[0, column])
    return torch.as_tensor(codes, dtype=torch.float32, device=device)


def sample_codes(process: Process, model: torch.nn.Module, config: ModelConfig, labels: torch.Tensor | None, n: int,
                 generator: torch.Generator, device: torch.device, batch_size: int,
                 constraints: CodeConstraints | None = None, calibration: MarginalCalibration | None = None) -> Encoded:
    """`n` rows of model codes for `labels`, in batches of batch_size, meeting `constraints` where given.

    A model trained with column masks (config.conditioning) is shown fixed columns clean. A range is no fixed value,
    so it is drawn first: a short projected pass gives each row a value inside the range (with the model's joint
    dependence on the other conditions), or, for a single range, a draw from the calibrated marginal truncated to it;
    the full pass then conditions on those values as known.
    """
    low_precision = uses_bfloat16(config.sampling_precision, device)

    def generate(tensors: Constraints | None, steps: int | None) -> Encoded:
        return generate_codes(process, model, config, labels, n, generator, batch_size, low_precision, steps, tensors)

    if constraints is None:
        return generate(None, config.sampling_steps)
    ranged = (np.isfinite(constraints.low) | np.isfinite(constraints.high)) & ~constraints.known_num
    tensors = constraint_tensors(constraints, generator, device)
    if not (ranged.any() and getattr(process, "known_width", 0)):
        return generate(tensors, config.sampling_steps)
    if only_one_range(constraints, ranged):
        drawn = truncated_marginal(constraints, calibration, n, generator, device)
    else:
        drawn = torch.as_tensor(generate(tensors, RANGE_PASS_STEPS).x_num, device=device)
    ranged = torch.as_tensor(ranged, device=device).expand_as(drawn)
    full = Constraints(tensors.low.expand_as(drawn), tensors.high.expand_as(drawn), tensors.allowed.expand(n, -1),
                       tensors.known_num.expand_as(drawn) | ranged, torch.where(ranged, drawn, tensors.values.expand_as(drawn)))
    return generate(full, config.sampling_steps)
