"""Multinomial diffusion for the categorical block (Hoogeboom et al. 2021) on flat (B, sum K) tensors.

Each of the F columns has its own number of levels; a row holds every column's levels side by side (the
denoiser's one-hot order), and per-column sums are products with a 0/1 (sum K, F) membership matrix. Everything
runs in probability space: every quantity is a mixture with a uniform floor ((1 - abar) / K > 0 inside a column), so
no log meets zero and no softmax meets inf - inf. That is what keeps this stable with many categorical columns (where
TabDDPM's sliced log-sum-exp goes NaN). The flat layout wastes no entries on padding to the widest column
(experiments.md, "Flat categorical maths", measures what that saves).
"""

from __future__ import annotations

from typing import Callable

import torch

from .schedules import Schedule

PAD = -1.0e4  # logit of a padded entry (pad_logits): its softmax probability is exactly 0 in float32
TINY = 1e-30  # floor under probabilities before a log (only underflowed entries reach it)
SHIFT_FLOOR = 1e-20  # a column whose exps sum below this after the row's shift is shifted by its own maximum


class Layout:
    """Where each column's levels sit in the flat one-hot vector (and in a padded (F, K) grid, for argmax)."""

    def __init__(self, sizes: list[int], device: torch.device | str = "cpu") -> None:
        self.sizes = list(sizes)
        self.n_columns = len(sizes)
        self.width = max(sizes, default=0)
        self.flat_width = sum(sizes)
        sizes_t = torch.tensor(self.sizes, dtype=torch.long)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes_t.cumsum(0)[:-1]]) if sizes else sizes_t
        column_of = torch.repeat_interleave(torch.arange(self.n_columns), sizes_t)  # (sum K,)
        level = torch.arange(self.width)
        mask = level[None, :] < sizes_t[:, None]  # (F, K), built on the CPU and moved once
        self.sizes_t = sizes_t.to(device)
        self.offsets = offsets.to(device)
        self.last = (offsets + sizes_t - 1).to(device)  # each column's last level in the flat order
        self.size = sizes_t.to(torch.float32).to(device)  # (F,)
        self.flat_uniform = (1.0 / sizes_t.clamp(min=1).to(torch.float32)).repeat_interleave(sizes_t).to(device)
        self.membership = (column_of[:, None] == torch.arange(self.n_columns)).to(torch.float32).to(device)  # (sum K, F)
        self.mask = mask.to(device)
        self.flat_index = torch.where(mask, offsets[:, None] + level[None, :], 0).to(device)  # (F, K)

    def flat_onehot(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, F) -> concatenated one-hot vectors (B, sum K), the denoiser's categorical input."""
        out = torch.zeros(codes.shape[0], self.flat_width, device=codes.device)
        return out.scatter_(1, codes + self.offsets, 1.0)

    def column_sums(self, flat: torch.Tensor) -> torch.Tensor:
        """Per-column sums of a flat (B, sum K) tensor; (B, F). A matrix product: on a CPU much faster than a
        segment reduction, exact for 0/1 counts, and differentiable."""
        return flat @ self.membership

    def per_level(self, per_column: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, sum K): every level gets its column's value (finite values; the product with the 0/1
        membership is exact, and faster on a CPU than index_select)."""
        return per_column @ self.membership.T

    def normalized(self, flat: torch.Tensor) -> torch.Tensor:
        """Non-negative flat weights (B, sum K) scaled so that each column sums to 1."""
        return flat / self.per_level(self.column_sums(flat))

    def pad_logits(self, flat: torch.Tensor) -> torch.Tensor:
        """Flat per-level outputs (B, sum K) -> padded logits (B, F, K) with PAD outside each column's levels."""
        padded = flat[:, self.flat_index]
        return torch.where(self.mask, padded, PAD)


