"""Smoke tests of the benchmark harness (benchmarks/): the paper's CatBoost protocol, SMOTE, and one tiny run.

The data tests need the shared TabDDPM datasets (../shared beside the repository, or TABDIFFUSION_SHARED) and are
skipped without them.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import methods, tabddpm_data
from benchmarks.smote import Smote
from benchmarks.tabddpm import Settings, draw

needs_data = pytest.mark.skipif(not tabddpm_data.available(), reason="shared TabDDPM datasets not found")


def small_table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    return pd.DataFrame({
        "num_0": rng.normal(y, 1.0),
        "num_1": rng.integers(0, 5, size=n).astype(np.float64),  # discrete: snapped to seen values
        "cat_0": rng.choice(["a", "b", "c"], size=n),
        "target": y.astype(np.int64),
    })


def test_smote_keeps_columns_classes_and_values():
    table = small_table()
    fake = Smote(5, 0.1, task="classification", cat_columns=["cat_0"]).fit(table).sample(600, seed=1)
    assert list(fake.columns) == list(table.columns)
    assert (fake.dtypes == table.dtypes).all()
    assert set(fake["cat_0"]) <= set(table["cat_0"])
    assert set(fake["num_1"]) <= set(table["num_1"])
    real_share = table["target"].value_counts(normalize=True).sort_index()
    fake_share = fake["target"].value_counts(normalize=True).sort_index()
    assert np.allclose(real_share, fake_share, atol=0.08)
    # Interpolation stays inside the class's range; the same seed gives the same rows.
    assert fake["num_0"].between(table["num_0"].min(), table["num_0"].max()).all()
    model = Smote(5, 0.1, task="classification", cat_columns=["cat_0"]).fit(table)
    pd.testing.assert_frame_equal(model.sample(50, seed=3), model.sample(50, seed=3))


def test_smote_regression_interpolates_the_target():
    table = small_table().assign(target=lambda d: d["num_0"] * 2.0 + 1.0)
    fake = Smote(5, 0.0, task="regression", cat_columns=["cat_0"]).fit(table).sample(300, seed=0)
    assert fake["target"].dtype == np.float64
    assert fake["target"].between(table["target"].min(), table["target"].max()).all()
    assert np.corrcoef(fake["num_0"], fake["target"])[0, 1] > 0.9


class _SlowSampler(methods.Generator):
    chunked = True

    def sample(self, n, seed):
        import time

        time.sleep(0.02 + n * 0.001)
        return pd.DataFrame({"x": np.arange(n)})


def test_draw_stops_at_the_sampling_budget_and_reports_it():
    frame, marks = draw(_SlowSampler(), [100, 5000], seed=0, budget=0.5)
    assert marks[100] == {"rows": 100, "seconds": marks[100]["seconds"], "truncated": False}
    assert marks[5000]["truncated"] and marks[5000]["rows"] == len(frame) < 5000
    assert marks[5000]["seconds"] < 1.0
    frame, marks = draw(_SlowSampler(), [30], seed=0, budget=None)
    assert len(frame) == 30 and not marks[30]["truncated"]


def test_missing_optional_methods_are_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(methods.importlib.util, "find_spec", lambda name: None)
    assert "SDV" in methods.unavailable("tvae")
    assert methods.unavailable("smote") is None
    assert "unknown" in methods.unavailable("nope")


@needs_data
def test_paper_size_sets_are_drawn_only_for_tabddpm_style_methods():
    both, train = Settings(sizes=("train", "paper")), Settings(sizes=("train",))
    assert both.sizes_for("tabdiffusion") == both.sizes_for("smote") == ("train", "paper")
    assert both.sizes_for("tvae") == both.sizes_for("ctgan") == ("train",)
    # So an SDV cell's cache key ignores --sizes, and a tabdiffusion cell's does not.
    assert both.key("ctgan") == train.key("ctgan") and both.key("tabdiffusion") != train.key("tabdiffusion")


@needs_data
def test_cat_features_match_the_column_order():
    from benchmarks.protocol import catboost_params

    for name in tabddpm_data.COMPLETE:
        data = tabddpm_data.load(name)
        params = catboost_params(data, thread_count=2)
        assert [data.features[i] for i in params["cat_features"]] == data.cat_columns
        assert params["thread_count"] == 2


@needs_data
def test_harness_smoke_run(tmp_path):
    """One tiny dataset, one seed, a few training steps: the output structure, a sensible real row, resuming."""
    from benchmarks import tabddpm

    out, cache, docs = tmp_path / "results.json", tmp_path / "cache", tmp_path / "benchmarks.md"
    argv = ["--datasets", "diabetes", "--methods", "tabdiffusion,smote", "--rows", "300", "--steps", "5",
            "--budget", "20", "--catboost-seeds", "1", "--sample-seeds", "1", "--sizes", "train,paper",
            "--torch-threads", "1", "--in-process", "--out", str(out), "--cache", str(cache), "--docs", str(docs)]
    tabddpm.main(argv)
    results = json.loads(out.read_text())
    assert {"command", "date", "machine", "settings", "datasets", "methods"} <= set(results)
    assert results["settings"]["rows"] == 300
    entry = results["datasets"]["diabetes"]
    assert entry["metric"] == "macro F1" and entry["paper"]["scores"]["real"]["score"] == pytest.approx(0.7849)
    real = entry["methods"]["real"]["sizes"]["train"]["score"]
    assert 0.6 < real["mean"] <= 1.0  # tuned CatBoost on 300 real rows (paper, all 491 rows: 0.785)
    for method in ("tabdiffusion", "smote"):
        info = entry["methods"][method]
        assert info["status"] == "ok", info
        assert set(info["sizes"]) == {"train", "paper"}
        assert info["sizes"]["train"]["rows_requested"] == 300 and info["sizes"]["paper"]["rows_requested"] == 500
        assert info["sizes"]["train"]["score"]["n"] == 1 and info["fit_seconds"]["n"] == 1
    # SMOTE interpolates between real rows, so its set trains nearly as good a model as the real rows do.
    assert entry["methods"]["smote"]["sizes"]["train"]["score"]["mean"] > real["mean"] - 0.15
    assert entry["methods"]["tabdiffusion"]["fit"]["steps"] == 5
    assert entry["methods"]["smote"]["sizes"]["paper"]["rows"]["mean"] == 500
    for method in ("real", "tabdiffusion", "smote"):  # the strong detector scores every method, real val included
        strong = entry["methods"][method]["strong_detection"]
        assert strong["rows"] == (123 if method == "real" else 300)
        assert set(strong["importance"]) == set(tabddpm_data.load("diabetes").train.columns)
    # A five-step model's rows are easy to tell from real ones; fresh real rows (val) are not.
    auc = {method: entry["methods"][method]["strong_detection"]["auc"]["mean"] for method in ("real", "tabdiffusion")}
    assert auc["real"] < 0.65 and auc["tabdiffusion"] > auc["real"] + 0.1
    scores = entry["methods"]["smote"].get("evaluate")
    if scores is not None:  # tabdiffusion's evaluate is present in this version
        assert scores["privacy.dcr_share"]["mean"] > 0.6  # SMOTE's rows lie between train rows, nearer them than test's
    text = docs.read_text()
    assert "Smoke run" in text and "| diabetes |" in text and "paper Real" in text and "Strong detector" in text
    # Resumable: every cell is cached, so a second run computes nothing and gives the same numbers.
    assert len(list(cache.rglob("*.json"))) == 3
    tabddpm.main(argv)
    again = json.loads(out.read_text())["datasets"]["diabetes"]
    assert again["methods"]["smote"]["sizes"] == entry["methods"]["smote"]["sizes"]
    # --cached-only assembles what is cached, computes nothing and marks the rest, for runs split over sessions.
    partial = argv[:3] + ["tabdiffusion,smote,tabddpm"] + argv[4:] + ["--cached-only"]
    tabddpm.main(partial)
    assembled = json.loads(out.read_text())
    methods = assembled["datasets"]["diabetes"]["methods"]
    assert methods["tabddpm"]["status"] == "not run" and "errors" not in methods["tabddpm"]
    assert methods["smote"]["sizes"] == entry["methods"]["smote"]["sizes"] and methods["tabdiffusion"]["status"] == "ok"
    assert len(list(cache.rglob("*.json"))) == 3 and assembled["assembled_from_cache"]
    assert "--cached-only" not in assembled["command"] and "tabddpm on diabetes" in docs.read_text()


@needs_data
def test_cells_of_an_accepted_earlier_commit_stand_in_and_are_named(tmp_path, monkeypatch):
    """After a code change the cache misses; --accept-code COMMIT reads the cells computed with COMMIT's code."""
    from benchmarks import tabddpm

    out, cache, docs = tmp_path / "results.json", tmp_path / "cache", tmp_path / "benchmarks.md"
    argv = ["--datasets", "diabetes", "--methods", "smote", "--rows", "300", "--catboost-seeds", "1",
            "--real-catboost-seeds", "1", "--sample-seeds", "1", "--sizes", "train", "--no-evaluate",
            "--no-strong-detector", "--in-process",
            "--out", str(out), "--cache", str(cache), "--docs", str(docs)]
    tabddpm.main(argv)
    before = json.loads(out.read_text())["datasets"]["diabetes"]["methods"]
    code_files = tabddpm._code_files  # "c0ffee0" plays the commit of the code the cells were computed with
    monkeypatch.setattr(tabddpm, "_code_files", lambda method, commit: code_files(method, None) if commit == "c0ffee0"
                        else {**code_files(method, None), tabddpm.PurePosixPath("benchmarks/protocol.py"): b"changed"})
    tabddpm.main(argv + ["--cached-only"])
    assert json.loads(out.read_text())["datasets"]["diabetes"]["methods"]["smote"]["status"] == "not run"
    tabddpm.main(argv + ["--cached-only", "--accept-code", "smote=c0ffee0"])
    results = json.loads(out.read_text())
    after = results["datasets"]["diabetes"]["methods"]
    assert after["smote"]["sizes"] == before["smote"]["sizes"] and after["smote"]["code_commits"] == ["c0ffee0"]
    assert results["accepted_code"] == ["smote=c0ffee0"] and "smote on diabetes at c0ffee0" in docs.read_text()
    assert after["real"]["status"] == "not run"  # accepted for smote only
    assert "code_commits" not in before["smote"]


