"""tabdiffusion.evaluation: each metric on constructed tables with known answers, errors, JSON and the HTML report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tabdiffusion.errors import ParameterError, SchemaError
from tabdiffusion.evaluation import EvaluationResult, Limits, evaluate, report_cli
from tabdiffusion.evaluation.fidelity import column_shape

# Small models and folds: the whole file runs in seconds on two shared cores.
FAST = Limits(cv_folds=3, model_scale=0.05)
KW = dict(limits=FAST, n_jobs=1, verbose=False, seed=0)


def table(n: int, seed: int) -> pd.DataFrame:
    """Rows from one fixed distribution: correlated numerics, an integer, categoricals and a binary label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": 0.8 * x + 0.6 * rng.normal(size=n),
            "count": rng.poisson(3, size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]),
            "label": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return table(400, 1)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return table(400, 2)


@pytest.fixture(scope="module")
def independent(real, holdout) -> EvaluationResult:
    return evaluate(real, table(400, 3), holdout, target="label", **KW)


def test_identical_tables_score_perfectly(real, holdout):
    r = evaluate(real, real.copy(), holdout, target="label", **KW)
    s = r.scores
    assert s["fidelity.column_shapes"] == 1.0 and s["fidelity.column_shapes_error"] == 0.0
    assert s["fidelity.column_pair_trends"] == 1.0 and s["fidelity.column_pair_trends_error"] == 0.0
    assert s["privacy.exact_copies_share"] == 1.0
    assert s["privacy.dcr_median"] == 0.0
    assert s["coverage.precision"] == 1.0 and s["coverage.recall"] == 1.0
    assert s["validity.share"] == 1.0 and s["validity.missing_rate_diff_mean"] == 0.0
    assert s["efficacy.ratio_mean"] == pytest.approx(1.0)


def test_copied_training_rows_show_in_privacy(real, holdout):
    copies = real.sample(frac=1.0, random_state=0)
    s = evaluate(real, copies, holdout, target="label", metrics=["privacy"], **KW).scores
    assert s["privacy.exact_copies_share"] == 1.0
    assert s["privacy.dcr_share"] > 0.95
    assert s["privacy.mia_auc"] > 0.95
    assert s["privacy.exact_copies_share_holdout"] == 0.0
    assert s["privacy.dcr_median_holdout"] > 0


def test_copies_stored_as_float32_still_count_as_copies(real, holdout):
    # A copied 0.1 stored as float32 reads back as 0.10000000149: the rows must still match the float64 originals.
    floats = [c for c in real.columns if real[c].dtype == np.float64]
    assert floats, "the fixture needs a float column"
    copies = real.astype({c: np.float32 for c in floats})
    nudged = copies.copy()
    nudged[floats[0]] = (real[floats[0]] + 1e-3 * real[floats[0]].std()).astype(np.float32)
    s = evaluate(real, copies, holdout, target="label", metrics=["privacy"], **KW).scores
    assert s["privacy.exact_copies_share"] == 1.0 and s["privacy.dcr_median"] == 0.0
    nullable = real.astype({c: "Float32" for c in floats})  # pandas' nullable float32 is the same precision
    assert evaluate(real, nullable, holdout, target="label", metrics=["privacy"], **KW).scores[
        "privacy.exact_copies_share"] == 1.0
    assert evaluate(real, nudged, holdout, target="label", metrics=["privacy"], **KW).scores[
        "privacy.exact_copies_share"] < 0.05
    assert all(real[c].dtype == np.float64 for c in floats)  # the inputs are not converted in place


def test_precision_check_reads_every_numeric_dtype():
    # Time-zone-aware datetimes and pandas' nullable dtypes have no numpy dtype; they must not trip the float check.
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=120), "when": pd.date_range("2020-01-01", periods=120, freq="h", tz="UTC"),
                         "n": pd.array(rng.integers(0, 9, 120), dtype="Int64"), "c": rng.choice(["a", "b"], 120)})
    copies = real.astype({"x": "Float32"})
    assert evaluate(real, copies, metrics=["privacy"], **KW).scores["privacy.exact_copies_share"] == 1.0


