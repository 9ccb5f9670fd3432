"""SMOTE as the TabDDPM paper's baseline: interpolation between a real row and one of its same-class neighbours.

The paper (yandex-research/tab-ddpm, `smote/sample_smote.py`) uses imbalanced-learn's SMOTE / SMOTENC with a
modified interpolation step; this is an independent re-implementation of the same procedure with scikit-learn:

- numeric features are min-max scaled on the training split;
- rows are grouped by class; for regression the target joins the numeric features and the groups are
  "target above the median" and "at or below it";
- a new row takes a random base row of a group and a random one of its k nearest neighbours in that group and
  interpolates the numeric features (and a regression target) at lam ~ U[frac_lam_del / 2, 1 - frac_lam_del / 2];
  categorical features take the most frequent value among the base row's k neighbours (as SMOTENC); neighbours are
  found on the scaled numeric features plus one-hot categoricals scaled by half the median numeric standard
  deviation of the group (as SMOTENC);
- groups get new rows in proportion to their size (the paper oversamples every class by the same factor);
- numeric columns with at most 32 distinct integer values are rounded to the nearest value seen in training.

`SMOTE_PARAMS` are the paper's tuned k_neighbours and frac_lam_del per dataset (exp/<name>/smote/config.toml at
yandex-research/tab-ddpm b476257); its tuned frac_samples is not used: the harness decides the number of rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

# (k_neighbours, frac_lam_del) tuned by the paper per dataset.
SMOTE_PARAMS: dict[str, tuple[int, float]] = {
    "abalone": (5, 0.65), "adult": (5, 0.65), "buddy": (5, 0.5), "california": (8, 0.0), "cardio": (18, 0.15),
    "churn2": (6, 0.2), "default": (6, 0.1), "diabetes": (8, 0.15), "gesture": (10, 0.05), "house": (14, 0.75),
    "insurance": (6, 0.1), "king": (6, 0.1), "wilt": (14, 0.05),
}
DEFAULT_PARAMS = (5, 0.0)  # imbalanced-learn's SMOTE defaults, for datasets the paper did not tune


class Smote:
    """Fit on a table with a target; `sample(n, seed)` returns n interpolated rows with the same columns and dtypes."""

    def __init__(self, k_neighbours: int = 5, frac_lam_del: float = 0.0, *, task: str = "classification",
                 target: str = "target", cat_columns: list[str] | None = None) -> None:
        self.k_neighbours, self.frac_lam_del, self.task, self.target = k_neighbours, frac_lam_del, task, target
        self.cat_columns = cat_columns

    def fit(self, df: pd.DataFrame) -> "Smote":
        cats = list(self.cat_columns) if self.cat_columns is not None else [
            c for c in df.columns if c != self.target and not pd.api.types.is_numeric_dtype(df[c])]
        regression = self.task == "regression"
        nums = [c for c in df.columns if c not in cats and c != self.target] + ([self.target] if regression else [])
        x_num = df[nums].to_numpy(dtype=np.float64) if nums else np.zeros((len(df), 0))
        x_num = np.where(np.isnan(x_num), np.nanmedian(x_num, axis=0), x_num) if x_num.size else x_num
        low, high = (x_num.min(axis=0), x_num.max(axis=0)) if x_num.size else (np.zeros(0), np.zeros(0))
        scale = np.where(high > low, high - low, 1.0)
        self.columns_, self.dtypes_, self.cats_, self.nums_ = list(df.columns), df.dtypes, cats, nums
        self.low_, self.scale_ = low, scale
        self.scaled_ = (x_num - low) / scale
        self.x_cat_ = df[cats].astype(object).to_numpy() if cats else np.zeros((len(df), 0), dtype=object)
        if regression:
            y = df[self.target].to_numpy(dtype=np.float64)
            groups = (y > np.median(y)).astype(np.int64)
            self.labels_ = None
        else:
            self.labels_ = df[self.target].to_numpy()
            _, groups = np.unique(self.labels_.astype(str), return_inverse=True)
        self.groups_ = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        self.neighbours_ = [self._neighbours(rows) for rows in self.groups_]
        self.discrete_ = {}
        for j, name in enumerate(nums):
            values = np.unique(x_num[:, j])
            if len(values) <= 32 and np.all(values == np.round(values)):
                self.discrete_[j] = values
        return self

    def _neighbours(self, rows: np.ndarray) -> np.ndarray | None:
        """Indexes (into the whole table) of each group row's k nearest same-group neighbours, itself excluded."""
        k = min(self.k_neighbours, len(rows) - 1)
        if k < 1:
            return None
        parts = [self.scaled_[rows]]
        if self.cats_:
            std = np.median(self.scaled_[rows].std(axis=0)) if self.scaled_.shape[1] else 1.0
            onehot = pd.get_dummies(pd.DataFrame(self.x_cat_[rows]).astype(str)).to_numpy(dtype=np.float64)
            parts.append(onehot * (std / 2 if std > 0 else 0.5))
        space = np.hstack(parts)
        index = NearestNeighbors(n_neighbors=k + 1).fit(space).kneighbors(space, return_distance=False)
        # Drop each row's own index (duplicates may put another identical row first).
        own = np.arange(len(rows))[:, None]
        cleaned = np.array([r[r != o[0]][:k] for r, o in zip(index, own)])
        return rows[cleaned]

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        sizes = np.array([len(g) for g in self.groups_], dtype=np.float64)
        counts = rng.multinomial(n, sizes / sizes.sum())
        lam1, lam2 = self.frac_lam_del / 2, 1 - self.frac_lam_del / 2
        num_parts, cat_parts, label_parts = [], [], []
        for rows, neighbours, count in zip(self.groups_, self.neighbours_, counts):
            if count == 0:
                continue
            pick = rng.integers(len(rows), size=count)
            base = rows[pick]
            if neighbours is None:  # a one-row group: copies
                other, lam, votes = base, np.zeros(count), base[:, None]
            else:
                votes = neighbours[pick]
                other = votes[np.arange(count), rng.integers(votes.shape[1], size=count)]
                lam = rng.uniform(lam1, lam2, size=count)
            num_parts.append(self.scaled_[base] + lam[:, None] * (self.scaled_[other] - self.scaled_[base]))
            if self.cats_:
                cat_parts.append(self._mode(votes, rng))
            if self.labels_ is not None:
                label_parts.append(self.labels_[base])
        x_num = np.vstack(num_parts) * self.scale_ + self.low_
        for j, values in self.discrete_.items():
            x_num[:, j] = values[np.abs(x_num[:, j][:, None] - values[None, :]).argmin(axis=1)]
        order = rng.permutation(n)
        out = {name: x_num[order, j] for j, name in enumerate(self.nums_)}
        if self.cats_:
            x_cat = np.vstack(cat_parts)[order]
            out.update({name: x_cat[:, j] for j, name in enumerate(self.cats_)})
        if self.labels_ is not None:
            out[self.target] = np.concatenate(label_parts)[order]
        frame = pd.DataFrame(out)[self.columns_]
        for name in self.columns_:
            dtype = self.dtypes_[name]
            if pd.api.types.is_integer_dtype(dtype):
                frame[name] = np.round(frame[name].astype(np.float64)).astype(dtype)
            elif name in self.cats_ or pd.api.types.is_numeric_dtype(dtype):
                frame[name] = frame[name].astype(dtype)
        return frame

    def _mode(self, votes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per new row and categorical column, the most frequent value among the neighbour rows `votes`."""
        out = np.empty((len(votes), len(self.cats_)), dtype=object)
        for j in range(len(self.cats_)):
            values = self.x_cat_[:, j][votes]  # (count, k)
            codes, inverse = np.unique(values.astype(str), return_inverse=True)
            inverse = inverse.reshape(values.shape)
            tally = np.zeros((len(votes), len(codes)), dtype=np.int64)
            np.add.at(tally, (np.repeat(np.arange(len(votes)), values.shape[1]), inverse.ravel()), 1)
            # Ties go to a random one of the most frequent values.
            noise = rng.random(tally.shape) * 0.5
            winner = (tally + noise).argmax(axis=1)
            first = values[np.arange(len(votes)), (inverse == winner[:, None]).argmax(axis=1)]
            out[:, j] = first
        return out
