"""Differential privacy's budget: how (epsilon, delta) is split between the preprocessing and DP-SGD, and what each
part spends.

A fit with `dp_epsilon` touches the data in two places only. The preprocessing releases noisy histograms of every
column (transforms/dp_sketch.py: Gaussian mechanisms, accounted in zero-concentrated DP and converted to
(epsilon, delta)), and the denoiser is trained with DP-SGD (Opacus: per-row gradient clipping, Gaussian noise,
Poisson-sampled batches, accounted by Opacus' RDP accountant). The two compose by simple addition of their epsilons
and deltas. Neighbouring tables differ by one row added or removed; the row count is treated as public, as Opacus
does when it sets the sampling rate. PrivacyBudget is one fit's (epsilon, delta) and its parts; private_config is what
a private fit changes in the model config.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from .config import ModelConfig, check_number
from .errors import ParameterError

PREPROCESSING_SHARE = 0.1  # of epsilon, for the column histograms; the rest trains the denoiser
MAX_GRAD_NORM = 1.0  # DP-SGD clips each row's gradient to this L2 norm
ACCOUNTANT = "rdp"  # Opacus' Renyi-DP accountant: the noise multiplier and the training epsilon
# What a private fit uses where the caller does not say: the gradient noise swamps the small steps and the many
# weights of the default (3 x 256 or 3 x 512 at lr 1e-3, up to 10,000 steps), so fewer steps of a narrower
# denoiser at a larger rate (docs/experiments.md, "Differentially private training").
DP_DEFAULTS = {"steps": 800, "d_layers": (256, 256), "lr": 3e-3}


def default_delta(n_rows: int) -> float:
    """delta = 1 / n^1.1: below 1/n, so that the guarantee cannot be met by publishing one row in full."""
    return 1.0 / max(n_rows, 2) ** 1.1


def check_dp(epsilon: object, delta: object) -> None:
    """A ParameterError naming the argument unless dp_epsilon is None or positive, and dp_delta None or in (0, 1)."""
    if epsilon is not None:
        check_number("dp_epsilon", epsilon, "a positive number or None", lambda v: v > 0)
    if delta is not None:
        check_number("dp_delta", delta, "a number in (0, 1) or None", lambda v: 0 < v < 1)
    if delta is not None and epsilon is None:
        raise ParameterError("dp_delta needs dp_epsilon: pass both, or neither for a fit without differential privacy.")


def private_config(config: ModelConfig, given: Mapping[str, object], preset: str) -> ModelConfig:
    """`config` for a differentially private fit: a diffusion process (a flow is refused), with Opacus installed,
    what is found from exact training rows switched off (the memorisation stop, derived and computed columns), a
    float32 loss for Opacus' hooks, and DP_DEFAULTS where the hyperparameters `given` leave a value to the preset."""
    if config.process == "flow":
        raise ParameterError(f"dp_epsilon trains a diffusion model; preset={preset!r} is a flow. Use "
                             "preset='default' or 'tabddpm'.")
    require_opacus()
    return replace(config, min_proximity=0.0, derive_columns=False, compute_columns=False, training_precision="float32",
                   **{k: v for k, v in DP_DEFAULTS.items() if given.get(k) is None})


def zcdp_rho(epsilon: float, delta: float) -> float:
    """The largest rho whose rho-zCDP guarantee converts to (epsilon, delta)-DP (Bun and Steinke 2016, Prop. 1.3:
    epsilon = rho + 2 sqrt(rho log(1/delta)))."""
    log_term = math.log(1 / delta)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


@dataclass(frozen=True)
class PrivacySpent:
    """What a differentially private fit spent, stored in its model file: the total (epsilon, delta) and its parts."""

    epsilon: float
    delta: float
    epsilon_preprocessing: float
    delta_preprocessing: float
    epsilon_training: float
    delta_training: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float = MAX_GRAD_NORM
    accountant: str = ACCOUNTANT

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"({self.epsilon:.3g}, {self.delta:.2g})-differentially private"


def split_budget(epsilon: float, delta: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """((epsilon, delta) of the preprocessing, (epsilon, delta) of DP-SGD): PREPROCESSING_SHARE of epsilon and half
    of delta to the preprocessing."""
    return (PREPROCESSING_SHARE * epsilon, delta / 2), ((1 - PREPROCESSING_SHARE) * epsilon, delta / 2)


@dataclass(frozen=True)
class PrivacyBudget:
    """The (epsilon, delta) one private fit may spend, split between the preprocessing and DP-SGD (split_budget)."""

    epsilon: float
    delta: float

    @classmethod
    def of(cls, epsilon: float, delta: float | None, n_rows: int) -> PrivacyBudget:
        """The budget that dp_epsilon and dp_delta ask for; dp_delta None is default_delta of the table's n_rows."""
        return cls(epsilon, delta or default_delta(n_rows))

    @property
    def preprocessing(self) -> tuple[float, float]:
        """(epsilon, delta) of the preprocessing (the noisy column histograms)."""
        return split_budget(self.epsilon, self.delta)[0]

    @property
    def training(self) -> tuple[float, float]:
        """(epsilon, delta) of DP-SGD."""
        return split_budget(self.epsilon, self.delta)[1]

    def sgd_noise(self, sample_rate: float, steps: int) -> float:
        """DP-SGD's noise multiplier for `steps` steps at `sample_rate` within the training share (noise_multiplier)."""
        return noise_multiplier(*self.training, sample_rate, steps)

    def spent(self, noise: float, sample_rate: float, steps: int) -> PrivacySpent:
        """What the fit spent: the whole preprocessing share plus what Opacus' accountant gives the `steps` DP-SGD
        steps it took (fewer than planned where a time budget stopped training)."""
        (epsilon_pre, delta_pre), (_, delta_sgd) = self.preprocessing, self.training
        epsilon_sgd = training_epsilon(noise, sample_rate, steps, delta_sgd)
        return PrivacySpent(epsilon_pre + epsilon_sgd, self.delta, epsilon_pre, delta_pre, epsilon_sgd, delta_sgd, noise,
                            sample_rate, steps)


def noise_multiplier(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier with which `steps` DP-SGD steps at `sample_rate` stay within (epsilon, delta)."""
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():  # "optimal order is the largest alpha": a looser bound at large epsilon, no error
        warnings.simplefilter("ignore", UserWarning)
        return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                          steps=max(steps, 1), accountant=ACCOUNTANT))


def training_epsilon(noise: float, sample_rate: float, steps: int, delta: float) -> float:
    """The epsilon that Opacus' accountant gives `steps` DP-SGD steps (0 for none)."""
    from opacus.accountants import RDPAccountant

    if steps == 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(noise, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(accountant.get_epsilon(delta))


def require_opacus() -> None:
    """An ImportError naming the extra to install unless Opacus is importable."""
    try:
        import opacus  # noqa: F401
    except ImportError as error:
        raise ImportError("dp_epsilon trains with Opacus, which is not installed: pip install 'tabdiffusion[dp]'.") from error