def test_holdout_rows_passed_off_as_synthetic_are_flagged_by_their_verbatim_matches(real, holdout):
    leaked = pd.concat([table(300, 6), holdout.sample(100, random_state=0)], ignore_index=True)
    r = evaluate(real, leaked, holdout, target="label", metrics=["privacy"], **KW)
    s = r.scores
    assert s["privacy.holdout_copies_share"] == 0.25 and s["privacy.holdout_copies_share_train"] == 0.0
    assert s["privacy.exact_copies_share"] == 0.0  # no training row copied: the training-side lines cannot see it
    assert r.verdicts["privacy"]["level"] == "poor" and "verbatim holdout rows" in r.verdicts["privacy"]["text"]


def test_independent_sample_is_hard_to_detect_and_not_closer_to_training(independent):
    s = independent.scores
    assert abs(s["detection.gbm_auc"] - 0.5) < 0.1
    assert abs(s["detection.logreg_auc"] - 0.5) < 0.1
    assert abs(s["privacy.dcr_share"] - 0.5) < 0.1
    assert abs(s["privacy.mia_auc"] - 0.5) < 0.1
    assert s["privacy.exact_copies_share"] == 0.0 and s["privacy.holdout_copies_share"] == 0.0
    assert s["fidelity.column_shapes"] > 0.85
    assert s["coverage.precision"] > 0.8 and s["coverage.recall"] > 0.8


def test_distinguishable_synthetic_is_detected(real):
    fake = real.copy()
    fake["x"] = fake["x"] * 0.2 + 3
    s = evaluate(real, fake, metrics=["detection"], **KW).scores
    assert s["detection.gbm_auc"] > 0.95 and s["detection.logreg_auc"] > 0.95
    assert s["detection.gbm_score"] < 0.1


def test_constant_shift_raises_that_columns_shape_error(real):
    shifted = real.copy()
    shifted["x"] = shifted["x"] + 1.0
    r = evaluate(real, shifted, metrics=["fidelity", "validity"], **KW)
    columns = r.details["columns"]
    assert columns["x"]["error"] > 0.3
    assert columns["z"]["error"] == 0.0 and columns["colour"]["error"] == 0.0
    assert r.scores["fidelity.column_shapes_error"] > 0.05
    assert columns["x"]["validity"]["valid_share"] < 1.0
    assert r.scores["validity.in_range_share"] < 1.0


def test_known_answers_of_shape_and_trend_metrics():
    real = pd.Series(["a"] * 50 + ["b"] * 50)
    assert column_shape(real, pd.Series(["a"] * 100), numeric=False) == pytest.approx(0.5)
    assert column_shape(pd.Series(np.arange(10.0)), pd.Series(np.arange(10.0) + 100), numeric=True) == 0.0
    x = np.linspace(0, 1, 50)
    r = evaluate(pd.DataFrame({"a": x, "b": x}), pd.DataFrame({"a": x, "b": -x + 1}), metrics=["fidelity"], **KW)
    (pair,) = r.details["pairs"]
    assert pair["metric"] == "CorrelationSimilarity"
    assert pair["real"] == pytest.approx(1.0) and pair["synthetic"] == pytest.approx(-1.0)
    assert pair["score"] == pytest.approx(0.0)


def test_contingency_pairs_use_ten_bins_over_the_real_range():
    real = pd.DataFrame({"v": np.linspace(0, 10, 100), "c": ["p"] * 50 + ["q"] * 50})
    outside = pd.DataFrame({"v": np.linspace(20, 30, 100), "c": ["p"] * 50 + ["q"] * 50})
    r = evaluate(real, outside, metrics=["fidelity"], **KW)
    (pair,) = r.details["pairs"]
    assert pair["metric"] == "ContingencySimilarity"
    assert pair["score"] == pytest.approx(0.0)  # every synthetic value lies in the out-of-range bin
    assert r.scores["fidelity.column_pair_trends"] == pytest.approx(0.0)


