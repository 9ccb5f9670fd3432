"""DiffusionOversampler: imbalanced-learn's sampler contract, every sampling_strategy form, the Pipeline, errors."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import tabdiffusion as td
from conftest import make_mixed_table

pytest.importorskip("imblearn")

TINY = dict(steps=20, min_proximity=0, d_layers=(16,), num_timesteps=10, device="cpu", calibrate=False)


def _three_classes(n: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    """A mixed table and labels with 60% / 30% / 10% of the rows in classes 'a', 'b', 'c'."""
    table = make_mixed_table(n).drop(columns=["label", "customer_id"])
    y = pd.Series(np.repeat(["a", "b", "c"], [n * 6 // 10, n * 3 // 10, n // 10]), name="segment")
    return table, y


@pytest.mark.parametrize("strategy, expected", [
    ("auto", {"a": 144, "b": 144, "c": 144}),
    ("not majority", {"a": 144, "b": 144, "c": 144}),
    ("all", {"a": 144, "b": 144, "c": 144}),
    ("minority", {"a": 144, "b": 72, "c": 144}),
    ("not minority", {"a": 144, "b": 144, "c": 24}),
    ({"b": 100, "c": 50}, {"a": 144, "b": 100, "c": 50}),
    (lambda y: {"c": 30}, {"a": 144, "b": 72, "c": 30}),
])
def test_every_sampling_strategy_gives_its_class_counts_with_the_original_rows_first(strategy, expected):
    X, y = _three_classes()
    X_res, y_res = td.DiffusionOversampler(sampling_strategy=strategy, random_state=0, **TINY).fit_resample(X, y)
    assert y_res.value_counts().to_dict() == expected
    assert list(X_res.columns) == list(X.columns) and (X_res.dtypes == X.dtypes).all()
    pd.testing.assert_frame_equal(X_res.iloc[: len(X)], X)  # the original rows, unchanged and first
    assert y_res.iloc[: len(y)].tolist() == y.tolist() and y_res.name == "segment"
    assert X_res.iloc[len(X):].notna().any(axis=1).all() and len(X_res) == len(y_res)


def test_a_float_strategy_sets_the_minority_to_majority_ratio_for_two_classes():
    X, y = _three_classes()
    binary = y.replace({"b": "a"})
    _, y_res = td.DiffusionOversampler(sampling_strategy=0.5, random_state=0, **TINY).fit_resample(X, binary)
    assert y_res.value_counts().to_dict() == {"a": 216, "c": 108}


def test_numeric_arrays_and_integer_labels_come_back_as_arrays_of_their_dtype():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=200), rng.normal(5, 2, size=200)])
    y = (np.arange(200) < 30).astype(int)
    X_res, y_res = td.DiffusionOversampler(random_state=0, **TINY).fit_resample(X, y)
    assert isinstance(X_res, np.ndarray) and X_res.dtype == X.dtype and X_res.shape == (340, 2)
    assert isinstance(y_res, np.ndarray) and np.bincount(y_res).tolist() == [170, 170]
    np.testing.assert_array_equal(X_res[:200], X)


def test_generated_rows_follow_their_class():
    """Class 1's x is near +3 and class 0's near -3: rows generated for class 1 sit on its side."""
    rng = np.random.default_rng(0)
    y = (np.arange(600) < 90).astype(int)
    X = pd.DataFrame({"x": np.where(y == 1, 3.0, -3.0) + rng.normal(0, 0.5, 600), "z": rng.normal(size=600)})
    sampler = td.DiffusionOversampler(random_state=0, steps=600, min_proximity=0, d_layers=(64, 64), num_timesteps=50,
                                      device="cpu")
    X_res, y_res = sampler.fit_resample(X, y)
    new = X_res.iloc[600:]
    assert (y_res[600:] == 1).all() and (new.x > 0).mean() > 0.95, new.x.describe()


def test_the_same_random_state_repeats_its_rows_and_another_does_not():
    X, y = _three_classes()
    first = td.DiffusionOversampler(random_state=3, **TINY).fit_resample(X, y)[0]
    pd.testing.assert_frame_equal(first, td.DiffusionOversampler(random_state=3, **TINY).fit_resample(X, y)[0])
    assert not first.equals(td.DiffusionOversampler(random_state=4, **TINY).fit_resample(X, y)[0])


def test_in_an_imblearn_pipeline_it_resamples_at_fit_only():
    from imblearn.pipeline import Pipeline
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Recorder(ClassifierMixin, BaseEstimator):
        """A classifier that remembers the class counts it was fitted on."""

        def fit(self, X, y):
            self.counts_ = pd.Series(y).value_counts().to_dict()
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.full(len(X), self.classes_[0])

    X, y = _three_classes()
    pipeline = Pipeline([("grow", td.DiffusionOversampler(random_state=0, **TINY)), ("model", Recorder())]).fit(X, y)
    assert pipeline.named_steps["model"].counts_ == {"a": 144, "b": 144, "c": 144}
    assert len(pipeline.predict(X)) == len(X)  # no resampling when predicting


def test_clone_and_set_params_keep_the_synthesizer_keywords():
    from sklearn.base import clone

    sampler = td.DiffusionOversampler(sampling_strategy="minority", time_budget=30, steps=100)
    copy = clone(sampler).set_params(steps=50, random_state=1)
    assert copy.get_params()["time_budget"] == 30 and copy.get_params()["steps"] == 50
    assert copy.get_params()["sampling_strategy"] == "minority" and copy.random_state == 1
    assert sampler.get_params()["steps"] == 100


def test_a_given_synthesizer_is_copied_not_fitted():
    X, y = _three_classes()
    template = td.Synthesizer(verbose=False, **TINY)
    sampler = td.DiffusionOversampler(synthesizer=template, random_state=0).fit_resample(X, y) and None
    assert not hasattr(template, "model_")
    with pytest.raises(td.ParameterError, match="either synthesizer= or Synthesizer keywords"):
        td.DiffusionOversampler(synthesizer=template, steps=5).fit_resample(X, y)
    assert sampler is None


@pytest.mark.parametrize("labels, strategy, message", [
    (["a"] * 40, "auto", "needs to have more than 1 class"),
    (list(np.linspace(0, 1, 40)), "auto", "Unknown label type: continuous"),
    (["a"] * 39 + ["b"], "auto", "Class 'b' has 1 row; a class to grow needs at least 2 rows"),
    (["a"] * 30 + ["b"] * 10, {"a": 20, "b": 30}, "number of samples in a class should be greater or equal"),
])
def test_bad_targets_and_strategies_get_a_clear_error(labels, strategy, message):
    X = make_mixed_table(40)[["age", "income", "city"]]
    with pytest.raises(ValueError, match=message):
        td.DiffusionOversampler(sampling_strategy=strategy, **TINY).fit_resample(X, np.asarray(labels))


def test_imbalanced_learns_own_sampler_checks_pass():
    """imbalanced-learn's estimator checks for samplers (all sixteen apply: dense arrays, DataFrames, sparse
    DataFrame columns, strings, NaN, one-vs-all targets, feature names)."""
    import warnings

    from imblearn.utils.estimator_checks import parametrize_with_checks

    sampler = td.DiffusionOversampler(random_state=0, **TINY)
    checks = list(parametrize_with_checks([sampler]).args[1])
    assert len(checks) >= 16
    for estimator, check in checks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            check(estimator)


def test_the_package_imports_without_imbalanced_learn(monkeypatch):
    for name in [m for m in sys.modules if m == "imblearn" or m.startswith("imblearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "tabdiffusion.oversampling", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'tabdiffusion\[imbalanced\]'"):
        td.DiffusionOversampler
    assert td.Synthesizer is not None


def test_the_cli_oversamples_a_file(tmp_path):
    from typer.testing import CliRunner

    from tabdiffusion.cli import app

    X, y = _three_classes()
    X.assign(segment=y).to_csv(tmp_path / "data.csv", index=False)
    result = CliRunner().invoke(app, ["oversample", str(tmp_path / "data.csv"), "--target", "segment", "--out",
                                      str(tmp_path / "out.csv"), "--strategy", "minority", "--seed", "0",
                                      "--steps", "20"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert out.segment.value_counts().to_dict() == {"a": 144, "c": 144, "b": 72}
    assert out.head(len(X)).segment.tolist() == y.tolist()
    bad = CliRunner().invoke(app, ["oversample", str(tmp_path / "data.csv"), "--target", "nope", "--out",
                                   str(tmp_path / "x.csv")])
    assert bad.exit_code == 1 and "nope" in bad.output and "Traceback" not in bad.output


def test_the_oversamplers_model_guides_its_classes_unless_told_otherwise():
    X, y = _three_classes()
    sampler = td.DiffusionOversampler(random_state=0, **TINY)
    sampler.fit_resample(X, y)
    assert sampler.synthesizer_.config_.label_dropout == 0.1 and sampler.synthesizer_.config_.guidance == 1.0
    plain = td.DiffusionOversampler(random_state=0, guidance=0, label_dropout=0, **TINY)
    plain.fit_resample(X, y)
    assert plain.synthesizer_.config_.guidance == 0 and plain.synthesizer_.model_.label_embedding.num_embeddings == 3
