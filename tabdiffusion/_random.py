"""Turn a user seed into explicit numpy and torch generators, once, at the API boundary; check a fit's seed."""

from __future__ import annotations

import numpy as np
import torch

from .errors import ParameterError

Seed = int | np.random.Generator | None


def numpy_rng(seed: Seed) -> np.random.Generator:
    """A numpy Generator from an int, an existing Generator (used as is) or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ParameterError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}.")
    return np.random.default_rng(seed)


def torch_generator(rng: np.random.Generator, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch Generator on `device`, seeded from `rng` so one seed drives both libraries."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return generator


def fit_seed(seed: object) -> int:
    """A fit's seed: `seed` checked (an integer from 0 to 2**32 - 1), or a fresh one where None, so that every fit
    keeps a seed that repeats it."""
    seed = int(numpy_rng(None).integers(2**31)) if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ParameterError(f"seed must be an integer from 0 to 2**32 - 1, or None, got {seed!r}.")
    return int(seed)