def test_shuffled_column_order_gives_the_same_scores(real, holdout):
    synthetic = table(400, 5)
    a = evaluate(real, synthetic, holdout, target="label", **KW).scores
    b = evaluate(real, synthetic[list(reversed(synthetic.columns))], holdout, target="label", **KW).scores
    assert a == b


def test_deterministic_and_json_serialisable(real, holdout, independent, tmp_path):
    again = evaluate(real, table(400, 3), holdout, target="label", **KW)
    assert again.scores == independent.scores
    assert all(type(v) is float for v in again.scores.values())
    text = again.to_json(tmp_path / "r.json")
    json.loads(text)
    json.dumps(again.details, allow_nan=False)
    loaded = EvaluationResult.from_json(tmp_path / "r.json")
    assert loaded.scores == again.scores and loaded.details == again.details
    assert loaded == again and loaded.to_json() == text  # the typed details too, and the JSON key for key


def test_each_group_has_typed_details_that_the_details_dict_mirrors(independent):
    r = independent
    assert r.fidelity.columns["x"].score == r.details["columns"]["x"]["score"]
    assert r.validity.columns["colour"].valid_share == r.details["columns"]["colour"]["validity"]["valid_share"]
    assert r.detection.folds == r.details["detection"]["folds"] == FAST.cv_folds
    assert r.coverage.k == r.details["coverage"]["k"]
    assert r.privacy.equal_size_samples == r.details["privacy"]["equal_size_samples"]
    assert r.privacy.anonymeter.linkability.risk == r.scores["privacy.linkability_risk"]
    assert r.efficacy.models["catboost"]["f1_macro"].real == r.scores["efficacy.catboost.f1_macro.real"]
    assert r.run.rows.holdout == r.details["rows"]["holdout"] == 400
    assert r.subsampled == r.details["subsampled"] and set(r.verdicts) == {"fidelity", "detection", "efficacy", "privacy"}
    only = evaluate(table(100, 1), table(100, 2), metrics="validity", **KW)
    assert only.fidelity is None and only.privacy is None and set(only.details["columns"]["x"]) == {"validity"}


def test_inputs_are_not_modified(real, holdout):
    frames = [real.copy(), table(100, 7), holdout.copy()]
    before = [f.copy(deep=True) for f in frames]
    evaluate(*frames, target="label", **KW)
    for f, b in zip(frames, before):
        pd.testing.assert_frame_equal(f, b)


def test_missing_and_extra_synthetic_columns_are_named(real):
    bad = real.drop(columns=["z"]).assign(extra=1)
    with pytest.raises(SchemaError, match=r"missing columns \['z'\].*extra columns \['extra'\]"):
        evaluate(real, bad, **KW)
    with pytest.raises(SchemaError, match="holdout.*missing columns"):
        evaluate(real, real, real.drop(columns=["x"]), **KW)


def test_bad_arguments_raise_value_errors(real):
    with pytest.raises(ParameterError, match="target='nope'"):
        evaluate(real, real, target="nope", **KW)
    with pytest.raises(SchemaError, match="empty"):
        evaluate(real, real.iloc[:0], **KW)
    with pytest.raises(ValueError, match="unknown groups"):
        evaluate(real, real, metrics=["nonsense"], **KW)
    with pytest.raises(ValueError, match=r"unknown groups \['nonsense'\]"):  # one group as a string, not its letters
        evaluate(real, real, metrics="nonsense", **KW)
    one_class = real[real["label"] == "yes"]
    with pytest.raises(ParameterError, match="Target 'label' has 1 distinct value"):
        evaluate(one_class, one_class, real, target="label", metrics="efficacy", **KW)
    with pytest.raises(ValueError, match="cv_folds"):
        Limits(cv_folds=1)


