"""The library's contract with its users: fresh randomness where no seed is given, a model file that samples the same
rows on any machine, parameters refused with a clear error, a thread setting, and declared dependencies."""

from __future__ import annotations

import ast
import importlib.metadata
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tabdiffusion as td
from tabdiffusion import fitting, hardware, modelfile
from tabdiffusion.fitted import FittedModel

from conftest import FAST

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ randomness
def test_unseeded_samples_are_fresh_across_loads_and_fits(fitted, tmp_path, mixed_table):
    """seed=None means fresh randomness: two processes that load one model file (or two fits with one seed) and sample
    without a seed must not write the same rows."""
    synth, _ = fitted
    path = synth.save(tmp_path / "m.tdm")
    first, second = td.Synthesizer.load(path).sample(60), td.Synthesizer.load(path).sample(60)
    assert not first.equals(second)
    a = td.Synthesizer(seed=3, **FAST).fit(mixed_table, target="label")
    b = td.Synthesizer(seed=3, **FAST).fit(mixed_table, target="label")
    assert not a.sample(60).equals(b.sample(60))
    pd.testing.assert_frame_equal(a.sample(60, seed=1), b.sample(60, seed=1))  # an explicit seed still repeats


def test_auto_sampling_precision_is_decided_once_at_fit(mixed_table, tmp_path, monkeypatch):
    """The same model file and seed give the same rows on a machine whose hardware would choose otherwise."""
    monkeypatch.setattr(hardware, "bfloat16_is_faster", lambda device: True)
    synth = td.Synthesizer(seed=0, sampling_precision="auto", **FAST).fit(mixed_table, target="label")
    assert synth.config_.sampling_precision == "bfloat16"
    expected = synth.sample(200, seed=4)
    path = synth.save(tmp_path / "m.tdm")
    monkeypatch.setattr(hardware, "bfloat16_is_faster", lambda device: False)
    loaded = td.Synthesizer.load(path)
    assert loaded.config_.sampling_precision == "bfloat16"
    pd.testing.assert_frame_equal(loaded.sample(200, seed=4), expected)
    pd.testing.assert_frame_equal(synth.sample(200, seed=4), expected)


