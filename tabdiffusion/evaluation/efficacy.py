"""ML efficacy: models trained on synthetic vs on real rows, both scored on the real holdout (TabDDPM's protocol)."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, mean_squared_error, r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..errors import ParameterError
from ..schema import Task
from ..schema import infer_task as schema_infer_task
from ._data import Prepared, _canonical, subsample
from .limits import Limits
from .records import Efficacy, ModelScore

# Documented model sizes (multiplied by Limits.model_scale): CatBoost iterations, random-forest trees.
CATBOOST_ITERATIONS = 500
CATBOOST_DEPTH = 6
FOREST_TREES = 100
TREE_MAX_DEPTH = 28  # TabDDPM's simple-model evaluation uses depth 28 for the tree and the forest
_MISSING = "<missing>"


def infer_task(prep: Prepared, task: str = "auto") -> Task:
    """Classification for categorical/boolean targets and integers with few values; regression otherwise."""
    if task in ("classification", "regression"):
        return task  # type: ignore[return-value]
    if task != "auto":
        raise ParameterError(f"task must be 'auto', 'classification' or 'regression', got {task!r}.")
    n_values = prep.real[prep.target].nunique()
    if n_values < 2:
        raise ParameterError(
            f"Target {prep.target!r} has {n_values} distinct value(s) in the real table, so no model can be trained on "
            "it for ML efficacy. Pass a real table with at least two classes or values, or evaluate without target=."
        )
    return schema_infer_task(prep.kinds[prep.target], n_values)


def _split(df: pd.DataFrame, prep: Prepared, task: Task) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (target removed, missing categories spelled out) and target of rows whose target is present."""
    target = prep.target
    df = df[df[target].notna()]
    features = df.drop(columns=[target]).reset_index(drop=True)
    for name in prep.categorical:
        if name in features:
            features[name] = features[name].fillna(_MISSING).astype(str)
    y = df[target].to_numpy()
    if task == "classification":
        y = np.array([v if isinstance(v, str) else _canonical(v) for v in y], dtype=object)
    else:
        y = y.astype(float)
    return features, y


def _encoder(numeric: list[str], categorical: list[str], one_hot: bool) -> ColumnTransformer:
    """Median-imputed numerics (standardised for linear models) and one-hot or ordinal categoricals."""
    steps = []
    if numeric:
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        steps.append(("num", make_pipeline(imputer, StandardScaler()) if one_hot else imputer, numeric))
    if categorical:
        encoder = (
            OneHotEncoder(handle_unknown="ignore")
            if one_hot
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        )
        steps.append(("cat", encoder, categorical))
    return ColumnTransformer(steps)


def _models(task: Task, numeric: list[str], categorical: list[str], limits: Limits, seed: int, n_jobs: int) -> dict[str, Callable]:
    """Factories of the four efficacy models, by name."""
    from catboost import CatBoostClassifier, CatBoostRegressor

    classification = task == "classification"
    cat_idx = [i for i, name in enumerate(numeric + categorical) if name in categorical]

    def catboost():
        cls = CatBoostClassifier if classification else CatBoostRegressor
        model = cls(
            iterations=limits.scaled(CATBOOST_ITERATIONS, 10),
            depth=CATBOOST_DEPTH,
            random_seed=seed,
            verbose=False,
            allow_writing_files=False,
            thread_count=n_jobs,
            cat_features=cat_idx,
        )
        return _Reorder(model, numeric + categorical)

    def forest():
        cls = RandomForestClassifier if classification else RandomForestRegressor
        model = cls(n_estimators=limits.scaled(FOREST_TREES), max_depth=TREE_MAX_DEPTH, random_state=seed, n_jobs=n_jobs)
        return make_pipeline(_encoder(numeric, categorical, one_hot=False), model)

    def linear():
        model = LogisticRegression(max_iter=1000, random_state=seed) if classification else Ridge(alpha=1.0)
        return make_pipeline(_encoder(numeric, categorical, one_hot=True), model)

    def tree():
        cls = DecisionTreeClassifier if classification else DecisionTreeRegressor
        return make_pipeline(_encoder(numeric, categorical, one_hot=False), cls(max_depth=TREE_MAX_DEPTH, random_state=seed))

    linear_name = "logistic_regression" if classification else "ridge"
    return {"catboost": catboost, "random_forest": forest, linear_name: linear, "decision_tree": tree}


class _Reorder:
    """Passes columns to a CatBoost model in a fixed order so cat_features indices hold."""

    def __init__(self, model, columns: list[str]) -> None:
        self.model, self.columns = model, columns

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> "_Reorder":
        self.model.fit(x[self.columns], y)
        self.classes_ = getattr(self.model, "classes_", None)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(x[self.columns])).reshape(len(x))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(x[self.columns])


