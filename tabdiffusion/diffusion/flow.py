"""Rectified flow on one continuous vector per row, and reflow, so that one or two Euler steps draw a row.

The row vector is [quantile-normal numerics ; each categorical column's one-hot mapped to -1/+1]. Noise z ~ N(0, I)
sits at t = 0 and the data at t = 1, on the straight path x_t = (1 - t) z + t x (Liu et al. 2022). The denoiser
predicts the data: the numerics (squared error, weighted as an epsilon-predicting model weighs it) and logits per
categorical column (cross-entropy). Sampling follows the velocity (x_hat - x_t) / (1 - t) with Euler steps; each
categorical is the argmax of its block at t = 1.

Reflow: the fitted flow (the teacher) maps noise draws to rows with many Euler steps; a copy of it trained on those
fixed (noise, row) pairs, only at the Euler times of one and two steps, lands in one or two steps where the teacher
needed many. Measured on adult in experiments.md ("A deterministic flow and reflow", "Grouped FiLM at inference").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from ..config import ModelConfig
from ..deadline import Deadline, draw_until
from . import multinomial
from .constraints import Constraints
from .mixed import NORMAL_CLIP, Denoiser

GRID = 1000  # t in [0, 1) lives on 1000 levels: the denoiser embeds integer timesteps
SNR_WEIGHT_CAP = 100.0
STUDENT_STEPS = (1, 2)  # the reflow round trains at these step counts' Euler times: t in {0, 0.5}

# Reflow (the flow preset; experiments.md, "A fast preset"): the teacher maps REFLOW_PAIRS_PER_ROW noise draws per
# training row (REFLOW_MIN_PAIRS to REFLOW_MAX_PAIRS) to rows with TEACHER_EULER_STEPS Euler steps, and the student (a
# copy of it) trains on those pairs for reflow_steps at REFLOW_LR_SCALE times lr. Under a time budget the teacher gets
# TEACHER_SHARE of it and the couplings at most COUPLING_SHARE of what is left.
REFLOW_PAIRS_PER_ROW = 4
REFLOW_MIN_PAIRS = 50_000
REFLOW_MAX_PAIRS = 100_000
TEACHER_EULER_STEPS = 50
REFLOW_LR_SCALE = 0.5
TEACHER_SHARE = 0.55
COUPLING_SHARE = 0.25


class RectifiedFlow:
    """The flow's training loss, its Euler sampler and reflow's couplings for one table layout."""

    def __init__(self, n_numeric: int, category_sizes: list[int], device: torch.device | str = "cpu") -> None:
        self.n_numeric = n_numeric
        self.layout = multinomial.Layout(category_sizes, device)
        self.device = torch.device(device)

    @property
    def input_width(self) -> int:
        """Width of the row vector, the denoiser's input and output: d_num + sum K."""
        return self.n_numeric + self.layout.flat_width

    def to_vector(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        """Numeric codes and categorical codes -> row vectors (B, d_num + sum K) with categoricals at -1/+1."""
        return torch.cat([x_num, 2 * self.layout.flat_onehot(x_cat) - 1], dim=1)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Row vectors at t = 1 -> clipped numerics (B, d_num) and the argmax code of each categorical block (B, F)."""
        x_num = x[:, : self.n_numeric].clamp(-NORMAL_CLIP, NORMAL_CLIP)
        if not self.layout.n_columns:
            return x_num, x.new_zeros((len(x), 0), dtype=torch.long)
        return x_num, self.layout.pad_logits(x[:, self.n_numeric :]).argmax(-1)

    def _forward(self, model: Denoiser, x: torch.Tensor, ti: torch.Tensor, y, low_precision: bool) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=low_precision):
            return model(x, ti, y).float()

    def pair_loss(
        self, model: Denoiser, z: torch.Tensor, x_num: torch.Tensor, x_cat: torch.Tensor, y: torch.Tensor | None,
        ti: torch.Tensor, weighted: bool, low_precision: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Numeric and categorical loss at grid times ti on the paths from noise z to the rows (x_num, x_cat).

        weighted: the numerics' squared error times 1 + (t / (1 - t))^2 (capped), how an epsilon-predicting model's
        loss weighs the implied data error on this path; the reflow round trains unweighted (a one-step student is
        evaluated at t = 0, where the weight is smallest).
        """
        x1 = self.to_vector(x_num, x_cat)
        t = (ti.float() / GRID)[:, None]
        out = self._forward(model, (1 - t) * z + t * x1, ti, y, low_precision)
        d, zero = self.n_numeric, out.new_zeros(())
        error = (out[:, :d] - x_num) ** 2
        if not d:
            loss_num = zero
        elif weighted:
            weight = (1 + (t / (1 - t)) ** 2).clamp(max=SNR_WEIGHT_CAP)
            loss_num = (weight * error).mean() / weight.mean()
        else:
            loss_num = error.mean()
        if not self.layout.n_columns:
            return loss_num, zero
        log_probs = multinomial.log_softmax(out[:, d:], self.layout)
        return loss_num, -log_probs.gather(1, x_cat + self.layout.offsets).mean()  # cross-entropy per column

    def loss(
        self, model: Denoiser, x_num: torch.Tensor, x_cat: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator,
        low_precision: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`training.train`'s loss hook: flow matching at uniformly drawn grid times, weighted."""
        z = torch.randn((len(x_num), self.input_width), generator=generator, device=self.device)
        ti = torch.randint(0, GRID, (len(x_num),), generator=generator, device=self.device)
        return self.pair_loss(model, z, x_num, x_cat, y, ti, weighted=True, low_precision=low_precision)

    @torch.no_grad()
    def euler(self, model: Denoiser, z: torch.Tensor, y: torch.Tensor | None, steps: int, low_precision: bool = False,
              constraints: Constraints | None = None) -> torch.Tensor:
        """Row vectors at t = 1 from noise z after `steps` equal Euler steps along the predicted velocity; with
        `constraints`, each step's prediction of the row is projected onto them (constraints.py)."""
        levels = sorted({round(i * GRID / steps) for i in range(steps + 1)})
        x = z
        for now, later in zip(levels, levels[1:]):
            ti = torch.full((len(z),), now, dtype=torch.long, device=z.device)
            out = self._forward(model, x, ti, y, low_precision)
            d = self.n_numeric
            probs, numeric = multinomial.softmax(out[:, d:], self.layout), out[:, :d]
            if constraints is not None:
                probs, numeric = constraints.project_categorical(probs, self.layout), constraints.project_numeric(numeric)
            x1_hat = torch.cat([numeric, 2 * probs - 1], dim=1)
            x = x + (x1_hat - x) * ((later - now) / (GRID - now))  # Euler on the velocity (x1_hat - x) / (1 - t)
        return x

    def sample(
        self, model: Denoiser, n: int, y: torch.Tensor | None, generator: torch.Generator, *,
        steps: int | None = None, sampler: str = "euler", eta: float = 0.0, low_precision: bool = False,
        constraints: Constraints | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`MixedDiffusion.sample`'s interface: x_num (n, d_num) and x_cat (n, F) after `steps` Euler steps (sampler
        and eta are the diffusion's; a flow has one deterministic sampler)."""
        z = torch.randn((n, self.input_width), generator=generator, device=self.device)
        return self.split(self.euler(model, z, y, steps or 1, low_precision, constraints))

    def student_levels(self) -> torch.Tensor:
        """The grid times at which the one- and two-step Euler samplers evaluate the denoiser."""
        return torch.tensor(sorted({round(i * GRID / k) for k in STUDENT_STEPS for i in range(k)}), device=self.device)


class Couplings:
    """Reflow's training set: fixed (noise, teacher row, label) triples; called with a batch's row indices, it is the
    training loop's batch loss (training.BatchLoss) at the one- and two-step Euler times."""

    def __init__(self, flow: RectifiedFlow, z: torch.Tensor, rows: torch.Tensor, y: torch.Tensor | None = None) -> None:
        self.flow, self.z, self.y = flow, z, y
        self.x_num, self.x_cat = flow.split(rows)
        self.levels = flow.student_levels()

    def __len__(self) -> int:
        return len(self.z)

    def __call__(self, model: Denoiser, rows: torch.Tensor, generator: torch.Generator, low_precision: bool = False,
                 per_row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if per_row:
            raise ValueError("reflow trains without per-row losses (no differential privacy for the flow)")
        ti = self.levels[torch.randint(0, len(self.levels), (len(rows),), generator=generator, device=self.flow.device)]
        y = None if self.y is None else self.y[rows]
        return self.flow.pair_loss(model, self.z[rows], self.x_num[rows], self.x_cat[rows], y, ti, weighted=False,
                                   low_precision=low_precision)


def reflow(
    teacher: torch.nn.Module, flow: RectifiedFlow, *, n_rows: int, labels: Callable[[int], torch.Tensor | None],
    generator: torch.Generator, config: ModelConfig, batch: int, deadline: Deadline, low_precision: bool,
    verbose: bool, train: Callable[..., tuple[torch.nn.Module, Any]],
) -> tuple[torch.nn.Module, Any]:
    """Pair noise draws with the teacher's rows, then train a copy of the teacher on those pairs at the one- and
    two-step Euler times; returns the student (its EMA copy) and its loss history.

    The teacher was fitted to `n_rows` training rows; labels(n) draws n class labels (None without a class target)
    from `generator`, which also draws the noise; the couplings are drawn `batch` at a time. `train` is the training
    loop (training.train), passed in because the training layer is built on this one. Under a deadline the
    couplings stop after COUPLING_SHARE of the time left (at least one batch) and the student trains until the
    deadline.
    """
    pairs = min(REFLOW_MAX_PAIRS, max(REFLOW_MIN_PAIRS, REFLOW_PAIRS_PER_ROW * n_rows))
    device = flow.device
    y_all = labels(pairs)

    def couple(start: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn((min(batch, pairs - start), flow.input_width), generator=generator, device=device)
        y = None if y_all is None else y_all[start : start + len(z)]
        return z, flow.euler(teacher, z, y, TEACHER_EULER_STEPS, low_precision)

    coupled = draw_until(range(0, pairs, batch), deadline.share(COUPLING_SHARE), couple)
    z, rows = torch.cat([part[0] for part in coupled]), torch.cat([part[1] for part in coupled])
    couplings = Couplings(flow, z, rows, None if y_all is None else y_all[: len(z)])
    return train(
        copy.deepcopy(teacher).requires_grad_(True), couplings, len(couplings),
        steps=config.reflow_steps, batch_size=config.batch_size, lr=REFLOW_LR_SCALE * config.lr,
        time_budget=deadline.budget(), weight_decay=config.weight_decay, ema_decay=config.ema_decay,
        generator=generator, low_precision=low_precision, verbose=verbose,
    )
