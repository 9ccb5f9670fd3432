"""The generative process interface: what training, generation and the synthesizer use of MixedDiffusion (Gaussian
plus multinomial diffusion) and RectifiedFlow, so that either can be fitted and sampled the same way."""

from __future__ import annotations

from typing import Protocol

import torch

from .constraints import Constraints
from .mixed import Denoiser


class Process(Protocol):
    """A process over encoded rows: n_numeric quantile-normal columns and categorical codes (layout), whose denoiser
    reads input_width entries per row (plus known_width flags for a model trained with column masks)."""

    n_numeric: int
    input_width: int
    device: torch.device

    def loss(self, model: Denoiser, x_num: torch.Tensor, x_cat: torch.Tensor, y: torch.Tensor | None,
             generator: torch.Generator, low_precision: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean numeric and categorical training losses of a batch of rows."""
        ...

    def sample(self, model: Denoiser, n: int, y: torch.Tensor | None, generator: torch.Generator, *,
               steps: int | None = None, sampler: str = ..., eta: float = ..., low_precision: bool = False,
               constraints: Constraints | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n rows of numeric codes (n, n_numeric) and categorical codes (n, F), meeting `constraints` where given."""
        ...