@needs_data
def test_fit_seeds_add_fits_whose_scores_are_averaged_and_marked(tmp_path):
    """--fit-seeds 2 fits a seeded generator twice (fit 0 is the one-fit run's cell); SMOTE, unseeded, once."""
    from benchmarks import tabddpm

    out, cache, docs = tmp_path / "results.json", tmp_path / "cache", tmp_path / "benchmarks.md"
    argv = ["--datasets", "diabetes", "--methods", "tabdiffusion,smote", "--rows", "300", "--steps", "5",
            "--budget", "20", "--catboost-seeds", "1", "--real-catboost-seeds", "1", "--sample-seeds", "1",
            "--sizes", "train", "--no-evaluate", "--no-strong-detector", "--torch-threads", "1", "--in-process",
            "--out", str(out),
            "--cache", str(cache), "--docs", str(docs)]
    tabddpm.main(argv)
    one = json.loads(out.read_text())["datasets"]["diabetes"]["methods"]["tabdiffusion"]
    tabddpm.main(argv + ["--fit-seeds", "2"])
    names = sorted(path.name.split("-")[0] for path in (cache / "diabetes").rglob("*.json"))
    assert names == ["fit1", "seed0", "seed0", "seed0"]  # real, smote, tabdiffusion fit 0 (reused), fit 1
    results = json.loads(out.read_text())
    two = results["datasets"]["diabetes"]["methods"]["tabdiffusion"]
    assert two["fit_seeds"] == [0, 1] and results["settings"]["fit_seeds"] == 2
    assert two["fit"][0] == one["fit"] and two["fit"][1]["final_loss"] != one["fit"]["final_loss"]
    train = two["sizes"]["train"]
    assert train["score"]["n"] == 2 and train["fit_means"][0] == pytest.approx(one["sizes"]["train"]["score"]["mean"])
    assert train["score"]["mean"] == pytest.approx(sum(train["fit_means"]) / 2)
    assert "fit_seeds" not in results["datasets"]["diabetes"]["methods"]["smote"]
    assert "(2 fits)" in docs.read_text()
    tabddpm.main(argv + ["--cached-only"])  # one fit asked: the first fit's cells only
    assert json.loads(out.read_text())["datasets"]["diabetes"]["methods"]["tabdiffusion"]["sizes"] == one["sizes"]


