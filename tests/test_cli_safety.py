"""The command line's error messages and output safety, file reading and writing, and evaluate's validity counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tabdiffusion as td
from tabdiffusion.cli import app
from tabdiffusion.evaluation import Limits, evaluate
from tabdiffusion.tables import atomic_write, read_table, write_chunks, write_table
from tests.conftest import FAST, make_mixed_table

runner = CliRunner()
EVAL = dict(limits=Limits(cv_folds=3, model_scale=0.05), n_jobs=1, verbose=False, seed=0)
ZIPS = ["01234", "02345", "10001", "00501"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """A folder with train.csv (a zip-code column among the mixed kinds) and m.tdm, fitted once in a few steps."""
    folder = tmp_path_factory.mktemp("fitted")
    table = make_mixed_table(80)
    table["zip"] = np.random.default_rng(0).choice(ZIPS, size=len(table))
    table.to_csv(folder / "train.csv", index=False)
    result = runner.invoke(app, ["fit", str(folder / "train.csv"), "--out", str(folder / "m.tdm"), "--steps", "5",
                                 "--seed", "0", "-q"])
    assert result.exit_code == 0, result.output
    return folder


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0, result.output
    assert result.output.startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


# Errors: one line, the traceback only with --debug.

def test_a_value_error_from_the_library_is_one_line_and_debug_raises_it(fitted, tmp_path, monkeypatch):
    from tabdiffusion import synthesizer

    def fail(self, *args, **kwargs):
        raise ValueError("Column 'city': value 'Rome' was not seen when fitting.")

    monkeypatch.setattr(synthesizer.Synthesizer, "fit", fail)
    args = ["fit", str(fitted / "train.csv"), "--out", str(tmp_path / "m.tdm"), "-q"]
    _one_line_error(runner.invoke(app, args), "Error: Column 'city': value 'Rome' was not seen when fitting.")
    result = runner.invoke(app, ["--debug", *args])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)  # raised on, for the traceback
    assert "Rome" in str(result.exception)


def test_unexpected_errors_name_their_type_and_interrupts_stay_quiet(fitted, tmp_path, monkeypatch):
    from tabdiffusion import synthesizer

    def crash(*args, **kwargs):
        raise RuntimeError("something broke\nin two lines")

    monkeypatch.setattr(synthesizer.Synthesizer, "load", crash)
    args = ["sample", str(fitted / "m.tdm"), "--rows", "5", "--out", str(tmp_path / "s.csv")]
    _one_line_error(runner.invoke(app, args), "unexpected RuntimeError: something broke in two lines", "--debug")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthesizer.Synthesizer, "load", interrupt)
    result = runner.invoke(app, args)
    assert result.exit_code == 130 and "Traceback" not in result.output and result.output.strip() == "Interrupted."


def test_os_and_pyarrow_errors_are_one_line(fitted, tmp_path, monkeypatch):
    from tabdiffusion import tables

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(tables, "read_table", unreadable)
    result = runner.invoke(app, ["report", "--real", str(fitted / "train.csv"), "--synthetic", str(fitted / "train.csv"),
                                 "--out", str(tmp_path / "r.html")])
    _one_line_error(result, "Permission denied", "train.csv")
    assert "Errno" not in result.output


def test_debug_shows_the_traceback_in_a_real_process(tmp_path):
    command = [sys.executable, "-m", "tabdiffusion", "sample", str(tmp_path / "none.tdm"), "--rows", "5",
               "--out", str(tmp_path / "s.csv")]
    quiet = subprocess.run(command, capture_output=True, text=True)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr and quiet.stderr.startswith("Error: ")
    loud = subprocess.run([*command[:3], "--debug", *command[3:]], capture_output=True, text=True)
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "ModelFileError" in loud.stderr
    by_env = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TABDIFFUSION_DEBUG": "1"})
    assert by_env.returncode == 1 and "Traceback" in by_env.stderr


# Outputs never replace inputs or each other.

def test_outputs_that_are_inputs_or_each_other_are_refused(fitted, tmp_path, monkeypatch):
    data = tmp_path / "train.csv"
    data.write_bytes((fitted / "train.csv").read_bytes())
    (tmp_path / "link.csv").symlink_to(data)
    model = tmp_path / "m.tdm"
    model.write_bytes((fitted / "m.tdm").read_bytes())
    before = {path: path.read_bytes() for path in (data, model)}
    monkeypatch.chdir(tmp_path)
    cases = [
        (["fit", str(data), "--out", str(data)], "same file as DATA"),
        (["fit", "link.csv", "--out", "./train.csv"], "same file as DATA"),
        (["fit", str(data), "--out", str(tmp_path / "model.parquet")], ".tdm"),
        (["sample", str(model), "--rows", "5", "--out", str(model)], "same file as MODEL"),
        (["report", "--real", str(data), "--synthetic", "link.csv", "--out", "train.csv"], "same file as --real"),
        (["report", "--real", str(data), "--model", str(model), "--out", "r.html", "--json", str(data)], "--json '"),
        (["report", "--real", str(data), "--synthetic", str(data), "--out", "r.html", "--json", "./r.html"], "same file as --out"),
    ]
    for args, fragment in cases:
        _one_line_error(runner.invoke(app, [*args, "-q"] if args[0] != "sample" else args), fragment)
    assert "same file as --real" in runner.invoke(app, cases[5][0]).output
    assert {path: path.read_bytes() for path in (data, model)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "m.tdm", "train.csv"]


# A failed command leaves no new folders.

def test_a_command_that_fails_on_its_input_creates_no_folders(fitted, tmp_path):
    train = str(fitted / "train.csv")
    commands = [
        ["fit", train, "--target", "nope", "--out", str(tmp_path / "a" / "b" / "m.tdm"), "-q"],
        ["report", "--real", str(tmp_path / "none.csv"), "--synthetic", train, "--out", str(tmp_path / "c" / "r.html"),
         "--json", str(tmp_path / "d" / "r.json")],
        ["sample", str(fitted / "m.tdm"), "--rows", "0", "--out", str(tmp_path / "e" / "s.csv")],
    ]
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_removes_the_folders_it_made_and_a_good_one_keeps_them(tmp_path):
    def broken(temp: str) -> None:
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        atomic_write(tmp_path / "new" / "deeper" / "x.txt", broken)
    assert list(tmp_path.iterdir()) == []
    atomic_write(tmp_path / "new" / "deeper" / "x.txt", lambda temp: Path(temp).write_text("ok"))
    assert (tmp_path / "new" / "deeper" / "x.txt").read_text() == "ok"


# Written files follow the umask, as open() does.

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        paths = [write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.csv"),
                 write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet"),
                 atomic_write(tmp_path / "x.json", lambda temp: Path(temp).write_text("{}"))]
    finally:
        os.umask(previous)
    assert [oct(p.stat().st_mode & 0o777) for p in paths] == [oct(mode)] * 3


def test_replacing_a_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    path.chmod(0o640)
    write_table(pd.DataFrame({"a": [1, 2]}), path)
    assert path.stat().st_mode & 0o777 == 0o640 and len(read_table(path)) == 2


def test_the_cli_model_file_is_readable_under_a_usual_umask(tmp_path):
    make_mixed_table(40).to_csv(tmp_path / "t.csv", index=False)
    previous = os.umask(0o022)
    try:
        result = runner.invoke(app, ["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m.tdm"), "--steps", "2", "-q"])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.tdm").stat().st_mode & 0o777 == 0o644


# evaluate: values that are not numbers or dates, and infinities, are invalid.

def _validity(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[dict, dict]:
    result = evaluate(real, synthetic, metrics=["validity", "fidelity"], **EVAL)
    return result.scores, {name: c["validity"] for name, c in result.details["columns"].items()}


def test_unparsable_synthetic_values_are_invalid_not_missing():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=50).round(2), "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(
        rng.integers(0, 300, size=50), unit="D"), "c": rng.choice(["a", "b"], size=50)})
    scores, columns = _validity(real, real.assign(x="garbage"))
    assert scores["validity.in_range_share"] == 0.5 and columns["x"]["valid_share"] == 0.0
    assert columns["x"]["unparsable"] == 50 and columns["x"]["missing_synthetic"] == 0.0
    comma = real.assign(x=["1,5"] * 10 + [str(v) for v in real["x"][10:]])
    scores, columns = _validity(real, comma)
    assert columns["x"]["unparsable"] == 10 and columns["x"]["valid_share"] == 0.8
    dates = real.assign(when=["2021-13-45"] * 5 + list(real["when"].astype(str)[5:]))
    scores, columns = _validity(real, dates)
    assert columns["when"]["unparsable"] == 5 and columns["when"]["valid_share"] == 0.9
    assert columns["x"]["unparsable"] == 0 and scores["validity.in_range_share"] == 0.95


def test_infinite_synthetic_values_are_invalid_and_the_models_still_run():
    rng = np.random.default_rng(1)

    def table(n: int) -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "label": rng.choice(["yes", "no"], size=n)})

    real, holdout = table(80), table(40)
    synthetic = real.copy()
    synthetic.loc[:3, "x"] = np.inf
    synthetic.loc[4, "z"] = -np.inf
    result = evaluate(real, synthetic, holdout, target="label", **EVAL)
    columns = result.details["columns"]
    assert columns["x"]["validity"]["infinite"] == 4 and columns["z"]["validity"]["infinite"] == 1
    assert columns["x"]["validity"]["valid_share"] == pytest.approx(76 / 80)
    assert "efficacy.ratio_mean" in result.scores and "detection.gbm_auc" in result.scores


def test_report_flags_infinite_synthetic_values(tmp_path):
    rng = np.random.default_rng(2)
    real = pd.DataFrame({"x": rng.normal(size=60).round(3), "c": rng.choice(["a", "b"], size=60)})
    real.to_csv(tmp_path / "r.csv", index=False)
    (tmp_path / "s.csv").write_text("x,c\n" + "".join(f"{v},{c}\n" for v, c in zip(["inf", "-inf"] + list(real["x"][2:]), real["c"])))
    result = runner.invoke(app, ["report", "--real", str(tmp_path / "r.csv"), "--synthetic", str(tmp_path / "s.csv"),
                                 "--out", str(tmp_path / "x.html"), "--json", str(tmp_path / "x.json"), "-q"])
    assert result.exit_code == 0, result.output
    validity = json.loads((tmp_path / "x.json").read_text())["details"]["columns"]["x"]["validity"]
    assert validity["infinite"] == 2 and validity["valid_share"] == pytest.approx(58 / 60)
    assert "2 infinite" in (tmp_path / "x.html").read_text()


# Reading: Parquet dates, and codes with leading zeros in a CSV.

def test_parquet_date_columns_are_read_as_datetimes(tmp_path):
    days = pd.to_datetime(["2020-01-01", "2020-02-03", None, "2021-07-09"])
    pd.DataFrame({"day": pd.Series(days).dt.date, "x": [1, 2, 3, 4]}).to_parquet(tmp_path / "d.parquet")
    back = read_table(tmp_path / "d.parquet")
    assert pd.api.types.is_datetime64_any_dtype(back["day"]) and back["day"].isna().tolist() == [False, False, True, False]
    assert back["day"][3] == pd.Timestamp("2021-07-09")
    td.Synthesizer(seed=0, **{**FAST, "steps": 2}).fit(tmp_path / "d.parquet")  # a date column read back is fitted, not refused


def test_csv_codes_with_leading_zeros_stay_text(tmp_path):
    (tmp_path / "t.csv").write_text("zip,share,year,count,mixed\n01234,0.25,2020,1,7\n02345,0.50,2021,,12\n"
                                    "10001,0.75,2022,3,05\n,,2023,4,8\n")
    back = read_table(tmp_path / "t.csv")
    assert back["zip"].tolist()[:3] == ["01234", "02345", "10001"] and back["zip"].isna().tolist() == [False] * 3 + [True]
    assert back["share"].dtype == float and back["year"].dtype == np.int64 and back["count"].dtype == float
    assert back["mixed"].tolist() == [7, 12, 5, 8]  # widths differ: a number, not a code
    write_table(back, tmp_path / "again.csv")
    pd.testing.assert_frame_equal(read_table(tmp_path / "again.csv"), back)


def test_zip_codes_survive_fit_and_sample_through_the_cli(fitted, tmp_path):
    result = runner.invoke(app, ["sample", str(fitted / "m.tdm"), "--rows", "50", "--out", str(tmp_path / "s.csv"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    zips = read_table(tmp_path / "s.csv")["zip"].dropna()
    assert len(zips) and set(zips) <= set(ZIPS)


# Writing: an object column of mixed value types goes to Parquet as text.

def test_parquet_writes_an_object_column_of_mixed_types_as_text(tmp_path):
    mixed = pd.DataFrame({"m": pd.Series([True, "yes", 3, None], dtype=object), "x": [1.0, 2.0, 3.0, 4.0]})
    back = read_table(write_table(mixed, tmp_path / "t.parquet"))
    assert back["m"].tolist()[:3] == ["True", "yes", "3"] and pd.isna(back["m"][3]) and back["x"].tolist() == mixed["x"].tolist()
    # Later chunks follow the first chunk's text column, whatever types they hold.
    chunks = [mixed, pd.DataFrame({"m": pd.Series([False, None], dtype=object), "x": [5.0, 6.0]})]
    path, rows = write_chunks(iter(chunks), tmp_path / "c.parquet")
    back = read_table(path)["m"]
    assert rows == 6 and back.tolist()[4] == "False" and back.isna().tolist() == [False] * 3 + [True, False, True]
    # A column the first chunk typed as booleans cannot take text later: a clear error, and no file.
    flags = [pd.DataFrame({"m": pd.Series([True, False], dtype=object)}), pd.DataFrame({"m": pd.Series(["yes"], dtype=object)})]
    with pytest.raises(td.errors.ParameterError, match="column 'm'.*Write a .csv file"):
        write_chunks(iter(flags), tmp_path / "f.parquet")
    assert not (tmp_path / "f.parquet").exists()


def test_sampling_a_mixed_type_column_to_parquet_through_the_cli(tmp_path):
    table = pd.DataFrame({"m": pd.Series([True, "yes", 3, None] * 10, dtype=object), "x": np.arange(40.0)})
    td.Synthesizer(seed=0, **{**FAST, "steps": 5}).fit(table).save(tmp_path / "m.tdm")
    result = runner.invoke(app, ["sample", str(tmp_path / "m.tdm"), "--rows", "30", "--out", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert set(read_table(tmp_path / "s.parquet")["m"].dropna()) <= {"True", "yes", "3"}
