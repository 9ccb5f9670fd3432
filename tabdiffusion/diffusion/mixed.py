"""TabDDPM's joint process: Gaussian diffusion on the numeric block and multinomial diffusion on the categorical block.

The denoiser is any callable `model(x_in, t, y) -> out`, where x_in = [x_num_t ; one-hot(x_cat_t)] (B, d_num + sum K)
and out holds the predicted noise for the numerics followed by x_0 logits for every categorical level.
Training (`loss`) and sampling (`sample`) live side by side so they cannot disagree on the parameterisation.
"""

from __future__ import annotations

from typing import Callable

import torch

from . import gaussian, multinomial
from .constraints import Constraints
from .schedules import Schedule, at

NORMAL_CLIP = 5.2  # quantile-normal data never leave +-5.2 (QuantileTransformer clips at 1e-7)

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def stratified_timesteps(
    batch: int, num_timesteps: int, strata: int, generator: torch.Generator, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(batch,) timesteps, each uniform on 0..T-1, drawn as one value per stratum of [0, T) shared by batch / strata rows.

    The rows (already in random order) take the strata in turn from a random offset, so every stratum holds about
    batch / strata rows and each row's timestep is uniform in expectation. A batch then holds at most `strata`
    distinct timesteps, so the denoiser computes its per-timestep embeddings and FiLM modulations for those only,
    and the loss averages over the noise levels evenly (a stratified, low-discrepancy draw, as in Kingma et al. 2021).
    """
    strata = min(strata, batch)
    positions = torch.arange(strata, device=device) + torch.rand(strata, generator=generator, device=device)  # in strata units
    values = (positions * (num_timesteps / strata)).long().clamp_(max=num_timesteps - 1)  # clamp: float rounding at the top
    offset = torch.randint(0, strata, (1,), generator=generator, device=device)
    return values[(torch.arange(batch, device=device) + offset) % strata]


class MixedDiffusion:
    """The forward processes, the training loss and the ancestral sampler for one table layout."""

    def __init__(
        self, n_numeric: int, category_sizes: list[int], num_timesteps: int, device: torch.device | str = "cpu",
        timestep_strata: int = 0, conditioning: float = 0.0, label_dropout: float = 0.0, n_classes: int = 0,
        prediction: str = "epsilon", known_values: bool = False,
    ) -> None:
        self.n_numeric, self.timestep_strata, self.conditioning = n_numeric, timestep_strata, conditioning
        # 'epsilon': the numeric outputs predict the noise (TabDDPM); 'v': v = sqrt(abar) eps - sqrt(1 - abar) x0
        # (Salimans & Ho 2022), whose loss keeps weighing the clean value where x_t is almost pure noise.
        self.prediction = prediction
        # A share label_dropout of training rows sees the null label n_classes (classifier-free guidance).
        self.label_dropout, self.null_label = label_dropout, n_classes
        self.layout = multinomial.Layout(category_sizes, device)
        self.schedule = Schedule.cosine(num_timesteps, device)
        self.device = torch.device(device)
        # With conditioning > 0 the denoiser reads one more input per column: whether the column is known (clean);
        # with known_values also the known columns' clean values in inputs of their own (zero where unknown), a path
        # from a condition to the other columns that needs no product of flag and value inside the network.
        self.known_values = known_values and conditioning > 0
        flags = n_numeric + self.layout.n_columns
        self.known_width = (flags + self.known_values * (n_numeric + self.layout.flat_width)) if conditioning > 0 else 0

    @property
    def input_width(self) -> int:
        """Width of the denoiser's input and output: d_num + sum K."""
        return self.n_numeric + self.layout.flat_width

    def _denoise(self, model: Denoiser, x_num_t, codes_t, t, y, low_precision: bool = False,
                 known: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The denoiser's numeric outputs (B, d_num; the noise or v, see `prediction`) and flat x_0 logits
        (B, sum K), always float32; `known` (B, d_num + F) flags the columns given clean in x_num_t and codes_t (a
        conditioning model only; None: none).

        low_precision runs the denoiser's matrix products in bfloat16 (autocast); the caller's losses and any
        weights stay float32, as in mixed-precision training.
        """
        onehot = self.layout.flat_onehot(codes_t)
        inputs = [x_num_t, onehot]
        if self.known_width and known is None:
            inputs.append(x_num_t.new_zeros((len(x_num_t), self.known_width)))
        elif self.known_width:
            flags = known.float()
            inputs.append(flags)
            if self.known_values:
                known_num, known_cat = flags[:, : self.n_numeric], flags[:, self.n_numeric :]
                inputs += [x_num_t * known_num, onehot * self.layout.per_level(known_cat)]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=low_precision):
            out = model(torch.cat(inputs, dim=1), t, y)
        out = out.float()
        return out[:, : self.n_numeric], out[:, self.n_numeric :]

    def _numeric_target(self, x_num: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the numeric outputs learn for x_t = sqrt(abar) x0 + sqrt(1 - abar) noise: the noise, or v."""
        if self.prediction == "epsilon":
            return noise
        acp = at(self.schedule.alphas_cumprod, t, 2)
        return acp.sqrt() * noise - (1 - acp).sqrt() * x_num

    def _noise_from(self, out_num: torch.Tensor, x_num_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noise prediction that the numeric outputs imply (what the samplers step with): for v,
        eps = sqrt(abar) v + sqrt(1 - abar) x_t."""
        if self.prediction == "epsilon":
            return out_num
        acp = at(self.schedule.alphas_cumprod, t, 2)
        return acp.sqrt() * out_num + (1 - acp).sqrt() * x_num_t

    def loss(
        self, model: Denoiser, x_num: torch.Tensor, x_cat: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator,
        low_precision: bool = False, per_row: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean Gaussian MSE and mean multinomial loss for a batch at uniformly drawn timesteps (stratified_timesteps
        when timestep_strata > 0; else one independent draw per row, as TabDDPM); per_row: each row's share (B,) of
        them, whose means are the batch's losses (DP-SGD clips each row's gradient)."""
        batch = x_num.shape[0]
        if self.timestep_strata:
            t = stratified_timesteps(batch, self.schedule.num_timesteps, self.timestep_strata, generator, self.device)
        else:
            t = torch.randint(0, self.schedule.num_timesteps, (batch,), generator=generator, device=self.device)
        noise = torch.randn(x_num.shape, generator=generator, device=self.device)
        if self.label_dropout and y is not None:
            hidden = torch.rand(y.shape, generator=generator, device=self.device) < self.label_dropout
            y = torch.where(hidden, torch.full_like(y, self.null_label), y)
        x_num_t = gaussian.q_sample(x_num, t, noise, self.schedule)
        codes_t = multinomial.draw(multinomial.q_probs(x_cat, t, self.schedule, self.layout), self.layout, generator)
        if not self.conditioning:
            out_num, logits = self._denoise(model, x_num_t, codes_t, t, y, low_precision)
            rows_num = gaussian.loss(out_num, self._numeric_target(x_num, noise, t))
            rows_cat = multinomial.loss(logits, x_cat, codes_t, t, self.schedule, self.layout)
            return (rows_num, rows_cat) if per_row else (rows_num.mean(), rows_cat.mean())
        known = self.known_columns(batch, generator)
        known_num, known_cat = known[:, : self.n_numeric], known[:, self.n_numeric :]
        x_num_t = torch.where(known_num, x_num, x_num_t)
        codes_t = torch.where(known_cat, x_cat, codes_t)
        out_num, logits = self._denoise(model, x_num_t, codes_t, t, y, low_precision, known)
        # The loss covers the columns to generate; a known column's prediction is never used.
        unknown_num, unknown_cat = (~known_num).float(), (~known_cat).float()
        squared = (out_num - self._numeric_target(x_num, noise, t)) ** 2 * unknown_num
        per_column = multinomial.loss(logits, x_cat, codes_t, t, self.schedule, self.layout, weights=unknown_cat)
        numeric_cells, categorical_cells = unknown_num.sum().clamp(min=1.0), (unknown_cat.sum() / max(self.layout.n_columns, 1)).clamp(min=1.0)
        if per_row:
            return squared.sum(dim=1) * (batch / numeric_cells), per_column * (batch / categorical_cells)
        return squared.sum() / numeric_cells, per_column.sum() / categorical_cells

    def known_columns(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """(batch, d_num + F) bool: which columns a training row sees clean. A `conditioning` share of the rows sees
        some: each such row draws a share u ~ U(0, 1) and shows each column with probability u; the other rows see
        none, as an unconditional model does."""
        width = self.n_numeric + self.layout.n_columns
        masked = torch.rand((batch, 1), generator=generator, device=self.device) < self.conditioning
        share = torch.rand((batch, 1), generator=generator, device=self.device)
        return masked & (torch.rand((batch, width), generator=generator, device=self.device) < share)

    def timesteps(self, steps: int | None) -> list[int]:
        """`steps` training timesteps, evenly spaced from T-1 down to 0 (all T when None)."""
        T = self.schedule.num_timesteps
        if steps is None or steps >= T:
            return list(range(T - 1, -1, -1))
        return sorted({round(v) for v in torch.linspace(T - 1, 0, steps).tolist()}, reverse=True)

    @torch.no_grad()
    def sample(
        self, model: Denoiser, n: int, y: torch.Tensor | None, generator: torch.Generator, *,
        steps: int | None = None, sampler: str = "ancestral", eta: float = 1.0, low_precision: bool = False,
        constraints: Constraints | None = None, guidance: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse diffusion from noise / uniform codes to data; returns x_num (n, d_num), x_cat (n, F).

        'ancestral' is TabDDPM's sampler (every timestep, fixed-large Gaussian variance); 'ddim' walks `steps`
        evenly spaced timesteps with DDIM for the numerics and the matching multinomial posterior for categories.
        With `constraints`, every step's x0 prediction is projected onto them (constraints.py), so every row
        satisfies them and the other columns follow the model's conditional. `guidance` w > 0 (a model trained with
        label dropout) predicts uncond + (1 + w)(cond - uncond) for both noise and logits, in one doubled batch.
        """
        project_num = project_cat = fixed = known = None
        x_num = torch.randn((n, self.n_numeric), generator=generator, device=self.device)
        codes = multinomial.draw(self.layout.flat_uniform.expand(n, -1), self.layout, generator)
        if constraints is not None:
            project_num = constraints.project_numeric
            project_cat = lambda probs: constraints.project_categorical(probs, self.layout)  # noqa: E731
            fixed = constraints.fixed_codes(self.layout)
            if self.known_width and constraints.known_num is not None:
                known = torch.cat([constraints.known_num, fixed[0]], dim=1).expand(n, -1)
        path = self.timesteps(None if sampler == "ancestral" else steps)
        for step, next_step in zip(path, path[1:] + [-1]):
            if fixed is not None:  # a fixed category is shown to the denoiser as its own value at every step
                codes = torch.where(fixed[0], fixed[1], codes)
            if known is not None:  # and so is a fixed number, to a model trained to read clean columns
                x_num = torch.where(constraints.known_num, constraints.values, x_num)
            t = torch.full((n,), step, device=self.device, dtype=torch.long)
            s = torch.full((n,), next_step, device=self.device, dtype=torch.long)
            if guidance and y is not None:
                both = self._denoise(model, x_num.repeat(2, 1), codes.repeat(2, 1), t.repeat(2),
                                     torch.cat([y, torch.full_like(y, self.null_label)]), low_precision,
                                     None if known is None else known.repeat(2, 1))
                out_num, logits = ((1 + guidance) * part[:n] - guidance * part[n:] for part in both)
            else:
                out_num, logits = self._denoise(model, x_num, codes, t, y, low_precision, known)
            eps_pred = self._noise_from(out_num, x_num, t)
            if sampler == "ancestral":
                x_num = gaussian.p_sample(x_num, t, eps_pred, self.schedule, generator, project_num)
            else:
                x_num = gaussian.ddim_step(x_num, t, s, eps_pred, self.schedule, eta, generator, clip=NORMAL_CLIP,
                                           project=project_num)
            codes = multinomial.p_sample(logits, codes, t, s, self.schedule, self.layout, generator, project_cat)
        return x_num, codes