@needs_data
def test_keep_from_fills_uncached_entries_from_an_earlier_results_file(tmp_path):
    """With the cache gone, --keep-from keeps an earlier file's entries, named with their commit; settings must
    match."""
    from benchmarks import tabddpm

    out, docs = tmp_path / "results.json", tmp_path / "benchmarks.md"
    argv = ["--datasets", "diabetes", "--methods", "smote", "--rows", "300", "--catboost-seeds", "1",
            "--real-catboost-seeds", "1", "--sample-seeds", "1", "--sizes", "train", "--no-evaluate",
            "--no-strong-detector", "--in-process",
            "--out", str(out), "--docs", str(docs)]
    tabddpm.main(argv + ["--cache", str(tmp_path / "cache")])
    before = json.loads(out.read_text())
    earlier = tmp_path / "earlier.json"
    earlier.write_text(out.read_text())
    empty = ["--cache", str(tmp_path / "no-cache"), "--cached-only"]
    tabddpm.main(argv + empty + ["--keep-from", str(earlier)])
    results = json.loads(out.read_text())
    smote = results["datasets"]["diabetes"]["methods"]["smote"]
    assert smote["sizes"] == before["datasets"]["diabetes"]["methods"]["smote"]["sizes"]
    assert smote["kept_from"] == {"file": str(earlier), "date": before["date"], "machine": before["machine"]}
    assert smote["code_commits"] == [before["machine"]["git_commit"] or "unknown"]
    assert results["command"] == "python -m benchmarks.tabddpm " + shlex.join(argv)  # where cells came from: not said
    assert results["kept_from"]["date"] == before["date"]
    assert "Kept from the results file" in docs.read_text() and "smote on diabetes" in docs.read_text()
    with pytest.raises(SystemExit, match="catboost_seeds"):  # entries of other settings never mix in
        tabddpm.main(argv[:7] + ["2"] + argv[8:] + empty + ["--keep-from", str(earlier)])
    with pytest.raises(SystemExit, match="--cached-only"):
        tabddpm.main(argv + ["--keep-from", str(earlier)])


