"""Detection (C2ST): how well classifiers tell real rows from synthetic rows under stratified k-fold CV."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from ._data import Prepared, subsample
from .limits import Limits
from .records import Detection

GBM_ITERATIONS = 100
GBM_MAX_CATEGORIES = 250  # HistGradientBoosting allows at most 255 categories per feature
LOGREG_MAX_CATEGORIES = 50


def _stack(prep: Prepared, limits: Limits, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Equal-size samples of real (label 0) and synthetic (label 1) rows, and what was subsampled."""
    n = min(len(prep.real), len(prep.synthetic), limits.max_rows_detection)
    real_rows = subsample(len(prep.real), n, rng)
    syn_rows = subsample(len(prep.synthetic), n, rng)
    data = pd.concat([prep.real.iloc[real_rows], prep.synthetic.iloc[syn_rows]], ignore_index=True)
    labels = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    sampled = {"real": [len(prep.real), n], "synthetic": [len(prep.synthetic), n]}
    return data, labels, sampled


def _gbm_features(data: pd.DataFrame, prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Float matrix with categoricals as ordinal codes (rare ones pooled), and the categorical mask."""
    blocks, mask = [], []
    for name in prep.columns:
        column = data[name]
        if name in prep.numeric:
            blocks.append(column.to_numpy(float))
            mask.append(False)
            continue
        top = column.value_counts().index[:GBM_MAX_CATEGORIES]
        codes = np.array(column.map({c: float(i) for i, c in enumerate(top)}), dtype=float)
        codes[np.isnan(codes) & column.notna().to_numpy()] = GBM_MAX_CATEGORIES  # pooled rare categories
        blocks.append(codes)
        mask.append(True)
    return np.column_stack(blocks), np.array(mask)


def _logreg(prep: Prepared, seed: int):
    """Standardised numerics (median-imputed, with missing indicators) and one-hot categoricals into a logistic regression."""
    steps = []
    if prep.numeric:
        steps.append(
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()), prep.numeric)
        )
    if prep.categorical:
        steps.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="<missing>"),
                    OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=LOGREG_MAX_CATEGORIES),
                ),
                prep.categorical,
            )
        )
    return make_pipeline(ColumnTransformer(steps), LogisticRegression(max_iter=1000, random_state=seed))


def _cross_validated_auc(fit_predict, labels: np.ndarray, folds: StratifiedKFold, n: int) -> list[float]:
    """ROC AUC on each held-out fold."""
    aucs = []
    for train, test in folds.split(np.zeros(n), labels):
        aucs.append(float(roc_auc_score(labels[test], fit_predict(train, test))))
    return aucs


def detection(prep: Prepared, limits: Limits, rng: np.random.Generator) -> tuple[dict[str, float], Detection]:
    """C2ST ROC AUC of gradient boosting and of logistic regression (0.5 = indistinguishable)."""
    data, labels, sampled = _stack(prep, limits, rng)
    folds_count = min(limits.cv_folds, len(data) // 2)
    if folds_count < 2:
        return {}, Detection(skipped="fewer than 2 rows per table", subsampled=sampled)
    folds = StratifiedKFold(n_splits=folds_count, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    features, mask = _gbm_features(data, prep)
    gbm_seed, lr_seed = (int(v) for v in rng.integers(2**31 - 1, size=2))

    def gbm(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = HistGradientBoostingClassifier(
            max_iter=limits.scaled(GBM_ITERATIONS), categorical_features=mask, early_stopping=False, random_state=gbm_seed
        )
        # One OpenMP thread: at these sizes more threads gain little, and on a busy machine they are many times slower.
        with threadpool_limits(limits=1, user_api="openmp"):
            model.fit(features[train], labels[train])
            return model.predict_proba(features[test])[:, 1]

    def logreg(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = _logreg(prep, lr_seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and unknown-category warnings do not change the AUC's meaning
            model.fit(data.iloc[train], labels[train])
            return model.predict_proba(data.iloc[test])[:, 1]

    gbm_aucs = _cross_validated_auc(gbm, labels, folds, len(data))
    lr_aucs = _cross_validated_auc(logreg, labels, folds, len(data))
    gbm_auc, lr_auc = float(np.mean(gbm_aucs)), float(np.mean(lr_aucs))
    scores = {
        "detection.gbm_auc": gbm_auc,
        "detection.gbm_score": 1.0 - (2.0 * max(gbm_auc, 0.5) - 1.0),
        "detection.logreg_auc": lr_auc,
        "detection.logreg_score": 1.0 - (2.0 * max(lr_auc, 0.5) - 1.0),
    }
    return scores, Detection(folds=folds_count, gbm_fold_aucs=gbm_aucs, logreg_fold_aucs=lr_aucs, subsampled=sampled)