def _score(task: Task, model, x: pd.DataFrame, y: np.ndarray, positive: str | None) -> dict[str, float]:
    """Macro F1 (+ ROC AUC when binary) or R2 and RMSE of a fitted model on the holdout."""
    prediction = model.predict(x)
    if task == "regression":
        prediction = prediction.astype(float)
        return {"r2": float(r2_score(y, prediction)), "rmse": float(np.sqrt(mean_squared_error(y, prediction)))}
    prediction = np.array([p if isinstance(p, str) else _canonical(p) for p in prediction], dtype=object)
    out = {"f1_macro": float(f1_score(y, prediction, average="macro", zero_division=0))}
    if positive is not None and len(set(y)) == 2:
        classes = [str(c) for c in model.classes_]
        proba = model.predict_proba(x)
        score = proba[:, classes.index(positive)] if positive in classes else np.zeros(len(x))
        out["roc_auc"] = float(roc_auc_score(y == positive, score))
    return out


def _fit(factory: Callable, task: Task, x: pd.DataFrame, y: np.ndarray):
    """Fit a model, or a constant predictor when the training target has a single value."""
    if task == "classification" and len(set(y)) < 2:
        return DummyClassifier(strategy="most_frequent").fit(x, y)
    if task == "regression" and len(y) < 2:
        return DummyRegressor().fit(x, y)
    model = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the linear model on small or odd tables
        model.fit(x, y)
    return model


def efficacy(
    prep: Prepared, limits: Limits, rng: np.random.Generator, task: str = "auto", n_jobs: int = -1
) -> tuple[dict[str, float], Efficacy]:
    """Train each model on real and on synthetic rows, score both on the holdout, report the ratio."""
    kind = infer_task(prep, task)
    cap = limits.max_rows_efficacy
    tables = {
        "real": prep.real.iloc[subsample(len(prep.real), cap, rng)],
        "synthetic": prep.synthetic.iloc[subsample(len(prep.synthetic), cap, rng)],
        "holdout": prep.holdout.iloc[subsample(len(prep.holdout), cap, rng)],
    }
    split = {name: _split(df, prep, kind) for name, df in tables.items()}
    x_test, y_test = split["holdout"]
    numeric = [c for c in prep.numeric if c != prep.target]
    categorical = [c for c in prep.categorical if c != prep.target]
    real_classes = sorted(set(split["real"][1])) if kind == "classification" else []
    positive = real_classes[1] if len(real_classes) == 2 else None
    seed = int(rng.integers(2**31 - 1))
    primary = "f1_macro" if kind == "classification" else "r2"
    scores: dict[str, float] = {}
    table: dict[str, dict[str, ModelScore]] = {}
    if len(y_test) == 0:
        return {}, Efficacy(skipped=f"the holdout has no row with a value in target {prep.target!r}")
    for name, factory in _models(kind, numeric, categorical, limits, seed, n_jobs).items():
        results = {}
        for source in ("real", "synthetic"):
            x, y = split[source]
            if len(y) == 0:
                continue
            results[source] = _score(kind, _fit(factory, kind, x, y), x_test, y_test, positive)
        table[name] = {}
        for metric in results.get("real", {}):
            real_value = results["real"][metric]
            syn_value = results.get("synthetic", {}).get(metric)
            row = ModelScore(real=real_value, synthetic=syn_value,
                             ratio=syn_value / real_value if syn_value is not None and real_value > 0 else None)
            table[name][metric] = row
            for key, value in row.to_dict().items():
                if value is not None:
                    scores[f"efficacy.{name}.{metric}.{key}"] = float(value)
    ratios = [m[primary].ratio for m in table.values() if primary in m and m[primary].ratio is not None]
    if ratios:
        scores["efficacy.ratio_mean"] = float(np.mean(ratios))
    # A model that learns nothing from the real rows (primary score <= 0, e.g. a decision tree's R2 on noise) has no
    # ratio; it is named and counted rather than silently missing from the mean.
    left_out = {name: m[primary].real for name, m in table.items()
                if primary in m and m[primary].synthetic is not None and m[primary].ratio is None}
    if left_out:
        scores["efficacy.ratio_left_out"] = float(len(left_out))
    return scores, Efficacy(
        task=kind, target=prep.target, primary_metric=primary, positive_class=positive, models=table,
        ratio_left_out={name: f"trained on the real rows it scores {primary} {value:.3f} on the holdout (not above 0), "
                              "so it has no ratio and is left out of efficacy.ratio_mean"
                        for name, value in left_out.items()},
        rows={name: int(len(y)) for name, (_, y) in split.items()},
        subsampled={name: [len(full), len(tables[name])] for name, full in
                    (("real", prep.real), ("synthetic", prep.synthetic), ("holdout", prep.holdout))})
