"""Model files: JSON + safetensors, atomic, verified on load, never unpickled."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest
import torch

import tabdiffusion as td
from tabdiffusion import modelfile

from conftest import FAST


def test_save_load_round_trip_gives_identical_samples(fitted, tmp_path):
    synth, table = fitted
    path = synth.save(tmp_path / "m.tdm")
    loaded = td.Synthesizer.load(path)
    pd.testing.assert_frame_equal(loaded.sample(100, seed=9), synth.sample(100, seed=9))
    assert loaded.schema == synth.schema
    assert loaded.history_.loss == synth.history_.loss
    assert loaded.model_.head.weight.device.type == "cpu"
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_model_files_from_before_the_later_options_still_load(mixed_table, tmp_path):
    # Files written before these options existed load with the behaviour (and denoiser) they were trained with.
    synth = td.Synthesizer(seed=0, fourier_features=0, film=False, **FAST).fit(mixed_table, target="label")
    payload, tensors = modelfile.read_model_file(synth.save(tmp_path / "new.tdm"))
    for section in ("config", "params"):
        for name in ("sampling_precision", "training_precision", "dequantize", "fourier_features", "film", "calibrate"):
            payload[section].pop(name)
    tensors = {k: v for k, v in tensors.items() if not k.startswith("calibration.")}
    loaded = td.Synthesizer.load(modelfile.write_model_file(tmp_path / "old.tdm", payload, tensors))
    config = loaded.config_
    assert config.sampling_precision == config.training_precision == "float32" and config.dequantize is False
    assert config.fourier_features == 0 and config.film is False and config.calibrate is False
    assert loaded.calibration_ is None
    assert len(loaded.sample(20, seed=0)) == 20


def test_model_file_is_safetensors_with_json_schema(fitted, tmp_path):
    synth, _ = fitted
    path = synth.save(tmp_path / "m.tdm")
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_size])
    payload = json.loads(header["__metadata__"]["payload"])
    assert payload["encoder"]["schema"] == synth.schema.to_dict()
    assert payload["tabdiffusion_version"] == td.__version__


def test_truncated_file(fitted, tmp_path):
    path = fitted[0].save(tmp_path / "m.tdm")
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(td.ModelFileError, match="truncated or damaged"):
        td.Synthesizer.load(path)


def test_tampered_weights(fitted, tmp_path):
    path = fitted[0].save(tmp_path / "m.tdm")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(td.ModelFileError, match="modified after it was written"):
        td.Synthesizer.load(path)


def test_incompatible_format_version(fitted, tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "FORMAT_VERSION", 99)
    path = fitted[0].save(tmp_path / "m.tdm")
    monkeypatch.undo()
    with pytest.raises(td.ModelFileError, match="format version 99.*reads version 1"):
        td.Synthesizer.load(path)


def test_incompatible_layout_names_the_versions(tmp_path):
    path = modelfile.write_model_file(tmp_path / "m.tdm", {"tabdiffusion_version": "0.0.1"}, {"w": torch.zeros(2)})
    with pytest.raises(td.ModelFileError, match="written by tabdiffusion 0.0.1"):
        td.Synthesizer.load(path)


def test_pickle_files_are_refused_without_being_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    path = tmp_path / "evil.tdm"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(td.ModelFileError, match="not a tabdiffusion model file"):
        td.Synthesizer.load(path)


def test_missing_file():
    with pytest.raises(td.ModelFileError, match="No model file at 'nope.tdm'"):
        td.Synthesizer.load("nope.tdm")
