"""The same fit/sample/save/load contract on a CUDA GPU; skipped where PyTorch sees none (CI has no GPU).

Run on a GPU machine with `python -m pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import tabdiffusion as td

from conftest import FAST, make_mixed_table

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
ON_GPU = {**FAST, "device": "cuda"}


def test_fit_and_sample_on_the_gpu_keep_the_table_contract():
    table = make_mixed_table()
    synth = td.Synthesizer(seed=0, **ON_GPU).fit(table, target="label")
    assert synth.device_.type == "cuda" and next(synth.model_.parameters()).is_cuda
    loss = np.array(synth.history_.loss)
    assert np.isfinite(loss).all() and loss[-10:].mean() < loss[:10].mean()
    fake = synth.sample(300, seed=1)
    assert list(fake.columns) == list(table.columns) and fake.dtypes.to_dict() == table.dtypes.to_dict()
    assert set(fake["city"].dropna()) <= set(table["city"].dropna())
    assert fake["income"].dropna().between(table["income"].min(), table["income"].max()).all()
    pd.testing.assert_frame_equal(synth.sample(300, seed=1), fake)  # a seed fixes the draw on the GPU too


def test_gpu_model_files_load_on_cpu_and_gpu(tmp_path):
    table = make_mixed_table()
    synth = td.Synthesizer(seed=0, **ON_GPU).fit(table, target="label")
    path = synth.save(tmp_path / "gpu.tdm")
    on_gpu = td.Synthesizer.load(path, device="cuda")
    pd.testing.assert_frame_equal(on_gpu.sample(200, seed=3), synth.sample(200, seed=3))
    on_cpu = td.Synthesizer.load(path, device="cpu")
    assert next(on_cpu.model_.parameters()).device.type == "cpu"
    fake = on_cpu.sample(200, seed=3)
    assert list(fake.columns) == list(table.columns) and fake.dtypes.to_dict() == table.dtypes.to_dict()


def test_default_preset_regression_and_bfloat16_sampling_on_the_gpu():
    table = make_mixed_table(n=300).dropna(subset=["income"])
    synth = td.Synthesizer(seed=0, steps=60, batch_size=128, device="cuda", verbose=False)
    synth.fit(table, target="income", task="regression")  # periodic features, auto width, ddim, precision 'auto'
    assert synth.config_.sampling_precision == "auto"
    fake = synth.sample(500, seed=0)
    assert fake["income"].notna().all() and fake["income"].between(table["income"].min(), table["income"].max()).all()


def test_many_categorical_columns_train_without_nan_on_the_gpu():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({f"c{i}": rng.choice([f"v{j}" for j in range(2 + i % 40)], 256) for i in range(100)})
    table["x"] = rng.normal(size=256)
    synth = td.Synthesizer(seed=0, **ON_GPU).fit(table)
    assert np.isfinite(synth.history_.loss).all()
    assert synth.sample(100, seed=0).notna().all().all()
