"""Gaussian DDPM for the numeric block (Ho et al. 2020): epsilon prediction, MSE loss, ancestral steps."""

from __future__ import annotations

from typing import Callable

import torch

from .schedules import Schedule, at


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; (B, d)."""
    acp = at(schedule.alphas_cumprod, t, x0.ndim)
    return acp.sqrt() * x0 + (1 - acp).sqrt() * noise


def loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-row mean squared error of the numeric prediction (the noise, or v); (B,). Zero without numeric columns."""
    if target.shape[1] == 0:
        return target.new_zeros(target.shape[0])
    return ((prediction - target) ** 2).mean(dim=1)


def p_sample(
    x_t: torch.Tensor, t: torch.Tensor, eps_pred: torch.Tensor, schedule: Schedule, generator: torch.Generator,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1} with TabDDPM's 'fixed large' variance (beta_t, first step posterior);
    `project` maps the predicted x0 onto what a condition allows before the posterior is formed."""
    acp = at(schedule.alphas_cumprod, t, x_t.ndim)
    acp_prev = at(schedule.alphas_cumprod_prev, t, x_t.ndim)
    alpha = at(schedule.alphas, t, x_t.ndim)
    x0 = (x_t - (1 - acp).sqrt() * eps_pred) / acp.sqrt()
    if project is not None:
        x0 = project(x0)
    mean = (acp_prev.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * (1 - acp_prev) * x_t) / (1 - acp)
    noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
    nonzero = (t > 0).to(x_t.dtype).reshape(-1, 1)
    return mean + nonzero * at(schedule.fixed_large_variance, t, x_t.ndim).sqrt() * noise


def ddim_step(
    x_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, eps_pred: torch.Tensor, schedule: Schedule, eta: float,
    generator: torch.Generator, clip: float | None = None, project: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One DDIM step t -> s (Song et al. 2021); eta = 0 is deterministic, eta = 1 the DDPM posterior; s = -1 gives x0.
    `project` maps the predicted x0 onto what a condition allows (after the clip)."""
    acp_t = at(schedule.alphas_cumprod, t, x_t.ndim)
    acp_s = torch.where(s < 0, 1.0, schedule.alphas_cumprod[s.clamp(min=0)]).reshape(-1, *([1] * (x_t.ndim - 1)))
    x0 = (x_t - (1 - acp_t).sqrt() * eps_pred) / acp_t.sqrt()
    if clip is not None or project is not None:  # keep x0 where the data may lie and use the noise that agrees with it
        x0 = x0 if clip is None else x0.clamp(-clip, clip)
        x0 = x0 if project is None else project(x0)
        eps_pred = (x_t - acp_t.sqrt() * x0) / (1 - acp_t).sqrt()
    sigma = eta * ((1 - acp_s) / (1 - acp_t) * (1 - acp_t / acp_s)).clamp(min=0).sqrt()
    noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
    return acp_s.sqrt() * x0 + (1 - acp_s - sigma**2).clamp(min=0).sqrt() * eps_pred + sigma * noise