def test_recorded_command_drops_only_the_assembling_arguments():
    """--keep-from may name the --out file itself: its value goes, the --out value stays; --cache goes too."""
    from benchmarks.tabddpm import computing_arguments

    given = ["--datasets", "wilt", "--out", "r.json", "--cached-only", "--keep-from", "r.json", "--cache", "/tmp/c",
             "--cache=/tmp/d", "--keep-from=r.json", "--budget", "300"]
    assert computing_arguments(given) == ["--datasets", "wilt", "--out", "r.json", "--budget", "300"]


def test_code_fingerprint_at_a_commit_matches_the_same_files_in_the_working_tree():
    """The committed-code hash equals the working-tree hash when the hashed files are unchanged since HEAD."""
    import subprocess

    from benchmarks import tabddpm

    methods = ("tabdiffusion", "smote", "real")
    hashed = sorted({str(path) for method in methods for path in tabddpm._code_files(method, None)})
    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--", *hashed], cwd=tabddpm.ROOT.parent,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if changed:
        pytest.skip("hashed files have local changes")
    for method in methods:
        assert tabddpm.code_fingerprint(method, "HEAD") == tabddpm.code_fingerprint(method)
    assert tabddpm.code_fingerprint("tabdiffusion", "HEAD") != tabddpm.code_fingerprint("smote", "HEAD")