# -------------------------------------------------------------------------------------------------- threads
@pytest.fixture
def two_threads():
    """torch on two threads for the test (whatever OMP_NUM_THREADS says), so that a limit of one shows."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_threads_limits_torch_during_fit_and_sample_and_restores_it(mixed_table, monkeypatch, two_threads):
    from tabdiffusion import generation

    seen = []
    train = fitting.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return train(*args, **kwargs)

    monkeypatch.setattr(fitting, "train", spy)
    before = torch.get_num_threads()
    synth = td.Synthesizer(seed=0, threads=1, **FAST).fit(mixed_table, target="label")
    assert seen == [1]
    assert torch.get_num_threads() == before
    generate = generation.generate_codes

    def spy_generate(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return generate(*args, **kwargs)

    monkeypatch.setattr(generation, "generate_codes", spy_generate)  # what sample_codes calls
    synth.sample(10, seed=0)
    assert seen[-1] == 1 and torch.get_num_threads() == before
    with pytest.raises(td.ParameterError, match="threads"):
        td.Synthesizer(threads=0, **FAST).fit(mixed_table)


# --------------------------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "params, message",
    [
        ({"time_budget": math.inf}, "time_budget must be a finite"),
        ({"time_budget": math.nan}, "time_budget must be a finite"),
        ({"lr": "0.1"}, "lr must be a positive number"),
        ({"weight_decay": math.nan}, "weight_decay"),
        ({"dropout": math.nan}, "dropout"),
        ({"eta": "1"}, "eta"),
        ({"min_proximity": math.nan}, "min_proximity"),
    ],
)
def test_bad_hyperparameters_are_refused_before_training(mixed_table, params, message):
    with pytest.raises(td.ParameterError, match=message):
        td.Synthesizer(**{**FAST, **params}).fit(mixed_table)


def test_the_constructor_takes_the_settings_and_every_hyperparameter_once():
    """The settings' names are declared once (fitting.FitSettings), the hyperparameters' once (config.ModelConfig): the
    constructor's named keywords are the settings in order, every hyperparameter goes through **hyperparameters, and
    the two sets do not overlap."""
    import inspect

    from tabdiffusion.config import HYPERPARAMETERS
    from tabdiffusion.fitting import SETTINGS

    named = [p.name for p in inspect.signature(td.Synthesizer).parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert named == list(SETTINGS) and not set(SETTINGS) & set(HYPERPARAMETERS)
    assert list(td.Synthesizer(steps=7)._params()) == [*SETTINGS, *HYPERPARAMETERS]
    assert td.Synthesizer(steps=7)._settings().config.steps == 7


def test_column_types_must_map_columns_to_kinds(mixed_table):
    with pytest.raises(td.ParameterError, match=r"column_types must map column names to kinds"):
        td.Synthesizer(**FAST).fit(mixed_table, column_types=["age"])


@pytest.mark.parametrize("path", [None, 3])
def test_save_needs_a_path(fitted, path):
    with pytest.raises(td.ParameterError, match="save needs a file path"):
        fitted[0].save(path)


# ------------------------------------------------------------------------------------------------ model files
def _edited(path: Path, out: Path, edit) -> Path:
    """A copy of a model file with its JSON payload edited and the checksum recomputed, as anyone can."""
    payload, tensors = modelfile.read_model_file(path)
    edit(payload)
    return modelfile.write_model_file(out, payload, tensors)


EDITS = {
    "sampler": lambda p: p["config"].update(sampler="bogus"),
    "timesteps": lambda p: p["config"].update(num_timesteps=-5),
    "levels": lambda p: p["encoder"]["categorical"][0].update(levels=[]),
    "decimals": lambda p: p["encoder"]["numeric"][1].update(decimals="two"),
    "minimum": lambda p: p["encoder"]["numeric"][0].update(min="zero"),
    "frequencies": lambda p: p["encoder"].update(class_frequencies=[1.0]),
    "dtype": lambda p: p["encoder"]["numeric"][0].update(dtype="int99"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_and_rehashed_model_file_is_refused_at_load(fitted, tmp_path, edit):
    """The checksum catches corruption, not an edit (anyone can re-hash); load checks the content itself, so an
    edited file fails at load with a ModelFileError instead of failing later with a raw error."""
    path = _edited(fitted[0].save(tmp_path / "m.tdm"), tmp_path / "edited.tdm", EDITS[edit])
    with pytest.raises(td.ModelFileError, match="edited.tdm"):
        td.Synthesizer.load(path).sample(20, seed=0)


# ------------------------------------------------------------------------------------------------ dependencies
def _third_party_imports() -> set[str]:
    names = set()
    for file in (ROOT / "tabdiffusion").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    import sys

    return {n for n in names if n not in sys.stdlib_module_names and n != "tabdiffusion"}


def test_every_imported_library_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ;]", d)[0].lower().replace("_", "-") for d in project["dependencies"]}
    optional = {re.split(r"[<>=!~\[ ;]", d)[0].lower().replace("_", "-")
                for extra in project["optional-dependencies"].values() for d in extra}
    distributions = importlib.metadata.packages_distributions()
    for module in sorted(_third_party_imports()):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        assert names & (declared | optional), f"{module} is imported but not declared in pyproject.toml"


def test_the_private_torch_helpers_the_package_relies_on_exist():
    """hardware.py and training.py use torch helpers outside its public API; a torch without them must fail here,
    not silently change the precision rule or the EMA."""
    assert callable(torch._foreach_lerp_)
    assert callable(torch.cpu._is_avx512_bf16_supported) and callable(torch.cpu._is_amx_tile_supported)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bound = next(d for d in project["dependencies"] if d.startswith("torch"))
    lower = tuple(int(v) for v in re.search(r">=\s*([\d.]+)", bound).group(1).split(".")[:2])
    assert lower >= tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]), (
        f"pyproject declares {bound}, below the torch {torch.__version__} the suite runs; raise the bound to what is tested"
    )


# ------------------------------------------------------------------------------------------------ time budget
def test_a_tiny_time_budget_is_not_overrun_by_the_calibration_draws(mixed_table, monkeypatch):
    """Without a sampler rate measured during the fit, calibration first draws a few rows to measure it (a full
    2,000-row draw overran a 0.5 s budget several times over); a budget already spent draws nothing."""
    from tabdiffusion.transforms import calibration

    drawn: list[int] = []
    sample_codes = FittedModel.sample_codes

    def spy(self, n, generator, batch_size):
        drawn.append(n)
        return sample_codes(self, n, generator, batch_size)

    monkeypatch.setattr(FittedModel, "sample_codes", spy)
    params = {**FAST, "steps": 100_000, "min_proximity": 0, "calibrate": True}
    with pytest.warns(UserWarning, match="time_budget"):
        spent = td.Synthesizer(seed=0, time_budget=1e-3, **params).fit(mixed_table)
    assert drawn == [] and spent.calibration_ is None
    clock = iter(np.arange(0.0, 1e6, 0.01))  # a clock that advances 10 ms per reading: the budget lasts 50 readings
    monkeypatch.setattr(fitting.time, "perf_counter", lambda: float(next(clock)))
    with pytest.warns(UserWarning, match="time_budget"):
        td.Synthesizer(seed=0, time_budget=0.5, **params).fit(mixed_table)
    assert drawn and drawn[0] <= calibration.CALIBRATION_FLOOR_ROWS


def test_the_cli_threads_option_reaches_the_fit_and_the_sampler(tmp_path, mixed_table, monkeypatch, two_threads):
    from typer.testing import CliRunner

    from tabdiffusion import generation
    from tabdiffusion.cli import app

    seen = []
    train, generate = fitting.train, generation.generate_codes

    def spy_train(*args, **kwargs):
        seen.append(("train", torch.get_num_threads()))
        return train(*args, **kwargs)

    def spy_generate(*args, **kwargs):
        seen.append(("sample", torch.get_num_threads()))
        return generate(*args, **kwargs)

    monkeypatch.setattr(fitting, "train", spy_train)
    monkeypatch.setattr(generation, "generate_codes", spy_generate)  # what sample_codes calls
    mixed_table.to_csv(tmp_path / "t.csv", index=False)
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m.tdm"), "--steps", "5",
                                 "--threads", "1", "--quiet", "--min-proximity", "0"])
    assert fitted.exit_code == 0, fitted.output
    assert ("train", 1) in seen
    seen.clear()
    sampled = runner.invoke(app, ["sample", str(tmp_path / "m.tdm"), "--rows", "20", "--out", str(tmp_path / "s.csv"),
                                  "--threads", "1"])
    assert sampled.exit_code == 0, sampled.output
    assert seen and all(threads == 1 for _, threads in seen)
    assert torch.get_num_threads() == 2