def test_missing_values_datetimes_booleans_and_ids(tmp_path):
    rng = np.random.default_rng(0)
    n = 120

    def frame(missing: float) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "id": [f"row{i}-{rng.integers(1e9)}" for i in range(n)],
                "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
                "flag": rng.random(n) > 0.5,
                "amount": rng.gamma(2.0, size=n),
                "city": rng.choice(["a", "b", "c"], size=n).astype(object),
            }
        )
        df.loc[rng.random(n) < missing, "amount"] = np.nan
        df.loc[rng.random(n) < missing, "city"] = None
        return df

    real, synthetic = frame(0.0), frame(0.3)
    synthetic["flag"] = synthetic["flag"].astype(int)  # 1/0 for True/False is still the same category
    r = evaluate(real, synthetic, **KW)
    assert "id" in r.details["skipped_columns"] and "id" not in r.details["columns"]
    assert r.details["kinds"]["when"] == "datetime"
    columns = r.details["columns"]
    assert columns["amount"]["missing_real"] == 0.0 and columns["amount"]["missing_synthetic"] > 0.15
    assert columns["flag"]["validity"]["valid_share"] == 1.0
    assert r.scores["validity.missing_rate_diff_mean"] > 0.05
    assert r.scores["fidelity.column_shapes"] > 0.7  # shapes compare non-missing values only
    assert "efficacy" in r.details["skipped_groups"]
    html = r.to_html(tmp_path / "r.html")
    assert "when" in html


def test_subsampling_is_recorded(real, holdout):
    limits = Limits(cv_folds=3, model_scale=0.05, max_rows_neighbors=100, max_rows_detection=150)
    r = evaluate(real, table(400, 4), holdout, limits=limits, n_jobs=1, verbose=False, metrics=["detection", "privacy"])
    assert r.details["subsampled"]["privacy"]["synthetic"] == [400, 100]
    assert r.details["subsampled"]["detection"]["real"] == [400, 150]
    assert r.details["privacy"]["equal_size_samples"] == 100 and r.details["privacy"]["equal_size_draws"] == 1


def test_dcr_share_averages_disjoint_training_samples_when_the_training_split_is_larger(real):
    from tabdiffusion.evaluation.privacy import _disjoint_draws, dcr_share_and_mia

    r = evaluate(real, table(300, 4), table(100, 5), metrics=["privacy"], **KW)
    assert r.details["privacy"]["equal_size_samples"] == 100 and r.details["privacy"]["equal_size_draws"] == 4
    draws = _disjoint_draws(650, 100, 10_000, np.random.default_rng(0))
    assert len(draws) == 6 and len(np.unique(np.concatenate(draws))) == 600  # each training row at most once
    assert len(_disjoint_draws(100_000, 100, 5_000, np.random.default_rng(0))) == 50  # up to the row cap
    assert len(_disjoint_draws(150, 100, 10_000, np.random.default_rng(0))) == 1
    # A generator that memorised 100 of 600 training rows: which 100 training rows are drawn moves the one-sample
    # share; averaging over the six disjoint samples keeps the same expectation with a far smaller spread.
    gen = np.random.default_rng(1)
    train, hold = gen.normal(size=(600, 4)), gen.normal(size=(100, 4))
    syn = np.r_[train[:100] + 0.01 * gen.normal(size=(100, 4)), gen.normal(size=(200, 4))]
    one, six = [], []
    for seed in range(20):
        rows = _disjoint_draws(600, 100, 10_000, np.random.default_rng(seed))
        one.append(dcr_share_and_mia(syn, [train[rows[0]]], hold)[0])
        six.append(dcr_share_and_mia(syn, [train[r] for r in rows], hold)[0])
    assert abs(np.mean(one) - np.mean(six)) < 0.02
    assert np.std(six) < 0.5 * np.std(one)