@needs_data
def test_scaling_generates_sets_that_score_with_the_tuned_protocol(tmp_path, capsys):
    from experiments import scaling

    scaling.generate("diabetes", ["tiny:steps=3,d_layers=(16,16)"], tmp_path, [0], paper_size=True, device="cpu",
                     seed=0)
    folder = tmp_path / "diabetes" / "tiny"
    fit = json.loads((folder / "fit.json").read_text())
    assert fit["steps"] == 3 and fit["device"] == "cpu"
    assert len(pd.read_parquet(folder / "seed0-train.parquet")) == 491
    assert len(pd.read_parquet(folder / "seed0-paper.parquet")) == 500  # the paper's num_samples for diabetes
    capsys.readouterr()
    scaling.score(tmp_path, catboost_seeds=1)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["size"], r["rows"], r["n"]) for r in lines] == [("train", 491, 1), ("paper", 500, 1)]
    scaling.score(tmp_path, catboost_seeds=1)  # seeded CatBoost: scoring the same sets again repeats every score
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["test"] for r in again] == [r["test"] for r in lines]


def test_docs_are_generated_from_the_committed_results():
    """docs/benchmarks.md is exactly what `python -m benchmarks.report` makes from benchmarks/results/*.json."""
    from benchmarks import report

    paths = sorted(report.RESULTS.glob("*.json"))
    if not report.DOCS.exists() and not paths:
        pytest.skip("no results committed yet")
    assert report.DOCS.read_text() == report.render(paths), "regenerate with: python -m benchmarks.report"


def test_generated_wide_table_has_the_promised_shape_and_is_reproducible():
    from benchmarks import wide_table

    data = wide_table.make(seed=0)
    assert data.train.shape == (10_000, 201) and len(data.cat_columns) == 100
    assert data.catboost_params["cat_features"] == [data.features.index(c) for c in data.cat_columns]
    assert data.train[data.cat_columns].nunique().between(2, 30).all()
    # Its columns share latent factors, so the table has structure for trend and efficacy scores to find.
    numeric = data.train[[f"num_{j}" for j in range(100)]]
    assert numeric.corr().abs().to_numpy()[np.triu_indices(100, 1)].max() > 0.5
    assert 0.3 < data.train["target"].mean() < 0.7
    pd.testing.assert_frame_equal(data.test, wide_table.make(seed=0).test)


def test_targets_table_checks_each_target_against_its_threshold():
    from benchmarks.report import _targets_table

    def method(score, auc, dcr, copies=0.0, fit=100.0, shape=0.01, trend=0.02, holdout_copies=0.0005):
        stats = lambda v: {"mean": v, "std": 0.0, "n": 1}  # noqa: E731
        return {"status": "ok", "sizes": {"train": {"score": stats(score)}}, "fit_seconds": stats(fit),
                "evaluate": {"detection.gbm_auc": stats(auc), "privacy.dcr_share": stats(dcr),
                             "privacy.exact_copies_share": stats(copies), "fidelity.column_shapes_error": stats(shape),
                             "privacy.exact_copies_share_holdout": stats(holdout_copies),
                             "fidelity.column_pair_trends_error": stats(trend)}}

    def dataset(ours, smote):
        return {"paper": {"scores": {"tabddpm": {"score": 0.80}}},
                "methods": {"real": method(0.9, 0.5, 0.5, copies=0.001), "tabdiffusion": ours, "smote": smote}}

    results = {"datasets": {
        # Efficacy 0.001 below the paper (within 0.005); detection above 0.55 but below SMOTE's; DCR fine.
        "a": dataset(method(0.799, 0.60, 0.50), method(0.80, 0.70, 0.90)),
        # Efficacy 0.02 below; detection above 0.55 and above SMOTE's; DCR too high; slow fit.
        # ... and more exact copies than the test split's own rate (though fewer than Real val's 0.001).
        "b": dataset(method(0.78, 0.70, 0.60, fit=400.0, copies=0.0008), method(0.80, 0.65, 0.90)),
    }}
    text = "\n".join(_targets_table(results))
    row_a, row_b = (line for line in text.splitlines() if line.startswith(("| a", "| b")))
    assert "-0.0010 ok" in row_a and "0.600 (0.700) ok" in row_a and "**miss**" not in row_a
    assert "-0.0200 **miss**" in row_b and "0.700 (0.650) **miss**" in row_b and "0.600 **miss**" in row_b
    assert "efficacy at least the paper's TabDDPM - 0.005 on 1 of 2" in text and "above it on 0 of 2" in text
    assert "0.00000 (0.00050; 0.00100) ok" in row_a and "0.00080 (0.00050; 0.00100) **miss**" in row_b
    assert "DCR share <= 0.55 on 1 of 2" in text and "fit <= 300 s on 1 of 2" in text
    assert "exact copies no more than the test split's own on 1 of 2" in text
    assert "Fit wall time of" not in text  # no tabddpm preset in this file
    # The preset stopped by its budget at 1,500 of 30,000 steps in 300 s: 6,000 s for all of them, 60x our 100 s.
    preset = method(0.80, 0.9, 0.5, fit=300.0)
    preset["fit"] = {"steps": 1500, "steps_planned": 30000}
    results["datasets"]["a"]["methods"]["tabddpm"] = preset
    assert "a 60x" in "\n".join(_targets_table(results))


