"""The TabDDPM paper's ML-efficacy protocol: tuned CatBoost trained on a (synthetic) training set, scored on real test.

As in yandex-research/tab-ddpm `scripts/eval_catboost.py` (evaluated with `eval_seeds.py`, change_val=False):

- features in the order num_* then cat_*; the tuned parameters' `cat_features` index that order; categorical
  features are passed as strings, numeric ones as floats; no other preprocessing;
- regression: CatBoostRegressor(eval_metric="RMSE"), score R2 on the real test split (the paper standardises y
  first, which leaves R2 unchanged: CatBoost with RMSE loss is equivariant to an affine change of y);
- classification: CatBoostClassifier(loss_function="Logloss" | "MultiClass", eval_metric="TotalF1",
  class_names=all classes), predicted class = round(p1) for binclass and argmax of the probabilities for multiclass,
  score macro F1 on the real test split;
- early stopping (the tuned `early_stopping_rounds`, use_best_model) on the REAL validation split;
- one fit per CatBoost seed (`random_seed`); the caller averages over CatBoost seeds and sampling seeds.

The only deliberate change is `thread_count`: the tuned files say 4, the benchmark machine has 2 cores, so the
caller passes its own (recorded in the results).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, r2_score, mean_squared_error

from .tabddpm_data import TARGET, Dataset


def _features(df: pd.DataFrame, columns: list[str], cat_columns: set[str]) -> pd.DataFrame:
    """The feature columns in the given order, categorical ones as str and numeric ones as float."""
    out = {}
    for name in columns:
        series = df[name]
        out[name] = series.astype(str) if name in cat_columns else pd.to_numeric(series, errors="coerce").astype(float)
    return pd.DataFrame(out, index=df.index)


def catboost_params(data: Dataset, thread_count: int) -> dict:
    """The dataset's tuned CatBoost parameters with cat_features checked against the column order."""
    params = dict(data.catboost_params)
    expected = [i for i, c in enumerate(data.features) if c in set(data.cat_columns)]
    if "cat_features" not in params:
        params["cat_features"] = expected
    if sorted(params["cat_features"]) != expected:
        raise ValueError(
            f"{data.name}: catboost_params cat_features {params['cat_features']} do not match the categorical "
            f"columns' positions {expected} in the order num_* then cat_*."
        )
    params["thread_count"] = thread_count
    return params


def train_labels(y: pd.Series, data: Dataset) -> np.ndarray:
    """A (synthetic) target as the task's dtype: int64 class labels or float64 values."""
    if data.is_classification:
        return pd.to_numeric(y, errors="raise").round().astype(np.int64).to_numpy()
    return pd.to_numeric(y, errors="raise").astype(np.float64).to_numpy()


def catboost_score(train: pd.DataFrame, data: Dataset, seed: int, thread_count: int = 2) -> dict:
    """Fit tuned CatBoost on `train` (real or synthetic, same columns), early-stop on real val, score real test.

    Returns {"score", "val_score", "best_iteration", "seconds", ...}: score is macro F1 (classification) or R2
    (regression) on the test split.
    """
    from catboost import CatBoostClassifier, CatBoostRegressor

    params = catboost_params(data, thread_count)
    cats = set(data.cat_columns)
    columns = data.features
    x_train = _features(train, columns, cats)
    x_val, x_test = _features(data.val, columns, cats), _features(data.test, columns, cats)
    y_train = train_labels(train[TARGET], data)
    y_val, y_test = train_labels(data.val[TARGET], data), train_labels(data.test[TARGET], data)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="catboost-") as train_dir:
        if data.is_classification:
            multiclass = data.task == "multiclass"
            n_classes = data.n_classes or int(max(y_train.max(), y_val.max(), y_test.max()) + 1)
            model = CatBoostClassifier(
                loss_function="MultiClass" if multiclass else "Logloss", **params, eval_metric="TotalF1",
                random_seed=seed, class_names=[str(i) for i in range(n_classes)] if multiclass else ["0", "1"],
                train_dir=train_dir, allow_writing_files=False, verbose=False,
            )
            model.fit(x_train, y_train.astype(str), eval_set=(x_val, y_val.astype(str)))

            def predict(x: pd.DataFrame) -> np.ndarray:
                probs = model.predict_proba(x)
                return probs.argmax(axis=1) if multiclass else np.round(probs[:, 1]).astype(np.int64)

            test_pred, val_pred = predict(x_test), predict(x_val)
            result = {
                "score": float(f1_score(y_test, test_pred, average="macro")),
                "val_score": float(f1_score(y_val, val_pred, average="macro")),
                "accuracy": float(accuracy_score(y_test, test_pred)),
            }
        else:
            model = CatBoostRegressor(
                **params, eval_metric="RMSE", random_seed=seed, train_dir=train_dir, allow_writing_files=False,
                verbose=False,
            )
            model.fit(x_train, y_train, eval_set=(x_val, y_val))
            test_pred, val_pred = model.predict(x_test), model.predict(x_val)
            result = {
                "score": float(r2_score(y_test, test_pred)),
                "val_score": float(r2_score(y_val, val_pred)),
                "rmse": float(mean_squared_error(y_test, test_pred) ** 0.5),
            }
    result["best_iteration"] = int(model.get_best_iteration() or 0)
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["seed"] = int(seed)
    result["train_rows"] = int(len(train))
    return result


def metric_name(task: str) -> str:
    """The paper's metric for a task."""
    return "R2" if task == "regression" else "macro F1"