def _shifted_exp(flat_logits: torch.Tensor, layout: Layout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits minus a per-column constant, their exps and each column's sum of them; the constant carries no gradient.

    The constant is the row's largest logit, which no exp overflows; if any column's exps then sum under
    SHIFT_FLOOR (all its logits far below another column's), the whole batch uses each column's own maximum.
    """
    shifted = flat_logits - flat_logits.detach().amax(dim=1, keepdim=True)
    exp = shifted.exp()
    sums = layout.column_sums(exp)
    if bool((sums < SHIFT_FLOOR).any()):
        lengths = layout.sizes_t.expand(len(flat_logits), -1).contiguous()
        column_max = torch.segment_reduce(flat_logits.detach(), "max", lengths=lengths, axis=1)
        shifted = flat_logits - layout.per_level(column_max)
        exp = shifted.exp()
        sums = layout.column_sums(exp)
    return shifted, exp, sums


def softmax(flat_logits: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Each column's softmax of flat logits (B, sum K), in the flat order."""
    if layout.n_columns == 0:
        return flat_logits.new_zeros(flat_logits.shape)
    _, exp, sums = _shifted_exp(flat_logits, layout)
    return exp / layout.per_level(sums)


def log_softmax(flat_logits: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Each column's log-softmax of flat logits (B, sum K), in the flat order."""
    shifted, _, sums = _shifted_exp(flat_logits, layout)
    return shifted - layout.per_level(sums.log())


def q_probs(codes_0: torch.Tensor, t: torch.Tensor, schedule: Schedule, layout: Layout) -> torch.Tensor:
    """q(x_t | x_0) = abar_t x_0 + (1 - abar_t) / K for the codes x_0 (B, F); flat (B, sum K)."""
    acp = schedule.alphas_cumprod[t].reshape(-1, 1)
    return layout.flat_onehot(codes_0) * acp + (1 - acp) * layout.flat_uniform


def posterior_weights(
    x0_probs: torch.Tensor, codes_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, schedule: Schedule, layout: Layout
) -> torch.Tensor:
    """q(x_s | x_t, x_0) up to a per-column constant, in probability space; flat (B, sum K).

    Training uses it for the true and the model posterior (x0_probs one-hot or a model's distribution over x_0),
    sampling with any stride s < t; tests check it against Bayes' rule and the two-step composition.
    """
    shape = (-1, 1)
    acp_t = schedule.alphas_cumprod[t].reshape(shape)
    acp_s = torch.where(s < 0, 1.0, schedule.alphas_cumprod[s.clamp(min=0)]).reshape(shape)
    ratio = acp_t / acp_s
    # q(x_s | x_0) = abar_s x0 + (1 - abar_s) / K.
    prev = x0_probs * acp_s + (1 - acp_s) * layout.flat_uniform
    # q(x_t | x_s) as a function of x_s: (1 - ratio) / K everywhere, plus ratio at x_s = x_t.
    at_t = codes_t + layout.offsets
    return (prev * ((1 - ratio) * layout.flat_uniform)).scatter_add(1, at_t, ratio * prev.gather(1, at_t))


def draw(weights: torch.Tensor, layout: Layout, generator: torch.Generator) -> torch.Tensor:
    """Draw one level per column in proportion to non-negative flat weights (B, sum K); (B, F) int64.

    Inverse CDF with one uniform per column: the code is the number of the column's levels whose cumulative
    weight (from the column's start) is below u times the column's total, so a level of zero weight is never
    drawn. Each column is first scaled to sum 1: the running sum crosses every column and stays below F, so a
    column's own cumulative weights keep an absolute precision of about F * 6e-8.
    """
    if layout.n_columns == 0:
        return torch.zeros((len(weights), 0), dtype=torch.long, device=weights.device)
    cdf = layout.normalized(weights).cumsum(dim=1)
    before = cdf.index_select(1, (layout.offsets - 1).clamp(min=0))
    before[:, 0] = 0.0
    cdf.sub_(layout.per_level(before))
    total = cdf.index_select(1, layout.last)
    u = torch.rand((len(weights), layout.n_columns), generator=generator, device=weights.device, dtype=weights.dtype)
    below = cdf < layout.per_level(u.clamp_(min=1e-12) * total)
    return layout.column_sums(below.to(weights.dtype)).long()


def prior_kl(schedule: Schedule, layout: Layout) -> torch.Tensor:
    """KL(q(x_T | x_0) || uniform) per column, the same for every x_0; (F,). A constant of the loss (no gradient)."""
    acp = schedule.alphas_cumprod[-1]
    on = acp + (1 - acp) / layout.size  # probability of x_0's own level at T; the K - 1 others hold (1 - acp) / K
    off = (1 - acp) / layout.size
    return on * torch.log(on * layout.size) + (layout.size - 1) * off * torch.log(off * layout.size)


def loss(
    flat_logits: torch.Tensor, codes_0: torch.Tensor, codes_t: torch.Tensor, t: torch.Tensor, schedule: Schedule,
    layout: Layout, weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """TabDDPM's per-row multinomial loss: T * (KL of the one-step posteriors, or the decoder NLL at t = 0) + prior
    KL, averaged over columns (each weighted by `weights`, where given); (B,). flat_logits (B, sum K); codes_0 the
    data, codes_t its noised codes (B, F).
    """
    if layout.n_columns == 0:
        return flat_logits.new_zeros(flat_logits.shape[0])
    s = t - 1
    log_x0_hat = log_softmax(flat_logits, layout)
    model = posterior_weights(log_x0_hat.exp(), codes_t, t, s, schedule, layout)
    log_z_model = layout.column_sums(model).log()  # (B, F); at least the uniform floor times the kernel's floor
    with torch.no_grad():
        true = layout.normalized(posterior_weights(layout.flat_onehot(codes_0), codes_t, t, s, schedule, layout))
        log_true = true.clamp(min=TINY).log()
    kl = layout.column_sums(true * (log_true - model.clamp(min=TINY).log())) + log_z_model
    # t = 0: -log p(x_0 | x_1) with p(x_0 | x_1) proportional to x0_hat times the step kernel, read at the data's code.
    ratio = schedule.alphas[t].reshape(-1, 1)
    kernel_at_x0 = (1 - ratio) / layout.size + ratio * (codes_0 == codes_t)
    log_x0_hat_at_x0 = log_x0_hat.gather(1, codes_0 + layout.offsets)
    decoder_nll = log_z_model - log_x0_hat_at_x0 - kernel_at_x0.log()
    step_terms = torch.where((t == 0).unsqueeze(-1), decoder_nll, kl)
    if weights is None:
        return (step_terms.sum(-1) * schedule.num_timesteps + prior_kl(schedule, layout).sum()) / layout.n_columns
    # (B, F) per-column weights: 0 leaves a column out
    return ((step_terms * schedule.num_timesteps + prior_kl(schedule, layout)) * weights).sum(-1) / layout.n_columns


def p_sample(
    flat_logits: torch.Tensor, codes_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, schedule: Schedule,
    layout: Layout, generator: torch.Generator, project: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One reverse step t -> s: sample x_s ~ q(x_s | x_t, x0_hat), x0_hat each column's softmax (mapped by `project`
    onto the levels a condition allows); (B, F) codes."""
    if layout.n_columns == 0:
        return codes_t
    x0_probs = softmax(flat_logits, layout)
    if project is not None:
        x0_probs = project(x0_probs)
    return draw(posterior_weights(x0_probs, codes_t, t, s, schedule, layout), layout, generator)