def test_kept_entries_keep_their_origin_and_are_marked_per_origin():
    """Entries kept twice still name the run that computed them; the time table marks each origin apart."""
    from benchmarks.report import _targets_table, _timing_table
    from benchmarks.tabddpm import kept_entry

    amd = {"file": "old.json", "date": "2026-11-01", "machine": {"cpu": "AMD EPYC", "cores": 2, "platform": "x",
                                                                 "git_commit": "aaa"}}
    stats = lambda v: {"mean": v, "std": 0.0, "n": 1}  # noqa: E731
    cell = {"status": "ok", "fit_seconds": stats(100.0), "fit": {"steps": 100, "steps_planned": 3000}}
    earlier = {"date": "2026-11-02", "machine": {"cpu": "Intel Xeon", "cores": 2, "platform": "y", "git_commit": "bbb"},
               "kept_from": amd, "datasets": {"d": {"methods": {
                   "tabdiffusion": {**cell, "code_commits": ["aaa"], "kept_from": "old.json"},  # kept by that file
                   "tabddpm": cell}}}}  # computed by that file's own command
    twice, once = (kept_entry(earlier, "mid.json", "d", m) for m in ("tabdiffusion", "tabddpm"))
    assert twice["kept_from"] == amd and twice["code_commits"] == ["aaa"]
    assert once["kept_from"]["machine"]["cpu"] == "Intel Xeon" and once["code_commits"] == ["bbb"]
    results = {"methods": ["tabdiffusion", "tabddpm"], "kept_from": {**amd, "file": "mid.json"},
               "datasets": {"d": {"paper": {"scores": {}}, "methods": {"tabdiffusion": twice, "tabddpm": once}}}}
    timing = "\n".join(_timing_table(results))
    assert "| d | td default ‡1 |" in timing and "| d | td tabddpm ‡2 |" in timing
    assert "‡1 Kept from the results file dated 2026-11-01, computed on AMD EPYC" in timing
    assert "‡2 Kept from the results file dated 2026-11-02, computed on Intel Xeon" in timing
    ratio = "\n".join(_targets_table(results))
    assert "(preset ‡2, default ‡1)" in ratio and "also compares machines" in ratio


@needs_data
def test_heldout_loss_probe_records_both_splits_at_each_probe(tmp_path, monkeypatch):
    """The probe is fit's per-step callback: one finite record per --every steps and at the last step."""
    from experiments import heldout_loss

    out = tmp_path / "probe.jsonl"
    monkeypatch.setattr("sys.argv", ["heldout_loss", "--dataset", "diabetes", "--steps", "25", "--every", "10",
                                     "--rows", "50", "--repeats", "2", "--device", "cpu", "--out", str(out)])
    heldout_loss.main()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 25]
    for record in records:
        values = [record[k] for k in ("train_num", "train_cat", "val_num", "val_cat")]
        assert all(np.isfinite(values)) and record["train_num"] > 0 and record["val_num"] > 0
        assert record["gap"] == pytest.approx(record["val_num"] + record["val_cat"]
                                              - record["train_num"] - record["train_cat"])


