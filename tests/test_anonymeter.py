"""Anonymeter's singling-out, linkability and inference risks on constructed tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabdiffusion.evaluation import EvaluationResult, evaluate
from tabdiffusion.evaluation._data import prepare
from tabdiffusion.evaluation.anonymeter import risk, singling_out, wilson
from tabdiffusion.evaluation.embedding import fit_embedder
from tabdiffusion.evaluation.verdicts import verdicts

N = 300
ATTACKS = ("singling_out", "linkability", "inference")


def draw(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Correlated numerics, a positive skewed one, an integer and two categoricals."""
    x = rng.normal(size=n)
    return pd.DataFrame({
        "a": x,
        "b": 0.6 * x + 0.8 * rng.normal(size=n),
        "income": np.round(np.exp(10 + 0.5 * rng.normal(size=n)), 2),
        "age": rng.integers(18, 90, size=n),
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        "city": rng.choice(["Oslo", "Lima", "Pune", "Kobe", "Nice"], n),
    })


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """Training rows, holdout rows, jittered copies of the training rows, and a fresh sample of the population."""
    rng = np.random.default_rng(0)
    train, holdout = draw(N, rng), draw(N, rng)
    copied = train.iloc[rng.permutation(N)].reset_index(drop=True)
    copied["a"] += rng.normal(0, 0.01, N)
    return {"train": train, "holdout": holdout, "copied": copied, "fresh": draw(N, rng)}


@pytest.fixture(scope="module")
def copied(tables) -> EvaluationResult:
    return evaluate(tables["train"], tables["copied"], tables["holdout"], metrics="privacy", verbose=False, seed=0)


@pytest.fixture(scope="module")
def fresh(tables) -> EvaluationResult:
    return evaluate(tables["train"], tables["fresh"], tables["holdout"], metrics="privacy", verbose=False, seed=0)


def test_wilson_interval_matches_hand_computation():
    """20 successes in 100 at 95%: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) with z = 1.95996."""
    centre, half = wilson(20, 100)
    assert (centre - half, centre + half) == pytest.approx((0.133367, 0.288829), abs=1e-6)
    centre, half = wilson(0, 10)  # no successes: from 0 to z² / (n + z²)
    assert (centre - half, centre + half) == pytest.approx((0.0, 3.841459 / 13.841459), abs=1e-6)


def test_risk_is_the_excess_over_control_within_bounds():
    value, low, high = risk((0.5, 0.0), (0.2, 0.0))
    assert value == low == high == pytest.approx(0.375)  # (0.5 - 0.2) / (1 - 0.2)
    value, low, high = risk((0.5, 0.03), (0.2, 0.04))
    error = np.hypot(0.03 / 0.8, 0.04 * 0.5 / 0.8**2)
    assert (low, high) == pytest.approx((0.375 - error, 0.375 + error))
    assert risk((0.1, 0.02), (0.3, 0.02))[:2] == (0.0, 0.0)  # control beats main: clipped to 0


def test_copies_of_training_rows_are_flagged(copied):
    r, s = copied, copied.scores
    for name in ("linkability", "inference", "singling_out"):
        assert s[f"privacy.{name}_low"] > 0, name
        assert s[f"privacy.{name}_low"] <= s[f"privacy.{name}_risk"] <= s[f"privacy.{name}_high"]
        assert s[f"privacy.{name}_attack_rate"] > s[f"privacy.{name}_control_rate"]
    assert s["privacy.linkability_risk"] > 0.9 and s["privacy.inference_risk"] > 0.9
    assert r.verdicts["privacy"]["level"] == "poor"
    assert "Anonymeter's linkability" in r.verdicts["privacy"]["text"]


def test_fresh_sample_of_the_population_is_not_flagged(fresh, tables):
    r, s = fresh, fresh.scores
    for name in ATTACKS:
        assert s[f"privacy.{name}_low"] == 0.0 <= s[f"privacy.{name}_high"], name
    # Unseen rows are as exposed as training rows, and linking two halves is as rare as guessing.
    assert abs(s["privacy.inference_attack_rate"] - s["privacy.inference_control_rate"]) < 0.05
    assert s["privacy.linkability_attack_rate"] < 0.05
    assert "succeeds more on training rows" not in r.verdicts["privacy"]["text"]
    assert set(r.details["privacy"]["anonymeter"]["inference_secrets"]) <= set(tables["train"].columns)


def test_verdict_counts_each_attack_whose_interval_lies_above_zero(fresh):
    s = dict(fresh.scores)
    rows = {"real": N, "synthetic": N, "holdout": N}
    assert verdicts(s, rows)["privacy"]["level"] == "good"
    s.update({"privacy.inference_risk": 0.05, "privacy.inference_low": 0.01, "privacy.inference_high": 0.09})
    assert verdicts(s, rows)["privacy"]["level"] == "fair"
    s.update({"privacy.inference_risk": 0.3, "privacy.inference_low": 0.2, "privacy.inference_high": 0.4})
    assert verdicts(s, rows)["privacy"]["level"] == "poor"


def test_skipped_without_holdout(tables):
    r = evaluate(tables["train"], tables["copied"], metrics="privacy", verbose=False, seed=0)
    assert not any(k.startswith(f"privacy.{name}") for k in r.scores for name in ATTACKS)


def test_multivariate_singling_out_finds_copies(tables):
    prep = prepare(tables["train"], tables["copied"], tables["holdout"])
    numeric = set(fit_embedder(prep, 100).numeric)
    found = singling_out(prep.real, prep.holdout, prep.synthetic, numeric, np.random.default_rng(0), 200,
                         mode="multivariate")
    assert found.low > 0 and found.attack_rate > found.control_rate


def test_report_shows_each_risk(copied):
    pytest.importorskip("matplotlib")
    html = copied.to_html()
    assert "Attacks that use the synthetic table (Anonymeter)" in html
    for label in ("Singling out:", "Linkability:", "Inference:"):
        assert label in html
    assert html.count('class="bad">') >= 3  # the three risks whose intervals lie above 0


def test_details_name_the_skipped_attacks_where_the_first_of_them_would_stand():
    """The JSON layout of the Anonymeter details, which results saved earlier have: "skipped" takes the place of the
    first attack that did not run."""
    from tabdiffusion.evaluation.records import Anonymeter, AttackSummary

    found = AttackSummary(attack_rate=0.5, baseline_rate=0.1, control_rate=0.4, risk=0.2, low=0.1, high=0.3, attacks=9.0)
    cases = {
        ("attacks", "skipped"): Anonymeter(attacks=9, skipped=list(ATTACKS)),
        ("attacks", "singling_out", "skipped"): Anonymeter(attacks=9, singling_out=found,
                                                           skipped=["linkability", "inference"]),
        ("attacks", "skipped", "linkability", "linkability_columns", "inference", "inference_secrets"): Anonymeter(
            attacks=9, linkability=found, linkability_columns=[["a"], ["b"]], inference=found,
            inference_secrets={"a": found}, skipped=["singling_out"]),
        ("attacks", "singling_out", "linkability", "linkability_columns", "skipped"): Anonymeter(
            attacks=9, singling_out=found, linkability=found, linkability_columns=[["a"], ["b"]], skipped=["inference"]),
    }
    for keys, details in cases.items():
        assert tuple(details.to_dict()) == keys
        assert Anonymeter.from_dict(details.to_dict()) == details