def test_efficacy_reports_models_for_classification_and_regression(real, holdout, independent):
    s = independent.scores
    for model in ("catboost", "random_forest", "logistic_regression", "decision_tree"):
        for metric in ("f1_macro", "roc_auc"):
            assert {f"efficacy.{model}.{metric}.{k}" for k in ("real", "synthetic", "ratio")} <= set(s)
    assert independent.details["efficacy"]["task"] == "classification"
    r = evaluate(real, table(400, 6), holdout, target="z", metrics=["efficacy"], **KW)
    assert r.details["efficacy"]["task"] == "regression"
    assert s["efficacy.catboost.f1_macro.real"] > 0.6
    assert r.scores["efficacy.ridge.r2.real"] > 0.4 and "efficacy.ridge.rmse.synthetic" in r.scores


def test_without_holdout_the_holdout_metrics_are_left_out(real):
    r = evaluate(real, table(200, 8), target="label", **KW)
    assert "privacy.dcr_share" not in r.scores and "privacy.mia_auc" not in r.scores
    assert "privacy.dcr_median" in r.scores
    assert r.details["skipped_groups"]["efficacy"] == "needs both target= and holdout="


def test_html_report_is_self_contained(independent, tmp_path):
    path = tmp_path / "report.html"
    html = independent.to_html(path)
    assert path.read_text(encoding="utf-8") == html
    assert html.count("data:image/png;base64,") >= 5 + 3  # per-column plots, shapes, heatmaps, DCR histogram
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html
    for heading in ("Fidelity", "Detection", "Privacy", "ML efficacy", "Validity"):
        assert f"<h2>{heading}</h2>" in html


def test_html_needs_matplotlib_with_install_hint(independent, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install tabdiffusion\[report\]"):
        independent.to_html()


def test_wide_tables_cap_the_plotted_columns(tmp_path):
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(60, 40)), columns=[f"c{i}" for i in range(40)])
    r = evaluate(wide, wide * 1.1, metrics=["fidelity"], **KW)
    html = r.to_html(max_columns=6)
    assert "Showing 6 of 40 columns" in html
    assert "Showing the 30 columns" in html