def test_without_the_shared_datasets_the_data_tests_skip_instead_of_failing(tmp_path):
    """A clone without ../shared runs this file green: every test that reads the datasets carries needs_data."""
    import os
    import subprocess
    import sys

    this = "tests/test_benchmarks.py::test_without_the_shared_datasets_the_data_tests_skip_instead_of_failing"
    env = {**os.environ, "TABDIFFUSION_SHARED": str(tmp_path / "absent"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_benchmarks.py",
                          "--deselect", this], cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "skipped" in run.stdout.splitlines()[-1]


@needs_data
def test_conditional_and_imputation_benchmarks_smoke_run(tmp_path):
    """Each script on a 300-row abalone with a 3 s fit: every condition holds in every row, imputation scores every
    imputer, and both render their tables and targets."""
    from benchmarks import conditional, imputation

    out = tmp_path / "conditional.json"
    conditional.main(["--datasets", "abalone", "--methods", "tabdiffusion", "--budget", "3", "--rows", "300",
                      "--cost-rows", "200", "--out", str(out)])
    results = json.loads(out.read_text())
    rows = results["datasets"]["abalone"]["conditions"]
    assert rows and all(row["methods"]["tabdiffusion"]["holds"] == 1.0 for row in rows.values())
    ours = next(iter(rows.values()))["methods"]["tabdiffusion"]
    assert ours["draws"] == conditional.DRAWS and ours["detection_auc_sd"] >= 0
    assert ours["seconds_per_row"] > 0 and ours["unconditional_seconds_per_row"] > 0
    assert "## Conditional generation" in "\n".join(conditional.render(results))
    out = tmp_path / "imputation.json"
    imputation.main(["--datasets", "abalone", "--budget", "3", "--rows", "300", "--out", str(out)])
    results = json.loads(out.read_text())
    methods = results["datasets"]["abalone"]["patterns"]["mcar"]["methods"]
    assert {"tabdiffusion", "SimpleImputer", "IterativeImputer (ExtraTrees)"} <= set(methods)
    assert 0 < methods["tabdiffusion"]["rmse"] < 5 and 0 <= methods["tabdiffusion"]["coverage"] <= 1
    assert "### Targets" in "\n".join(imputation.render(results))


@needs_data
def test_oversampling_benchmark_smoke_run(tmp_path):
    """A 400-row diabetes, one ratio and seed, short fits: every sampler and classifier scored, targets rendered."""
    pytest.importorskip("imblearn")
    from benchmarks import oversampling

    out = tmp_path / "oversampling.json"
    oversampling.main(["--datasets", "diabetes", "--ratios", "0.2", "--seeds", "0", "--budget", "3", "--rows", "400",
                       "--catboost-iterations", "20", "--out", str(out)])
    results = json.loads(out.read_text())
    cell = results["datasets"]["diabetes"]["cells"]["0.2/0"]
    counts = pd.Series(tabddpm_data.load("diabetes").subsample(400, 0).train[tabddpm_data.TARGET]).value_counts()
    assert cell["rare_class"] == counts.idxmin() and cell["rare_rows"] == round(0.2 * counts.min())
    for sampler in ("none", "class weights", "RandomOverSampler", "SMOTENC", "ADASYN", "DiffusionOversampler"):
        got = cell["samplers"][sampler]
        for model in oversampling.CLASSIFIERS:
            assert 0 <= got[model]["pr_auc"] <= 1 and 0 <= got[model]["balanced_accuracy"] <= 1
    assert cell["samplers"]["DiffusionOversampler"]["rows"] == cell["samplers"]["SMOTENC"]["rows"]
    assert cell["samplers"]["RandomOverSampler"]["dcr_share"] == 1.0  # copies of the kept rows
    assert 0 <= cell["samplers"]["DiffusionOversampler"]["dcr_share"] <= 1
    text = "\n".join(oversampling.render(results))
    assert "## Oversampling" in text and "| diabetes | 0.2 (" in text and "### Targets" in text and "DCR share" in text

    # rerunning one sampler into the same file replaces its scores and keeps the others'
    cell["samplers"]["none"]["CatBoost"]["pr_auc"] = -1.0
    results["settings"]["value_protection"] = False  # as if DiffusionOversampler had run without it
    out.write_text(json.dumps(results))
    oversampling.main(["--datasets", "diabetes", "--ratios", "0.2", "--seeds", "0", "--samplers", "none",
                       "--rows", "400", "--catboost-iterations", "20", "--out", str(out)])
    rerun = json.loads(out.read_text())
    again = rerun["datasets"]["diabetes"]["cells"]["0.2/0"]["samplers"]
    assert list(again) == list(cell["samplers"]) and again["none"]["CatBoost"]["pr_auc"] >= 0
    assert again["DiffusionOversampler"] == cell["samplers"]["DiffusionOversampler"] and len(rerun["commands"]) == 2
    assert rerun["settings"]["value_protection"] is False  # the setting the kept DiffusionOversampler cells had


@needs_data
def test_class_fidelity_benchmark_smoke_run(tmp_path):
    """A 300-row diabetes with 3 s fits: both variants scored for every class beside the real rows' floor."""
    from benchmarks import class_fidelity

    out = tmp_path / "class_fidelity.json"
    class_fidelity.main(["--datasets", "diabetes", "--budget", "3", "--rows", "300", "--out", str(out)])
    entry = json.loads(out.read_text())["datasets"]["diabetes"]
    assert set(entry["classes"]) == {"0", "1"} and len(entry["fits"]) == 2
    for info in entry["classes"].values():
        assert 0 <= info["real test rows"]["detection_auc"] <= 1 and info["real test rows"]["dcr_share"] is None
        for variant in entry["fits"]:
            assert 0 <= info[variant]["shape_error"] <= 1 and 0 <= info[variant]["dcr_share"] <= 1
    text = "\n".join(class_fidelity.render(json.loads(out.read_text())))
    assert "| diabetes | 0 (" in text and "real test rows" in text


@needs_data
def test_value_protection_benchmark_smoke_run(tmp_path):
    """A 300-row adult with 3 s fits: both variants and the mode decoding scored and rendered."""
    from benchmarks import value_protection

    out = tmp_path / "value_protection.json"
    value_protection.main(["--datasets", "adult", "--budget", "3", "--rows", "300", "--out", str(out)])
    variants = json.loads(out.read_text())["datasets"]["adult"]["variants"]
    assert {"protected", "not protected"} <= set(variants)
    assert variants["protected"]["placeholder_share"] > 0 and variants["not protected"]["placeholder_share"] == 0
    for got in variants.values():
        assert 0 <= got["detection_auc"] <= 1 and 0 <= got["efficacy"] <= 1
    assert "| adult | protected |" in "\n".join(value_protection.render(json.loads(out.read_text())))


@needs_data
def test_dp_utility_benchmark_smoke_run(tmp_path):
    """A 1,000-row churn2 at one epsilon with a few DP-SGD steps (the smartnoise baselines need their own environment
    and are left out): the spent epsilon within the target, the scores and the targets rendered."""
    pytest.importorskip("opacus")
    from benchmarks import dp_utility

    out = tmp_path / "dp_utility.json"
    dp_utility.main(["--datasets", "churn2", "--epsilons", "50", "--steps", "5", "--rows", "1000", "--methods",
                     "tabdiffusion", "--out", str(out)])
    results = json.loads(out.read_text())
    got = results["datasets"]["churn2"]["cells"]["50"]["tabdiffusion"]
    assert got["epsilon_spent"] <= 50 and got["steps"] == 5
    assert 0 <= got["efficacy"] <= 1 and 0 <= got["shape_error"] <= 1
    text = "\n".join(dp_utility.render(results))
    assert "| churn2 | 50 |" in text and "Above AIM" in text


def test_strong_detector_tells_shifted_rows_apart_and_not_fresh_draws():
    """The CatBoost detector: near 0.5 on two samples of one distribution, near 1 where one column is shifted,
    and that column carries the importance."""
    from benchmarks.detector import strong_detection

    rng = np.random.default_rng(0)

    def table(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) + shift,
                             "c": rng.choice(["x", "y", "z"], size=n)})

    real = table(400, 0.0)
    same = strong_detection(real, table(400, 0.0), ["c"], seed=0, threads=1)
    shifted = strong_detection(real, table(400, 1.5), ["c"], seed=0, threads=1)
    assert same["rows"] == 400 and len(same["fold_aucs"]) == 5
    assert 0.4 < same["auc"] < 0.6 and shifted["auc"] > 0.8
    assert next(iter(shifted["importance"])) == "b"
