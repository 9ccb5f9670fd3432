"""What sampled rows must satisfy, in model space: bounds on each numeric code and the allowed levels of each category.

Conditions are met by projecting the denoiser's prediction of the clean row at every reverse step (inpainting):
a numeric prediction is clamped into its bounds (a fixed value has equal bounds), and a categorical prediction keeps
only the allowed levels, renormalised. The step then follows the posterior given that projected prediction, so the
noisy row stays consistent with the condition and the other columns are denoised seeing it; the last step returns the
projected prediction itself, so every row satisfies the condition exactly.

A model trained with column masks (MixedDiffusion's `conditioning`) is also shown the fixed columns' clean values at
every step, flagged as known: it then conditions on them natively instead of inferring them from noisy inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import multinomial

FLOOR = 1e-30  # added to allowed levels before renormalising, so a column whose allowed levels all underflowed stays finite


@dataclass(frozen=True)
class Constraints:
    """Per-row bounds `low`, `high` (B or 1, d_num) on the numeric codes (+-inf where free) and a 0/1 float mask
    `allowed` (B or 1, sum K) over the categorical levels; one row broadcasts over any batch."""

    low: torch.Tensor
    high: torch.Tensor
    allowed: torch.Tensor
    known_num: torch.Tensor | None = None  # (B or 1, d_num) bool: numeric columns fixed to one value ...
    values: torch.Tensor | None = None  # ... whose clean code (B or 1, d_num) a conditioning model is shown

    def rows(self, start: int, stop: int) -> "Constraints":
        """The constraints of rows start..stop of a batch (one broadcast row stays as it is)."""
        if len(self.low) == 1:
            return self

        def part(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor[start:stop]

        return Constraints(self.low[start:stop], self.high[start:stop], self.allowed[start:stop],
                           part(self.known_num), part(self.values))

    def project_numeric(self, x0: torch.Tensor) -> torch.Tensor:
        """A numeric prediction (B, d_num) clamped into the bounds."""
        return torch.maximum(torch.minimum(x0, self.high), self.low)

    def fixed_codes(self, layout: multinomial.Layout) -> tuple[torch.Tensor, torch.Tensor]:
        """(B or 1, F) bool: the columns with exactly one allowed level, and (B or 1, F) that level's code."""
        if layout.n_columns == 0:
            empty = torch.zeros((len(self.allowed), 0), device=self.allowed.device)
            return empty.bool(), empty.long()
        return layout.column_sums(self.allowed) == 1, layout.pad_logits(self.allowed).argmax(-1)

    def project_categorical(self, x0_probs: torch.Tensor, layout: multinomial.Layout) -> torch.Tensor:
        """Per-column level probabilities (B, sum K) with only the allowed levels, renormalised per column."""
        if layout.n_columns == 0:
            return x0_probs
        return layout.normalized((x0_probs + FLOOR) * self.allowed)
