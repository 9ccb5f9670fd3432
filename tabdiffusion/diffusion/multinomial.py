"""Multinomial diffusion for the categorical block (Hoogeboom et al. 2021), in log space on padded (B, F, K) tensors.

Each of the F columns has its own number of levels; columns are padded to the widest, and padded entries hold a large
negative log-probability (never -inf) so that no sum, softmax or gradient meets inf - inf. That is what keeps this
stable with many categorical columns, where TabDDPM's sliced log-sum-exp goes NaN.
"""

from __future__ import annotations

import math

import torch

from .schedules import Schedule, at

PAD = -1.0e4  # log-probability of a padded entry: exp(PAD) is exactly 0 in float32
LOG_EPS = math.log(1e-30)  # log of a zero entry of a one-hot vector, as in TabDDPM


class Layout:
    """Where each column's levels sit in the flat one-hot vector and in the padded (F, K) grid."""

    def __init__(self, sizes: list[int], device: torch.device | str = "cpu") -> None:
        self.sizes = list(sizes)
        self.n_columns = len(sizes)
        self.width = max(sizes, default=0)
        self.flat_width = sum(sizes)
        offsets = torch.tensor([0] + self.sizes[:-1], dtype=torch.long).cumsum(0) if sizes else torch.zeros(0, dtype=torch.long)
        level = torch.arange(self.width)
        sizes_t = torch.tensor(self.sizes, dtype=torch.long)
        mask = level[None, :] < sizes_t[:, None]  # (F, K), built on the CPU and moved once
        self.offsets = offsets.to(device)
        self.mask = mask.to(device)
        self.flat_index = torch.where(mask, offsets[:, None] + level[None, :], 0).to(device)  # (F, K)
        self.log_size = sizes_t.to(torch.float32).log().reshape(1, -1, 1).to(device)  # (1, F, 1)
        self.uniform = (mask / sizes_t.clamp(min=1)[:, None]).to(torch.float32).unsqueeze(0).to(device)  # (1, F, K)

    def pad_logits(self, flat: torch.Tensor) -> torch.Tensor:
        """Flat per-level outputs (B, sum K) -> padded logits (B, F, K) with PAD outside each column's levels."""
        padded = flat[:, self.flat_index]
        return torch.where(self.mask, padded, PAD)

    def log_onehot(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, F) -> log one-hot (B, F, K): 0 at the code, log(1e-30) elsewhere, PAD outside."""
        onehot = torch.nn.functional.one_hot(codes, self.width).to(torch.float32) if self.width else codes.new_zeros((*codes.shape, 0), dtype=torch.float32)
        return torch.where(self.mask, torch.where(onehot > 0, 0.0, LOG_EPS), PAD)

    def flat_onehot(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, F) -> concatenated one-hot vectors (B, sum K), the denoiser's categorical input."""
        out = torch.zeros(codes.shape[0], self.flat_width, device=codes.device)
        return out.scatter_(1, codes + self.offsets, 1.0)

    def normalize(self, log_p: torch.Tensor) -> torch.Tensor:
        """Renormalise log-probabilities per column over its own levels; (B, F, K)."""
        return torch.where(self.mask, log_p - torch.logsumexp(log_p, dim=-1, keepdim=True), PAD)


def q_pred(log_x0: torch.Tensor, t: torch.Tensor, schedule: Schedule, layout: Layout) -> torch.Tensor:
    """log q(x_t | x_0) = log(abar_t x_0 + (1 - abar_t) / K)."""
    a = at(schedule.log_alphas_cumprod, t, 3)
    b = at(schedule.log_1m_alphas_cumprod, t, 3)
    return torch.where(layout.mask, torch.logaddexp(log_x0 + a, b - layout.log_size), PAD)


def posterior(
    log_x0: torch.Tensor, log_x_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, schedule: Schedule, layout: Layout
) -> torch.Tensor:
    """log q(x_s | x_t, x_0) for any s < t, normalised: q(x_t | x_s) q(x_s | x_0), with abar_{-1} = 1 (s = -1 is data).

    q(x_t | x_s) = Cat(abar_t / abar_s * x_s + (1 - abar_t / abar_s) / K), so s = t - 1 is one ancestral step
    (at t = 0 this is TabDDPM's x_0-times-kernel decoder) and larger gaps give the few-step sampler.
    """
    before_data = (s < 0).reshape(-1, 1, 1)
    log_acp_s = torch.where(before_data, 0.0, at(schedule.log_alphas_cumprod, s.clamp(min=0), 3))
    log_ratio = (at(schedule.log_alphas_cumprod, t, 3) - log_acp_s).clamp(max=-1e-12)
    prev = torch.where(before_data, log_x0, q_pred(log_x0, s.clamp(min=0), schedule, layout))
    kernel = torch.where(layout.mask, torch.logaddexp(log_x_t + log_ratio, torch.log(-torch.expm1(log_ratio)) - layout.log_size), PAD)
    return layout.normalize(prev + kernel)