def test_report_cli_reads_files_and_writes_reports(real, holdout, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = {}
    for name, df in (("real", real), ("synthetic", table(400, 9)), ("holdout", holdout)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    r = report_cli(
        paths["real"], paths["synthetic"], paths["holdout"], target="label",
        out_html=tmp_path / "out.html", out_json=tmp_path / "out.json", seed=0, verbose=False, limits=FAST,
    )
    assert json.loads((tmp_path / "out.json").read_text())["scores"] == r.scores
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")
    assert not (tmp_path / "catboost_info").exists()  # CatBoost must not litter the working directory


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"), reason="no chromium/chrome on PATH (CI installs it)")
def test_report_renders_in_headless_chromium(independent, tmp_path):
    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    independent.to_html(page)
    subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,3000",
         f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1200)
    # Not blank: many distinct colours (plots, cards), and the report's width is used.
    assert len(np.unique((pixels[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200
    assert pixels[:, 600:].std() > 0.05


def test_high_cardinality_categoricals_and_unseen_categories():
    rng = np.random.default_rng(0)

    def frame(offset: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"code": [f"k{v}" for v in rng.integers(offset, offset + 400, 600)], "value": rng.normal(size=600)}
        )

    real, synthetic = frame(0), frame(100)  # a quarter of the synthetic codes never occur in the real table
    limits = Limits(cv_folds=3, model_scale=0.05, max_categories_embedding=20)
    r = evaluate(real, synthetic, real.iloc[:300], limits=limits, n_jobs=1, verbose=False)
    validity = r.details["columns"]["code"]["validity"]
    unseen = ~synthetic["code"].isin(set(real["code"]))
    assert validity["valid_share"] == pytest.approx(1 - unseen.mean())
    assert validity["unseen_count"] == unseen.sum() and len(validity["unseen_categories"]) == 10
    assert r.details["kinds"]["code"] == "categorical"
    assert "detection.gbm_auc" in r.scores  # detection runs on a column of hundreds of levels
    # the values are continuous draws, so no synthetic row is a copy and the closest real row is never at distance 0
    assert r.scores["privacy.exact_copies_share"] == 0 and r.scores["privacy.dcr_median"] > 0
    plot = r.details["columns"]["code"]["plot"]
    assert len(plot["categories"]) == 16 and plot["categories"][-1].startswith("(other")


def test_privacy_verdict_weighs_every_memorisation_signal_against_the_holdout():
    from tabdiffusion.evaluation.verdicts import verdicts

    rows = {"real": 2000, "synthetic": 2000, "holdout": 2000}
    honest = {"privacy.exact_copies_share": 0.0, "privacy.exact_copies_share_holdout": 0.0, "privacy.dcr_share": 0.51,
              "privacy.mia_auc": 0.5, "privacy.close_share": 0.01}

    def level(**changes):
        return verdicts({**honest, **changes}, rows)["privacy"]["level"]

    assert level() == "good"
    assert level(**{"privacy.mia_auc": 0.9}) == "poor"  # a small holdout dilutes the DCR share, not this
    assert level(**{"privacy.exact_copies_share": 0.009}) == "fair"  # 18 verbatim records of 2,000
    assert level(**{"privacy.exact_copies_share": 0.508, "privacy.exact_copies_share_holdout": 0.501}) == "good"  # chance
    assert level(**{"privacy.close_share": 0.11}) == "poor"  # a tenth of the rows are near-copies
    assert level(**{"privacy.holdout_copies_share": 0.02, "privacy.holdout_copies_share_train": 0.0}) == "fair"
    assert level(**{"privacy.holdout_copies_share": 0.296, "privacy.holdout_copies_share_train": 0.29}) == "good"  # chance
    # Rows that repeat by nature: 1.1 points over a 28.9% chance rate is 0.8 standard errors, not a leak.
    assert level(**{"privacy.exact_copies_share": 0.300, "privacy.exact_copies_share_holdout": 0.289}) == "good"
    assert level(**{"privacy.holdout_copies_share": 0.300, "privacy.holdout_copies_share_train": 0.289}) == "good"
    assert level(**{"privacy.holdout_copies_share": 0.340, "privacy.holdout_copies_share_train": 0.289}) == "poor"
    assert level(**{"privacy.exact_copies_share_holdout": 1.0, "privacy.exact_copies_share": 1.0}) == "not assessed"
    without_holdout = verdicts({"privacy.exact_copies_share": 0.001}, {"synthetic": 2000, "holdout": None})["privacy"]
    assert without_holdout["level"] == "not assessed" and "Pass holdout=" in without_holdout["text"]
    assert verdicts({"detection.gbm_auc": 0.04})["detection"]["level"] == "poor"  # far below 0.5: copies
    # An honest 30-row pair can score 0.29 (docs/metrics.md); from a few hundred rows per side 0.34 means copies.
    assert verdicts({"detection.gbm_auc": 0.29}, {"real": 30, "synthetic": 30})["detection"]["level"] == "good"
    assert verdicts({"detection.gbm_auc": 0.07}, {"real": 60, "synthetic": 900})["detection"]["level"] == "poor"
    assert verdicts({"detection.gbm_auc": 0.34}, {"real": 5000, "synthetic": 300})["detection"]["level"] == "poor"
    # A small holdout: copies are judged by their excess even when its noise is large; close_share is not graded.
    small = {"real": 2000, "synthetic": 10_000, "holdout": 50}
    assert verdicts({**honest, "privacy.exact_copies_share": 0.07}, small)["privacy"]["level"] == "poor"
    assert verdicts({**honest, "privacy.exact_copies_share": 0.02}, {**small, "holdout": 300})["privacy"]["level"] == "fair"
    assert verdicts({**honest, "privacy.close_share": 0.2}, {**small, "holdout": 300})["privacy"]["level"] == "good"


def test_a_minority_of_near_copies_shows_in_close_share(real, holdout):
    rng = np.random.default_rng(0)
    near = real.sample(60, random_state=0).assign(x=lambda t: t["x"] + rng.normal(scale=1e-3, size=len(t)))
    honest = table(340, 5)
    s = evaluate(real, pd.concat([honest, near], ignore_index=True), holdout, metrics=["privacy"], **KW).scores
    assert s["privacy.close_share"] > 0.1  # 60 of 400 rows: 15% against 1% for unseen rows
    assert evaluate(real, table(400, 6), holdout, metrics=["privacy"], **KW).scores["privacy.close_share"] < 0.04


def test_models_that_learn_nothing_from_the_real_rows_are_named_not_silently_left_out_of_the_efficacy_mean():
    rng = np.random.default_rng(0)

    def weak(n: int = 300) -> pd.DataFrame:  # a weak linear signal: ridge finds it, a deep tree overfits the noise
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "y": 0.5 * x + rng.normal(size=n)})

    r = evaluate(weak(), weak(), weak(), target="y", metrics=("efficacy",), task="regression", **KW)
    models = r.details["efficacy"]["models"]
    dropped = {name for name, m in models.items() if m["r2"]["real"] <= 0}
    kept = [m["r2"]["ratio"] for name, m in models.items() if name not in dropped]
    assert dropped and kept
    assert set(r.details["efficacy"]["ratio_left_out"]) == dropped
    assert r.scores["efficacy.ratio_left_out"] == len(dropped)
    assert r.scores["efficacy.ratio_mean"] == pytest.approx(np.mean(kept))
    assert f"{len(dropped)} model(s) left out of this mean" in r.verdicts["efficacy"]["text"]


def test_domias_finds_copied_training_rows_and_not_fresh_ones():
    """A 'synthetic' table of training rows with tiny jitter gives DOMIAS an AUC well above 0.5 with an interval
    above it, and the privacy verdict names the attack; fresh rows from the same distribution keep 0.5 inside the
    interval."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], n)})

    train, holdout = draw(600), draw(600)
    copied = train.sample(600, replace=True, random_state=0).assign(a=lambda d: d.a + rng.normal(0, 0.01, 600))
    leaky = evaluate(train, copied, holdout=holdout, metrics="privacy", verbose=False, seed=0)
    assert leaky.scores["privacy.domias_auc"] > 0.7 and leaky.scores["privacy.domias_auc_low"] > 0.5
    assert "DOMIAS" in leaky.verdicts["privacy"]["text"]
    fresh = evaluate(train, draw(600), holdout=holdout, metrics="privacy", verbose=False, seed=0)
    assert fresh.scores["privacy.domias_auc_low"] <= 0.5 <= fresh.scores["privacy.domias_auc_high"]
    assert "DOMIAS" not in fresh.verdicts["privacy"]["text"]


def test_a_result_shows_its_verdict_cards_in_a_notebook(mixed_table):
    result = evaluate(mixed_table.iloc[:80], mixed_table.iloc[80:], metrics="fidelity", verbose=False)
    html = result._repr_html_()
    assert 'class="card' in html and "Fidelity" in html and "<style>" in html
    assert "<img" not in html  # cards and scores only: no plots, no matplotlib needed


def test_the_privacy_metrics_and_the_memorisation_stop_measure_one_distance(mixed_table):
    """evaluate's embedding (DataFrame rows) and the fit's proximity check (model codes) give equal distances between
    rows whose numbers are present (a missing number sits at a median in both, computed in two ways)."""
    from scipy.spatial.distance import cdist

    from tabdiffusion import infer_schema
    from tabdiffusion.evaluation._data import prepare
    from tabdiffusion.evaluation.embedding import fit_embedder
    from tabdiffusion.proximity import ProximityReference
    from tabdiffusion.transforms.table import TableEncoder

    encoder = TableEncoder(infer_schema(mixed_table), "label", None, 100, seed=0).fit(mixed_table)
    codes = encoder.encode(mixed_table)
    from_codes = ProximityReference(encoder, codes, np.random.default_rng(0)).embed(codes)
    prep = prepare(mixed_table, mixed_table, None, None, None)
    from_frames = fit_embedder(prep, 100).transform(prep.real)
    present = prep.real[prep.numeric].notna().all(axis=1).to_numpy()
    assert 0 < present.sum() < len(present) and prep.real[prep.categorical].isna().any().any()
    np.testing.assert_allclose(cdist(from_codes[present], from_codes[present]),
                               cdist(from_frames[present], from_frames[present]), atol=1e-5)


def test_docs_state_the_lines_that_the_verdicts_draw():
    """docs/metrics.md's verdict table and notes give the numbers of evaluation/thresholds.py."""
    from pathlib import Path

    from tabdiffusion.evaluation import thresholds as t

    text = Path(__file__).resolve().parents[1].joinpath("docs", "metrics.md").read_text(encoding="utf-8")
    full_rows = round(t.copy_auc_full_rows(), -2)  # the docs round it: "under about 200 rows"
    copies = (f"at most {t.COPY_SIGMAS:g} binomial standard errors of the difference (and at most "
              f"{t.RARE_CHANCE_MARGIN * 100:g} point where the chance rate is under {t.RARE_CHANCE:.0%}) | more, by at "
              f"most {t.COPY_POOR_EXCESS * 100:g} points | more than {t.COPY_POOR_EXCESS * 100:g} points |")
    expected = [
        f"| fidelity: mean of shapes and trends | ≥ {t.FIDELITY.good:g} | ≥ {t.FIDELITY.fair:g} | below |",
        f"| detection: `detection.gbm_auc` | ≤ {t.DETECTION.good:g} | ≤ {t.DETECTION.fair:g} | above |",
        f"| ML efficacy: `efficacy.ratio_mean` | ≥ {t.EFFICACY.good:g} | ≥ {t.EFFICACY.fair:g} | below |",
        f"| detection: `detection.gbm_auc` below {t.COPY_AUC:g} (below 0.5 − {t.COPY_AUC_NULL_SDS:g} null standard "
        f"deviations when that is lower: under about {full_rows} rows per side) |",
        f"| privacy: `dcr_share`, `mia_auc` | both ≤ {t.MEMBERSHIP.good:g} | ≤ {t.MEMBERSHIP.fair:g} | above |",
        f"| interval above 0.5, AUC ≤ {t.DOMIAS_POOR_AUC:g} | interval above 0.5, AUC above {t.DOMIAS_POOR_AUC:g} |",
        f"| an interval above 0, its risk ≤ {t.ANONYMETER_POOR_RISK:g} | an interval above 0, its risk above "
        f"{t.ANONYMETER_POOR_RISK:g} |",
        f"| privacy: `close_share` (graded with a holdout of {t.close_share_min_holdout():,} rows or more, so that its "
        f"1st percentile rests on {t.CLOSE_MIN_TAIL_ROWS} rows) | ≤ {t.CLOSE_SHARE.good:.2f} | ≤ {t.CLOSE_SHARE.fair:.2f} "
        "| above |",
        f"| privacy: exact copies above the holdout's chance matches | {copies}",
        f"| privacy: verbatim holdout rows above the training rows' chance matches (`holdout_copies_share`) | {copies}",
        f"min({t.COPY_AUC:g}, 0.5 − {t.COPY_AUC_NULL_SDS:g} sd₀)",
        f"{t.copy_auc_limit(full_rows):.2f} from {full_rows}",
        f"poor if over {t.NO_HOLDOUT_POOR_COPIES:.0%} of the synthetic rows are verbatim training rows",
        f"(over {t.HOLDOUT_OVERLAP_UNUSABLE:.0%}) appear in the training table",
        f"A holdout under {t.SMALL_HOLDOUT_ROWS}\nrows makes the verdict say that its scores are noisy",
        f"averages away when only a minority of rows is copied | {t.CLOSE_QUANTILE:g} |",
    ]
    expected += [f"{t.copy_auc_limit(n):.2f} at {n}" for n in (30, 60, 120)]  # the copy line on small tables
    for line in expected:
        assert line in text, line
