"""How local a table's target is: the score of a 1-nearest-neighbour model beside the tuned CatBoost's.

    python -m experiments.locality --datasets all

Numeric features are mapped to [0, 1] by a quantile transform fitted on the train split, categorical ones one-hot
(each level at distance 1); each test row takes the target of its nearest train row, scored as the harness scores
(macro F1, or R2 for regression). Where 1-NN comes close to the tuned CatBoost on the real rows, the target is a
property of small neighbourhoods: interpolating between a class's own neighbouring rows (SMOTE) keeps it, and a
generator whose rows keep their distance from the training rows has to learn those neighbourhoods instead. One line
per table: the 1-NN score, and the median distance from a test row to its nearest train row over the median
distance between two random train rows.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import f1_score, r2_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

from benchmarks import tabddpm_data
from benchmarks.tabddpm_data import TARGET


def features(data: tabddpm_data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Train and test features: quantile-uniform numbers and one-hot categories, fitted on the train split."""
    numeric = [c for c in data.features if c not in data.cat_columns]
    parts_train, parts_test = [], []
    if numeric:
        quantiles = QuantileTransformer(n_quantiles=min(1000, len(data.train)), random_state=0)
        parts_train.append(quantiles.fit_transform(data.train[numeric].to_numpy(float)))
        parts_test.append(quantiles.transform(data.test[numeric].to_numpy(float)))
    if data.cat_columns:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        # each differing level adds 1 to the squared distance, as a full-range numeric difference does
        parts_train.append(onehot.fit_transform(data.train[data.cat_columns]) / np.sqrt(2))
        parts_test.append(onehot.transform(data.test[data.cat_columns]) / np.sqrt(2))
    return np.hstack(parts_train), np.hstack(parts_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="all", help="comma-separated names, or 'all' (the 13 complete ones)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    names = tabddpm_data.COMPLETE if args.datasets == "all" else args.datasets.split(",")
    for name in names:
        data = tabddpm_data.load(name)
        train, test = features(data)
        nearest = NearestNeighbors(n_neighbors=1).fit(train)
        distance, index = nearest.kneighbors(test)
        predicted = data.train[TARGET].to_numpy()[index[:, 0]]
        truth = data.test[TARGET].to_numpy()
        score = (f"R2 {r2_score(truth, predicted):.4f}" if data.task == "regression"
                 else f"macro F1 {f1_score(truth, predicted, average='macro'):.4f}")
        a, b = rng.integers(0, len(train), (2, 5000))
        typical = np.median(np.linalg.norm(train[a] - train[b], axis=1))
        print(f"{name}: 1-NN {score}; nearest train row at {np.median(distance) / typical:.3f} of the "
              f"median pair distance", flush=True)


if __name__ == "__main__":
    main()