def q_posterior(log_x0: torch.Tensor, log_x_t: torch.Tensor, t: torch.Tensor, schedule: Schedule, layout: Layout) -> torch.Tensor:
    """log q(x_{t-1} | x_t, x_0), normalised (TabDDPM's q_posterior)."""
    return posterior(log_x0, log_x_t, t, t - 1, schedule, layout)


def sample_codes(log_p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Draw one level per column with the Gumbel-max trick; (B, F, K) -> (B, F) int64."""
    if log_p.shape[1] == 0:
        return torch.zeros(log_p.shape[:2], dtype=torch.long, device=log_p.device)
    u = torch.rand(log_p.shape, generator=generator, device=log_p.device).clamp_(1e-20, 1 - 1e-7)
    return (log_p - (-u.log()).log()).argmax(dim=-1)


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) summed over columns and levels; (B,)."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=(1, 2))


def loss(
    logits: torch.Tensor, log_x0: torch.Tensor, log_x_t: torch.Tensor, t: torch.Tensor, schedule: Schedule, layout: Layout
) -> torch.Tensor:
    """TabDDPM's per-row multinomial loss: T * L_t (decoder NLL at t=0) + prior KL, averaged over columns; (B,)."""
    if layout.n_columns == 0:
        return log_x0.new_zeros(log_x0.shape[0])
    log_x0_hat = layout.normalize(logits)
    true_posterior = q_posterior(log_x0, log_x_t, t, schedule, layout)
    model_posterior = q_posterior(log_x0_hat, log_x_t, t, schedule, layout)
    kl = _kl(true_posterior, model_posterior)
    decoder_nll = -(log_x0.exp() * model_posterior).sum(dim=(1, 2))
    step_term = torch.where(t == 0, decoder_nll, kl)
    last = torch.full_like(t, schedule.num_timesteps - 1)
    prior = _kl(q_pred(log_x0, last, schedule, layout), layout.normalize(torch.zeros_like(log_x0)))
    return (step_term * schedule.num_timesteps + prior) / layout.n_columns


def posterior_weights(
    x0_probs: torch.Tensor, codes_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, schedule: Schedule, layout: Layout
) -> torch.Tensor:
    """q(x_s | x_t, x_0) up to a per-column constant, in probability space; (B, F, K), zero outside each column.

    The sampler's fast path: the same posterior as `posterior` (tests check they agree) without the log-space
    bookkeeping that training needs for stable gradients. x0_probs may be a model's distribution over x_0.
    """
    shape = (-1, 1, 1)
    acp_t = schedule.alphas_cumprod[t].reshape(shape)
    acp_s = torch.where(s < 0, 1.0, schedule.alphas_cumprod[s.clamp(min=0)]).reshape(shape)
    ratio = acp_t / acp_s
    # q(x_s | x_0) = abar_s x0 + (1 - abar_s) / K, zero outside each column's levels.
    prev = x0_probs * acp_s + (1 - acp_s) * layout.uniform
    # q(x_t | x_s) as a function of x_s: (1 - ratio) / K everywhere, plus ratio at x_s = x_t.
    weights = prev * ((1 - ratio) * layout.uniform)
    at_t = codes_t.unsqueeze(-1)
    return weights.scatter_add_(-1, at_t, ratio * prev.gather(-1, at_t))


def sample_weights(weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Draw one level per column in proportion to non-negative weights; (B, F, K) -> (B, F) int64.

    Inverse CDF with one uniform per column: the code is the first level whose cumulative weight reaches
    u * total, so a level of zero weight (a padded one included) is never drawn.
    """
    if weights.shape[1] == 0:
        return torch.zeros(weights.shape[:2], dtype=torch.long, device=weights.device)
    cdf = weights.cumsum(dim=-1)
    u = torch.rand((*weights.shape[:2], 1), generator=generator, device=weights.device, dtype=weights.dtype)
    return (cdf < u.clamp_(min=1e-12) * cdf[..., -1:]).sum(dim=-1)


def p_sample(
    logits: torch.Tensor, codes_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, schedule: Schedule, layout: Layout,
    generator: torch.Generator,
) -> torch.Tensor:
    """One reverse step t -> s: sample x_s ~ q(x_s | x_t, x0_hat) with x0_hat = softmax(logits); (B, F) codes."""
    if layout.n_columns == 0:
        return codes_t
    x0_probs = torch.softmax(logits, dim=-1)  # padded entries hold PAD, so their probability is exactly 0
    return sample_weights(posterior_weights(x0_probs, codes_t, t, s, schedule, layout), generator)
