"""Which pairs of coarse column values occur together in the training table: to warn when conditions ask for a
combination the data never shows (the rows are then the model's extrapolation, which the user should know).

Every modelled column is cut into cells: a categorical code (missingness indicators and the class label included)
is its own cell; a numeric code falls into one of NUMERIC_CELLS bins between the standard normal's quantiles
(training codes are quantile-normal, so each bin holds about a tenth of the rows). For each pair of columns the
model file keeps one bit per pair of cells: whether some training row has both. It keeps no counts and no values.
The check is pairwise and coarse: a combination is reported when some pair of its columns never occurs together at
that resolution; a combination whose pairs all occur but that no single row has is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import ndtri

NUMERIC_CELLS = 10
MAX_BITS = 2**24  # a table wider than this (summed over pairs) keeps the smallest pairs that fit: 2 MiB at most
_EDGES = ndtri(np.linspace(0, 1, NUMERIC_CELLS + 1)[1:-1])


def numeric_cells(codes: np.ndarray) -> np.ndarray:
    """The cell of each numeric code."""
    return np.searchsorted(_EDGES, codes, side="right")


@dataclass
class PairSupport:
    """`sizes[c]`: cells of column c (numeric columns first, then categorical codes, then the label); `pairs`:
    (i, j) with i < j whose occupancy is kept; `bits`: their (sizes[i], sizes[j]) occupancies, flattened and packed."""

    sizes: np.ndarray
    pairs: np.ndarray  # (p, 2) int
    bits: np.ndarray  # packed uint8

    @classmethod
    def fit(cls, x_num: np.ndarray, observed: np.ndarray, x_cat: np.ndarray, y: np.ndarray | None,
            category_sizes: list[int], n_classes: int) -> "PairSupport":
        """Occupancies from training codes; `observed` (n, d_num) is False where a numeric entry is missing (that
        row then counts in no cell of the column)."""
        cells = [np.where(observed[:, j], numeric_cells(x_num[:, j]), -1) for j in range(x_num.shape[1])]
        cells += [x_cat[:, k] for k in range(x_cat.shape[1])]
        sizes = [NUMERIC_CELLS] * x_num.shape[1] + list(category_sizes)
        if y is not None:
            cells.append(y)
            sizes.append(n_classes)
        pairs = sorted(combinations(range(len(sizes)), 2), key=lambda p: sizes[p[0]] * sizes[p[1]])
        kept, occupancies, total = [], [], 0
        for i, j in pairs:
            if total + sizes[i] * sizes[j] > MAX_BITS:
                break
            both = (cells[i] >= 0) & (cells[j] >= 0)
            flat = cells[i][both].astype(np.int64) * sizes[j] + cells[j][both]
            occupancies.append(np.bincount(flat, minlength=sizes[i] * sizes[j]) > 0)
            kept.append((i, j))
            total += sizes[i] * sizes[j]
        bits = np.packbits(np.concatenate(occupancies)) if occupancies else np.zeros(0, np.uint8)
        return cls(np.asarray(sizes, np.int64), np.asarray(kept, np.int64).reshape(-1, 2), bits)

    def unseen(self, allowed: list[np.ndarray | None]) -> list[tuple[int, int]]:
        """Pairs of columns (i, j) whose allowed cells (a bool mask per column; None: unconstrained) never occur
        together in a training row."""
        flat = np.unpackbits(self.bits).astype(bool)
        found, start = [], 0
        for i, j in self.pairs:
            size = int(self.sizes[i] * self.sizes[j])
            if allowed[i] is not None and allowed[j] is not None:
                occupied = flat[start : start + size].reshape(self.sizes[i], self.sizes[j])
                if not occupied[np.ix_(allowed[i], allowed[j])].any():
                    found.append((int(i), int(j)))
            start += size
        return found

    def state(self) -> dict[str, np.ndarray]:
        return {"sizes": self.sizes, "pairs": self.pairs, "bits": self.bits}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> "PairSupport":
        support = cls(arrays["sizes"].astype(np.int64), arrays["pairs"].astype(np.int64).reshape(-1, 2),
                      arrays["bits"].astype(np.uint8))
        expected = sum(int(support.sizes[i] * support.sizes[j]) for i, j in support.pairs)
        if len(support.bits) != (expected + 7) // 8:
            raise ValueError(f"support holds {len(support.bits)} bytes for {expected} cells")
        return support
