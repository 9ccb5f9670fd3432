"""Noise schedules as pure functions, computed in float64 and handed out as float32 tensors on a device."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def cosine_alphas_cumprod(num_timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Cumulative signal level of Nichol & Dhariwal's cosine schedule, betas clipped at 0.999; (T,) float64."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0)


@dataclass(frozen=True)
class Schedule:
    """Every per-step coefficient the Gaussian and multinomial processes use; tensors of shape (T,)."""

    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    log_alphas_cumprod: torch.Tensor
    log_1m_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    fixed_large_variance: torch.Tensor  # TabDDPM's sampling variance: beta_t, with the posterior's at the first step

    @property
    def num_timesteps(self) -> int:
        return len(self.alphas)

    @classmethod
    def cosine(cls, num_timesteps: int, device: torch.device | str = "cpu") -> "Schedule":
        """The cosine schedule TabDDPM uses for both its Gaussian and multinomial parts."""
        acp = cosine_alphas_cumprod(num_timesteps)
        acp_prev = torch.cat([torch.ones(1, dtype=torch.float64), acp[:-1]])
        alphas = acp / acp_prev
        posterior_variance = (1 - alphas) * (1 - acp_prev) / (1 - acp)
        values = dict(
            alphas=alphas, alphas_cumprod=acp, alphas_cumprod_prev=acp_prev,
            log_alphas_cumprod=acp.log(), log_1m_alphas_cumprod=(1 - acp).log(),
            posterior_variance=posterior_variance,
            fixed_large_variance=torch.cat([posterior_variance[1:2], 1 - alphas[1:]]),
        )
        return cls(**{k: v.to(device=device, dtype=torch.float32) for k, v in values.items()})


def at(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """values[t] reshaped to broadcast against a tensor with `ndim` dimensions; (B, 1, ...)."""
    return values[t].reshape(-1, *([1] * (ndim - 1)))
