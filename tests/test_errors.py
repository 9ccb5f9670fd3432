"""Every bad input gets a clear error naming the column or argument and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tabdiffusion as td
from conftest import FAST


def fit(table, **kwargs):
    return td.Synthesizer(seed=0, **FAST).fit(table, **kwargs)


def test_empty_table():
    with pytest.raises(td.SchemaError, match="no rows.*columns: \\['a'\\]"):
        fit(pd.DataFrame({"a": pd.Series([], dtype=float)}))


def test_zero_columns():
    with pytest.raises(td.SchemaError, match="no columns"):
        fit(pd.DataFrame(index=range(5)))


def test_target_not_in_table_lists_the_columns():
    with pytest.raises(td.SchemaError, match="target='income' is not a column.*Columns are: \\['a', 'b'\\]"):
        fit(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), target="income")


def test_classification_target_with_one_class():
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "a", "a"]})
    with pytest.raises(td.SchemaError, match="Target 'label' has a single value \\('a'\\).*at least two"):
        fit(table, target="label")


def test_target_with_missing_values():
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", None, "b"]})
    with pytest.raises(td.SchemaError, match="Target 'label' has 1 missing values.*dropna"):
        fit(table, target="label")


def test_infinite_values_name_the_column():
    table = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "bad": [1.0, np.inf, -np.inf]})
    with pytest.raises(td.SchemaError, match="Column 'bad' has 2 infinite values.*Replace them with NaN"):
        fit(table)


def test_unsupported_nested_objects():
    table = pd.DataFrame({"x": [1.0, 2.0], "tags": [["a", "b"], ["c"]]})
    with pytest.raises(td.SchemaError, match="Column 'tags' holds values of type list.*Convert them"):
        fit(table)


def test_unsupported_dtype():
    table = pd.DataFrame({"x": [1.0, 2.0], "z": np.array([1 + 2j, 3j])})
    with pytest.raises(td.SchemaError, match="Column 'z' has dtype complex128, which is not supported"):
        fit(table)


def test_override_with_values_that_are_not_numbers():
    table = pd.DataFrame({"x": [1.0, 2.0], "code": ["12", "n/a"]})
    with pytest.raises(td.SchemaError, match="Column 'code': 1 values are not numbers \\(e.g. 'n/a'\\)"):
        fit(table, column_types={"code": "numeric"})


def test_override_of_unknown_column_and_unknown_kind():
    table = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(td.SchemaError, match="not in the table: \\['y'\\]"):
        fit(table, column_types={"y": "numeric"})
    with pytest.raises(td.SchemaError, match="'float' is not a kind; use one of numeric"):
        fit(table, column_types={"x": "float"})


def test_duplicate_column_names():
    table = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(td.SchemaError, match="repeated: \\['a'\\]"):
        fit(table)


@pytest.mark.parametrize("n", [0, -3, 2.5, "10", True, None])
def test_sample_needs_a_positive_integer(fitted, n):
    synth, _ = fitted
    with pytest.raises(td.ParameterError, match="n must be a positive integer"):
        synth.sample(n)


def test_sample_with_a_whole_float_says_to_pass_int(fitted):
    synth, _ = fitted
    with pytest.raises(td.ParameterError, match="float 10.0; pass int\\(n\\)"):
        synth.sample(10.0)


def test_sample_before_fit():
    with pytest.raises(td.NotFittedError, match="call fit\\(data\\) before sample"):
        td.Synthesizer().sample(10)
    with pytest.raises(td.NotFittedError):
        td.Synthesizer().save("never.tdm")


def test_an_unknown_keyword_is_named_with_the_valid_ones():
    with pytest.raises(td.ParameterError, match="'stpes' is not a Synthesizer parameter. Did you mean 'steps'.*lr.*time_budget"):
        td.Synthesizer(stpes=100)
    with pytest.raises(td.ParameterError, match="'process' is not a Synthesizer parameter"):  # the preset chooses it
        td.Synthesizer(process="flow")


def test_bad_hyperparameters_name_the_argument():
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(td.ParameterError, match="steps must be a positive integer, got 0"):
        td.Synthesizer(steps=0).fit(table)
    with pytest.raises(td.ParameterError, match="preset='fast' is unknown"):
        td.Synthesizer(preset="fast").fit(table)
    with pytest.raises(td.ParameterError, match="time_budget must be a finite positive number"):
        td.Synthesizer(time_budget=-1).fit(table)
    with pytest.raises(td.ParameterError, match="device='gpu7' is not a device"):
        td.Synthesizer(device="gpu7").fit(table)
    with pytest.raises(td.ParameterError, match="data must be a pandas DataFrame or a path"):
        td.Synthesizer().fit([[1, 2]])
    with pytest.raises(td.ParameterError, match="No such file: 'missing.csv'"):
        td.Synthesizer().fit("missing.csv")
    with pytest.raises(td.ParameterError, match="sampling_precision='half'; use 'auto', 'float32' or 'bfloat16'"):
        td.Synthesizer(sampling_precision="half").fit(table)
    with pytest.raises(td.ParameterError, match="training_precision='fp16'; use 'auto', 'float32' or 'bfloat16'"):
        td.Synthesizer(training_precision="fp16").fit(table)
    with pytest.raises(td.ParameterError, match="dequantize must be True or False, got 'no'"):
        td.Synthesizer(dequantize="no").fit(table)
    with pytest.raises(td.ParameterError, match="fourier_features must be an integer >= 0 \\(0 turns it off\\), got -1"):
        td.Synthesizer(fourier_features=-1).fit(table)
    with pytest.raises(td.ParameterError, match="film must be True or False, got 'yes'"):
        td.Synthesizer(film="yes").fit(table)
    with pytest.raises(td.ParameterError, match="timestep_strata must be an integer >= 0 \\(0 turns it off\\), got 2.5"):
        td.Synthesizer(timestep_strata=2.5).fit(table)
    with pytest.raises(td.ParameterError, match="timestep_strata applies to diffusion presets only"):
        td.Synthesizer(preset="flow", timestep_strata=8).fit(table)


def test_errors_are_value_errors_for_generic_handlers():
    assert issubclass(td.SchemaError, ValueError) and issubclass(td.ModelFileError, ValueError)
    assert issubclass(td.NotFittedError, RuntimeError)


def test_non_finite_loss_stops_with_the_step(monkeypatch, mixed_table):
    from tabdiffusion.diffusion.mixed import MixedDiffusion

    original = MixedDiffusion.loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        loss_num, loss_cat = original(self, *args, **kwargs)
        calls["n"] += 1
        return (loss_num * float("nan"), loss_cat) if calls["n"] == 4 else (loss_num, loss_cat)

    monkeypatch.setattr(MixedDiffusion, "loss", poisoned)
    with pytest.raises(td.TrainingDivergedError, match="diverged at step 3.*Lower lr"):
        # float32: 'auto' on a bfloat16 CPU would first time a few loss calls of both precisions
        td.Synthesizer(seed=0, training_precision="float32", **FAST).fit(mixed_table)


def test_cuda_requested_without_a_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(td.ParameterError, match="device='cuda' but PyTorch sees no CUDA GPU"):
        td.Synthesizer(device="cuda").fit(pd.DataFrame({"x": [1.0, 2.0]}))


def test_a_table_with_nothing_to_learn_says_so():
    with pytest.raises(td.SchemaError, match="Nothing to learn.*a=constant.*b=id"):
        fit(pd.DataFrame({"a": ["same"] * 30, "b": [f"k{i}" for i in range(30)]}))
    with pytest.raises(td.SchemaError, match="Nothing to learn.*1 given"):
        fit(pd.DataFrame({"x": [1.5], "c": ["u"]}))


def test_column_names_must_be_text():
    with pytest.raises(td.SchemaError, match="must be text.*df.columns = df.columns.astype\\(str\\)"):
        fit(pd.DataFrame({0: [1.0, 2.0, 3.0], 1: ["a", "b", "a"]}))
    table = pd.DataFrame([[1.0, "a"], [2.0, "b"]], columns=pd.MultiIndex.from_tuples([("x", "1"), ("y", "2")]))
    with pytest.raises(td.SchemaError, match="multi-level column names"):
        fit(table)


@pytest.mark.parametrize("seed", [-1, 2**32, "a", 1.5])
def test_seeds_are_checked_where_they_are_given(mixed_table, seed):
    with pytest.raises(td.ParameterError, match="seed must be"):
        td.Synthesizer(seed=seed, **FAST).fit(mixed_table)


@pytest.mark.parametrize("seed", [-1, "a"])
def test_sample_seeds_are_checked(fitted, seed):
    synth, _ = fitted
    with pytest.raises(td.ParameterError, match="seed must be a non-negative integer"):
        synth.sample(3, seed=seed)


def test_loading_onto_a_bad_device_blames_the_device_not_the_file(fitted, tmp_path):
    synth, _ = fitted
    path = synth.save(tmp_path / "m.tdm")
    with pytest.raises(td.ParameterError, match="device='gpu' is not a device"):
        td.Synthesizer.load(path, device="gpu")


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"a,b\n1,2\n3,4,5,6\n", "as CSV \\(ParserError"),
    ("name,x\nJos\u00e9,1\n".encode("latin-1"), "not UTF-8 text"),
])
def test_unreadable_csv_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(td.ParameterError, match=f"Cannot read '.*t.csv'.*{message}"):
        fit(path)


def test_a_damaged_parquet_file_names_the_file(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(td.ParameterError, match="Cannot read '.*t.parquet' as Parquet"):
        fit(path)


def test_unwritable_model_paths_fail_with_the_path(fitted, tmp_path):
    synth, _ = fitted
    with pytest.raises(td.ParameterError, match="it is a folder"):
        synth.save(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(td.ParameterError, match="Cannot write '.*file/m.tdm': '.*file' is a file, not a folder"):
        synth.save(tmp_path / "file" / "m.tdm")  # a parent that is a file: no folder can be made there


def test_a_boolean_override_needs_at_most_two_values():
    with pytest.raises(td.SchemaError, match="Column 'x' has 5 distinct values.*cannot be boolean"):
        fit(pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4, 0.5]}), column_types={"x": "boolean"})
