"""Fit and sample: the output is the same table (columns, order, dtypes, ranges, categories, missingness)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch

import tabdiffusion as td
from conftest import FAST, make_coded_table, make_mixed_table, make_related_table
from tabdiffusion.nn.mlp import MLPDenoiser


def test_sample_has_same_columns_order_and_dtypes(fitted):
    synth, table = fitted
    fake = synth.sample(300, seed=1)
    assert list(fake.columns) == list(table.columns)
    assert fake.dtypes.to_dict() == table.dtypes.to_dict()
    assert len(fake) == 300


def test_sample_values_stay_in_training_range_and_categories(fitted):
    synth, table = fitted
    fake = synth.sample(400, seed=2)
    for column in ("age", "income"):
        assert fake[column].min() >= table[column].min() and fake[column].max() <= table[column].max()
    assert (fake["age"] == fake["age"].round()).all()
    assert set(fake["city"].dropna()) <= set(table["city"].dropna())
    assert set(fake["label"]) <= {"yes", "no"} and fake["label"].nunique() == 2
    assert list(fake["plan"].cat.categories) == ["basic", "pro", "max"]
    assert fake["joined"].between(table["joined"].min(), table["joined"].max()).all()
    assert (fake["joined"].dt.normalize() == fake["joined"]).all()  # day resolution learned
    assert (fake["source"] == "web").all()
    # Income had 2 decimals: the synthetic values have at most 2 as well.
    income = fake["income"].dropna()
    assert np.allclose(income, income.round(2))


def test_identifiers_are_fresh_and_unique(fitted):
    synth, table = fitted
    fake = synth.sample(500, seed=3)
    assert synth.schema["customer_id"].kind == "id"
    assert fake["customer_id"].is_unique
    assert not set(fake["customer_id"]) & set(table["customer_id"])


def test_integer_surrogate_keys_are_identifiers():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"row_id": rng.permutation(np.arange(1, 51)), "x": rng.normal(size=50), "n": rng.integers(0, 5, 50)})
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    assert synth.schema["row_id"].kind == "id" and synth.schema["n"].kind == "integer"
    fake = synth.sample(80, seed=0)
    assert fake["row_id"].is_unique and fake["row_id"].min() > 50 and fake["row_id"].dtype == table["row_id"].dtype


def test_missing_values_are_learned_at_their_rate():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    x[rng.random(n) < 0.3] = np.nan
    color = rng.choice(["red", "blue", None], size=n, p=[0.45, 0.45, 0.1])
    table = pd.DataFrame({"x": x, "color": pd.Series(color, dtype="str"), "z": rng.normal(size=n)})
    synth = td.Synthesizer(seed=0, **{**FAST, "steps": 400}).fit(table)
    fake = synth.sample(2000, seed=0)
    assert 0.2 < fake["x"].isna().mean() < 0.4
    assert 0.04 < fake["color"].isna().mean() < 0.18
    assert fake["z"].notna().all()


def test_class_labels_follow_training_frequencies(fitted):
    synth, table = fitted
    fake = synth.sample(3000, seed=4)
    assert abs((fake["label"] == "yes").mean() - (table["label"] == "yes").mean()) < 0.04


def test_same_seed_gives_identical_weights_and_samples(mixed_table):
    a = td.Synthesizer(seed=7, **FAST).fit(mixed_table, target="label")
    b = td.Synthesizer(seed=7, **FAST).fit(mixed_table, target="label")
    for (name, p), q in zip(a.model_.state_dict().items(), b.model_.state_dict().values()):
        assert torch.equal(p, q), name
    pd.testing.assert_frame_equal(a.sample(200, seed=5), b.sample(200, seed=5))
    c = td.Synthesizer(seed=8, **FAST).fit(mixed_table, target="label")
    assert not torch.equal(a.model_.head.weight, c.model_.head.weight)
    assert not a.sample(200, seed=5).equals(a.sample(200, seed=6))


def test_unseeded_sample_calls_continue_one_stream(fitted):
    synth, _ = fitted
    first, second = synth.sample(50), synth.sample(50)
    assert not first.equals(second)


def test_fit_does_not_modify_the_input(mixed_table):
    before = mixed_table.copy(deep=True)
    td.Synthesizer(seed=0, **FAST).fit(mixed_table, target="label")
    pd.testing.assert_frame_equal(mixed_table, before)


def test_fit_reads_csv_and_parquet(tmp_path, mixed_table):
    mixed_table.to_csv(tmp_path / "t.csv", index=False)
    mixed_table.to_parquet(tmp_path / "t.parquet", index=False)
    from_csv = td.Synthesizer(seed=0, **FAST).fit(tmp_path / "t.csv", target="label")
    from_parquet = td.Synthesizer(seed=0, **FAST).fit(str(tmp_path / "t.parquet"), target="label")
    assert from_csv.sample(20, seed=0).shape == (20, mixed_table.shape[1])
    assert from_parquet.sample(20, seed=0).dtypes.to_dict() == mixed_table.dtypes.to_dict()


def test_history_and_time_budget(mixed_table):
    with pytest.warns(UserWarning, match=r"time_budget=0.5 s stopped training after \d+ of 100000 steps.*Raise time_budget"):
        synth = td.Synthesizer(seed=0, **{**FAST, "steps": 100_000}, time_budget=0.5).fit(mixed_table)
    assert synth.history_.stopped_by == "time_budget"
    assert 0 < synth.history_.steps < 100_000
    assert all(np.isfinite(synth.history_.loss))


def test_calibration_draws_shrink_to_a_deadline_they_would_overrun(mixed_table):
    """A tiny time_budget leaves less than one 2,000-row calibration draw: the draws shrink to what the time left holds at
    the sampler's measured speed (penguins with time_budget=5 took 5.39 s before), and keep their size otherwise."""
    from tabdiffusion.transforms.calibration import CALIBRATION_FLOOR_ROWS, calibration_batch

    assert calibration_batch(2000, 10.0, 1e-3) == 2000  # room for whole batches: the rows of a fit without a budget
    assert calibration_batch(2000, 1.0, 1e-3) == 500  # half the time left, at the measured rate
    assert calibration_batch(2000, -1.0, 1e-3) == CALIBRATION_FLOOR_ROWS  # past the deadline: the smallest draw
    assert calibration_batch(50, 0.001, 1e-3) == 50  # never more than the batch
    synth = td.Synthesizer(seed=0, **FAST).fit(mixed_table, target="label")
    assert len(synth.history_.checks) == 10 and all(c["seconds"] > 0 for c in synth.history_.checks)


def test_cpu_fits_hand_freed_memory_back_as_they_go(mixed_table, monkeypatch):
    """Without it glibc keeps freed activations and a long fit's memory grows with its steps (experiments.md)."""
    import platform
    import sys

    from tabdiffusion import _memory, training

    calls = []
    monkeypatch.setattr(training, "release_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(training, "RELEASE_SECONDS", 0.0)  # at every step instead of every few seconds
    td.Synthesizer(seed=0, **{**FAST, "steps": 25}).fit(mixed_table)
    assert len(calls) == 25
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert _memory.release_freed_memory() is glibc  # elsewhere (musl, macOS, Windows) there is no malloc_trim


def test_training_lowers_the_loss(mixed_table):
    synth = td.Synthesizer(seed=0, **{**FAST, "steps": 300}).fit(mixed_table, target="label")
    loss = np.array(synth.history_.loss)
    # Late losses average over 50 steps (std of that mean ~0.03 here), so a 10% drop is well beyond noise.
    assert loss[-50:].mean() < 0.9 * loss[:10].mean()


def test_regression_target_is_generated_as_a_number(mixed_table):
    synth = td.Synthesizer(seed=0, **FAST).fit(mixed_table, target="age")
    assert synth.encoder_.task == "regression" and synth.encoder_.numeric_[0].name == "age"
    assert synth.sample(50, seed=0)["age"].dtype == mixed_table["age"].dtype


def test_many_categorical_columns_train_without_nan():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({f"c{i}": rng.choice([f"v{j}" for j in range(2 + i % 30)], size=200) for i in range(60)})
    table["x"] = rng.normal(size=200)
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    assert np.isfinite(synth.history_.loss).all()
    assert synth.sample(100, seed=0).notna().all().all()


def test_high_cardinality_categories_are_capped_and_warned():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"zip": rng.choice([f"z{i}" for i in range(300)], size=600), "x": rng.normal(size=600)})
    with pytest.warns(UserWarning, match="'zip' has .* distinct values"):  # about 2 rows a level: without protection
        synth = td.Synthesizer(seed=0, max_categories=20, value_protection=False, **FAST).fit(table)
    assert synth.encoder_.category_sizes == [20]
    fake = synth.sample(500, seed=0)
    assert set(fake["zip"]) <= set(table["zip"])
    assert fake["zip"].nunique() > 20  # pooled values come back, drawn by frequency


def test_edge_tables_constant_all_missing_and_single_row_classes():
    table = pd.DataFrame({
        "constant": [3.0] * 6, "empty": [np.nan] * 6, "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "label": ["a", "b", "c", "d", "e", "e"],
    })
    synth = td.Synthesizer(seed=0, **FAST).fit(table, target="label")
    fake = synth.sample(30, seed=0)
    assert (fake["constant"] == 3.0).all() and fake["empty"].isna().all()
    assert set(fake["label"]) <= set("abcde")
    assert fake.dtypes.to_dict() == table.dtypes.to_dict()


def test_column_type_override(mixed_table):
    synth = td.Synthesizer(seed=0, **FAST).fit(mixed_table, column_types={"age": "categorical"})
    assert synth.schema["age"].kind == "categorical"
    fake = synth.sample(100, seed=0)
    assert fake["age"].dtype == mixed_table["age"].dtype and set(fake["age"]) <= set(mixed_table["age"])


def test_schema_is_readable(fitted):
    synth, _ = fitted
    kinds = {c.name: c.kind for c in synth.schema.columns}
    assert kinds == {
        "age": "integer", "income": "numeric", "member": "boolean", "city": "categorical", "plan": "categorical",
        "joined": "datetime", "customer_id": "id", "source": "constant", "label": "categorical",
    }
    assert "customer_id" in str(synth.schema)


def test_tabddpm_preset_is_reachable():
    assert td.PRESETS["tabddpm"].num_timesteps == 1000 and td.PRESETS["tabddpm"].batch_size == 4096
    synth = td.Synthesizer(preset="tabddpm", seed=0, steps=5, d_layers=(16,), num_timesteps=10, verbose=False)
    synth.fit(make_mixed_table(40), target="label")
    assert synth.config_.batch_size == 4096 and synth.config_.d_layers == (16,)
    assert len(synth.sample(10, seed=0)) == 10


def test_few_step_ddim_sampler(mixed_table):
    synth = td.Synthesizer(seed=0, sampler="ddim", sampling_steps=5, eta=0.5, **FAST).fit(mixed_table, target="label")
    assert synth.diffusion_.timesteps(5) == [19, 14, 10, 5, 0]
    fake = synth.sample(200, seed=0)
    assert fake.dtypes.to_dict() == mixed_table.dtypes.to_dict()
    assert fake["income"].dropna().between(mixed_table["income"].min(), mixed_table["income"].max()).all()
    with pytest.raises(td.ParameterError, match="sampler='euler'"):
        td.Synthesizer(sampler="euler").fit(mixed_table)


def test_bfloat16_sampling_approximates_float32_sampling(fitted):
    # Same model, same seed: bfloat16 matrix products move values slightly but draw almost the same rows.
    synth, _ = fitted
    base = synth.config_
    try:
        synth.config_ = replace(base, sampling_precision="float32")
        exact = synth.sample(400, seed=3)
        synth.config_ = replace(base, sampling_precision="bfloat16")
        approx = synth.sample(400, seed=3)
        synth.config_ = replace(base, sampling_precision="float32")
        other = synth.sample(400, seed=4)
    finally:
        synth.config_ = base
    assert list(approx.columns) == list(exact.columns) and (approx.dtypes == exact.dtypes).all()
    # Categorical draws mostly agree (0.86 here), far above the agreement of two seeds (0.24 here).
    assert (approx["city"] == exact["city"]).mean() > 0.7 > 0.4 > (other["city"] == exact["city"]).mean()
    both = exact["income"].notna() & approx["income"].notna()
    assert np.corrcoef(exact.loc[both, "income"], approx.loc[both, "income"])[0, 1] > 0.95


def test_training_precision_sets_the_dtype_of_the_training_forward_pass(mixed_table):
    # Mixed precision: in bfloat16 the denoiser's matrix products run in bfloat16 while its weights stay float32.
    forward = MLPDenoiser.forward
    for precision, expected in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        seen: set[torch.dtype] = set()

        def spy(self, x, t, y=None):
            out = forward(self, x, t, y)
            if self.training:
                seen.add(out.dtype)
            return out

        # Epsilon prediction: its loss falls by far more than 20% within 150 steps, which keeps the learning check
        # sharp (a v loss keeps the clean value's irreducible spread at high noise, so it falls less).
        with patch.object(MLPDenoiser, "forward", spy):
            synth = td.Synthesizer(seed=0, training_precision=precision, prediction="epsilon", **{**FAST, "steps": 150})
            synth.fit(mixed_table, target="label")
        assert seen == {expected} and synth.model_.head.weight.dtype == torch.float32
        losses = synth.history_.loss
        assert np.isfinite(losses).all() and np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])


def test_periodic_features_and_film_train_sample_and_round_trip(mixed_table, tmp_path):
    synth = td.Synthesizer(seed=0, fourier_features=4, film=True, **FAST).fit(mixed_table, target="label")
    model = synth.model_
    n_numeric = synth.diffusion_.n_numeric
    assert model.periodic.frequencies.shape == (n_numeric, 4) and len(model.modulations) == len(FAST["d_layers"])
    # The inputs, their periodic features, and one known-column flag per column (the default's column masks).
    assert model.input_projection.in_features == synth.diffusion_.input_width + 2 * 4 * n_numeric + synth.diffusion_.known_width
    loss = np.array(synth.history_.loss)
    assert np.isfinite(loss).all() and loss[-10:].mean() < loss[:10].mean()
    loaded = td.Synthesizer.load(synth.save(tmp_path / "m.tdm"))
    pd.testing.assert_frame_equal(loaded.sample(50, seed=1), synth.sample(50, seed=1))
    # Without the options the denoiser is TabDDPM's: no periodic features, the timestep enters at the input only.
    plain = td.Synthesizer(seed=0, fourier_features=0, film=False, **FAST).fit(mixed_table, target="label").model_
    assert plain.periodic is None and plain.modulations is None


def test_default_training_steps_grow_with_the_table_between_a_floor_and_a_cap():
    from tabdiffusion.config import auto_steps

    assert auto_steps(3000, 1024) == 3000  # small tables: the floor
    assert auto_steps(491, 1024) == 343 and auto_steps(1500, 1024) == 1538  # at most 0.7 epochs per row
    assert auto_steps(20, 1024) == 100  # a floor for toy tables
    assert auto_steps(6400, 1024) == 7000 and auto_steps(10**6, 1024) == 10_000  # about 1000 epochs, capped
    fast = {k: v for k, v in FAST.items() if k != "steps"}
    with warnings.catch_warnings():  # the budget may stop it early enough to warn; that is not this test's point
        warnings.simplefilter("ignore", UserWarning)
        synth = td.Synthesizer(seed=0, time_budget=0.5, **fast).fit(make_mixed_table(3000), target="label")
    # resolved at fit (FAST's batch of 64: 47 batches per epoch, so the cap) and recorded in the config
    assert synth.config_.steps == 10_000 and synth.history_.steps < 10_000


def test_default_denoiser_is_narrower_on_small_tables(mixed_table, tmp_path):
    from tabdiffusion.config import SMALL_TABLE_ROWS, auto_layers

    assert auto_layers(SMALL_TABLE_ROWS - 1) == (256, 256, 256) and auto_layers(SMALL_TABLE_ROWS) == (512, 512, 512)
    fast = {k: v for k, v in FAST.items() if k != "d_layers"}
    synth = td.Synthesizer(seed=0, **{**fast, "steps": 2}).fit(mixed_table, target="label")
    # resolved at fit and recorded in the config, so the model file rebuilds the same network
    assert synth.config_.d_layers == (256, 256, 256) and synth.model_.mlp[0].out_features == 256
    synth.save(tmp_path / "m.tdm")
    assert td.Synthesizer.load(tmp_path / "m.tdm").config_.d_layers == (256, 256, 256)
    assert td.Synthesizer(seed=0, **{**fast, "steps": 2}, d_layers=[64]).fit(mixed_table).config_.d_layers == (64,)


def test_denoiser_width_grows_with_the_input_between_tabddpm_and_512():
    from tabdiffusion.config import auto_width

    assert auto_width(20) == auto_width(1280) == 128 and auto_width(1281) == 192 and auto_width(10**5) == 512
    wide = pd.DataFrame({f"c{i}": np.arange(150) % 30 for i in range(50)}).astype(str)  # 50 columns x 30 levels of 5 rows
    synth = td.Synthesizer(seed=0, **FAST).fit(wide)
    assert synth.config_.d_t == auto_width(1500) == 192 and synth.model_.input_projection.out_features == 192


def test_marginal_calibration_brings_numeric_columns_to_the_training_marginals(mixed_table):
    # An undertrained model draws numeric codes with the wrong spread; calibration, learned after training from the
    # model's own codes, maps them onto the training codes' quantiles column by column (same weights either way).
    # A snapped column (few distinct values, here 5 star ratings) keeps its codes.
    from scipy.stats import ks_2samp

    table = mixed_table.assign(stars=np.random.default_rng(3).integers(1, 6, size=len(mixed_table)))
    fits = {flag: td.Synthesizer(seed=0, calibrate=flag, **{**FAST, "steps": 30}).fit(table, target="label")
            for flag in (False, True)}
    encoder = fits[True].encoder_
    names = [column.name for column in encoder.numeric_]
    assert fits[False].calibration_ is None and sorted(names) == ["age", "income", "joined", "stars"]
    assert torch.equal(fits[False].model_.head.weight, fits[True].model_.head.weight)
    training = encoder.encode(table)
    observed = encoder.observed_numeric(training.x_cat)
    generator = torch.Generator().manual_seed(5)
    codes = fits[True]._fitted("sample").sample_codes(4000, generator, fits[True].sample_batch_size)
    calibrated = fits[True].calibration_.apply(codes.x_num)
    sample_observed = encoder.observed_numeric(codes.x_cat)
    for j, name in enumerate(names):
        if name == "stars":
            np.testing.assert_allclose(calibrated[:, j], codes.x_num[:, j], atol=1e-9)
            continue
        real = training.x_num[observed[:, j], j]
        before = ks_2samp(codes.x_num[sample_observed[:, j], j], real).statistic
        after = ks_2samp(calibrated[sample_observed[:, j], j], real).statistic
        assert after < min(0.1, before), (name, before, after)
    assert fits[True].sample(30, seed=1).shape == (30, table.shape[1])


def test_auto_training_precision_follows_the_hardware_rule_and_records_the_choice(mixed_table, monkeypatch):
    from tabdiffusion import hardware

    for faster, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(hardware, "bfloat16_is_faster", lambda device: faster)
        synth = td.Synthesizer(seed=0, training_precision="auto", **FAST).fit(mixed_table, target="label")
        assert synth.config_.training_precision == expected
    # The rule reads the hardware only: AMX, or AVX512-BF16 on a CPU known to be AMD's (experiments.md).
    monkeypatch.undo()
    cpu = torch.device("cpu")
    for amx, avx512_bf16, vendor, expected in (
        (True, True, "GenuineIntel", True), (False, True, "GenuineIntel", False),
        (False, True, "AuthenticAMD", True), (False, False, "AuthenticAMD", False),
        (False, True, "", False), (False, True, "x86_64", False),  # vendor unknown: float32
    ):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(hardware, "cpu_vendor", lambda: vendor)
        assert hardware.uses_bfloat16("auto", cpu) is expected, (amx, avx512_bf16, vendor)
        assert hardware.uses_bfloat16("float32", cpu) is False and hardware.uses_bfloat16("bfloat16", cpu) is True
    # Without /proc/cpuinfo the vendor comes from platform.processor().
    monkeypatch.undo()
    monkeypatch.setattr("builtins.open", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("no /proc")))
    monkeypatch.setattr(hardware.platform, "processor", lambda: "AMD64 Family 25 Model 17, AuthenticAMD")
    assert hardware.cpu_vendor() == "AMD64 Family 25 Model 17, AuthenticAMD"


def test_a_time_budget_that_does_not_bind_gives_the_same_fit_as_none(mixed_table):
    free = td.Synthesizer(seed=7, **FAST).fit(mixed_table, target="label")
    budgeted = td.Synthesizer(seed=7, time_budget=600, **FAST).fit(mixed_table, target="label")
    assert budgeted.history_.stopped_by == "steps"
    for (name, p), q in zip(free.model_.state_dict().items(), budgeted.model_.state_dict().values()):
        assert torch.equal(p, q), name
    pd.testing.assert_frame_equal(free.sample(100, seed=3), budgeted.sample(100, seed=3))


def test_learning_rate_progress_follows_the_clock_only_when_the_budget_binds():
    from tabdiffusion.training import schedule_progress

    assert schedule_progress(0, 100, 5.0, 10.0) == 0.0  # step 0 always runs at the full rate
    assert schedule_progress(50, 100, 1.0, 10.0) == 0.5  # 0.02 s per step: 100 steps fit in 10 s
    assert schedule_progress(50, 100, 8.0, 10.0) == 0.8  # 0.16 s per step: they do not, the clock leads
    assert schedule_progress(50, 100, 20.0, 10.0) == 1.0
    assert schedule_progress(50, 100, 8.0, None) == 0.5


def test_training_uses_fused_adamw_where_torch_has_it_and_the_default_where_it_refuses():
    from tabdiffusion.training import _adamw

    model = torch.nn.Linear(3, 2)
    # torch has a fused CPU kernel from 2.4 (pyproject allows 2.2); before that the fallback below is what runs
    assert _adamw(model, 1e-3, 0.0).defaults["fused"] == (torch.__version__ >= "2.4")
    real_adamw = torch.optim.AdamW

    def without_fused(params, **kwargs):  # torch < 2.4 on a CPU: fused=True raises at construction
        if kwargs.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adamw(params, **kwargs)

    with patch("torch.optim.AdamW", without_fused):
        optimizer = _adamw(model, 1e-3, 0.0)
    assert not optimizer.defaults["fused"] and optimizer.defaults["lr"] == 1e-3


def test_sampled_rows_keep_a_column_that_a_category_fixes_exactly_also_after_save_and_load(tmp_path):
    table = make_coded_table(300)
    mapping = dict(zip(table["degree"], table["degree_num"]))
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    for out in (synth.sample(500, seed=1), td.Synthesizer.load(synth.save(tmp_path / "m.tdm")).sample(500, seed=1)):
        assert out["degree_num"].dtype == table["degree_num"].dtype
        assert (out["degree_num"] == out["degree"].map(mapping)).all()
    assert [c.name for c in synth.encoder_.derived_] == ["degree_num"]
    assert td.Synthesizer(seed=0, derive_columns=False, **FAST).fit(table).encoder_.derived_ == []
    assert td.Synthesizer(preset="tabddpm", seed=0, **FAST).fit(table).encoder_.derived_ == []  # the paper's method models it


def test_sampled_rows_keep_totals_copies_and_lengths_that_held_in_every_training_row(tmp_path):
    table = make_related_table()
    synth = td.Synthesizer(seed=0, compute_columns=True, **FAST).fit(table, target="label")
    for out in (synth.sample(400, seed=1), td.Synthesizer.load(synth.save(tmp_path / "m.tdm")).sample(400, seed=1)):
        assert out.dtypes.equals(table.dtypes)
        assert (out["living"] == out["above"] + out["basement"]).all() and (out["salary"] == out["salary_copy"]).all()
        np.testing.assert_allclose(out["speed"], np.linalg.norm(out[["vx", "vy", "vz"]], axis=1), atol=1e-6)
    assert [c.name for c in synth.encoder_.computed_] == ["living", "salary", "speed"]
    assert td.Synthesizer(seed=0, **FAST).fit(table, target="label").encoder_.computed_ == []  # off by default


def test_flow_preset_reflows_samples_in_one_step_and_round_trips(mixed_table, tmp_path):
    settings = {**FAST, "steps": 40}
    synth = td.Synthesizer(preset="flow", seed=0, **settings).fit(mixed_table, target="label")
    assert synth.config_.process == "flow" and synth.config_.sampling_steps == 1
    assert synth.config_.reflow_steps == 30 and synth.reflow_history_.steps == 30  # 3/4 of the teacher's steps
    fake = synth.sample(300, seed=1)
    assert list(fake.columns) == list(mixed_table.columns) and fake.dtypes.to_dict() == mixed_table.dtypes.to_dict()
    assert set(fake["label"].dropna()) <= set(mixed_table["label"].dropna())
    with patch.object(synth.model_, "forward", wraps=synth.model_.forward) as forward:
        synth.sample(10, seed=2)
    assert forward.call_count == 1  # one network evaluation per batch
    loaded = td.Synthesizer.load(synth.save(tmp_path / "flow.tdm"))
    assert loaded.reflow_history_.steps == 30
    pd.testing.assert_frame_equal(loaded.sample(50, seed=1), synth.sample(50, seed=1))
    # reflow_steps=0: the flow without reflow, sampled with its own Euler steps; the diffusion presets refuse it.
    plain = td.Synthesizer(preset="flow", seed=0, reflow_steps=0, sampling_steps=4, **settings).fit(mixed_table, target="label")
    assert plain.reflow_history_ is None and plain.sample(20, seed=0).shape == (20, mixed_table.shape[1])
    with pytest.raises(td.ParameterError, match="reflow_steps applies to preset='flow' only"):
        td.Synthesizer(reflow_steps=10, **settings).fit(mixed_table, target="label")
    with pytest.raises(td.ParameterError, match="its sampler is 'euler'"):
        td.Synthesizer(preset="flow", sampler="ddim", **settings).fit(mixed_table, target="label")


def test_sample_chunks_are_made_when_asked_for_and_add_up_to_sample(monkeypatch):
    from tabdiffusion import synthesizer
    from tabdiffusion.fitted import FittedModel

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"row_id": rng.permutation(np.arange(1, 51)), "x": rng.normal(size=50), "c": rng.choice(["a", "b"], 50)})
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    with patch.object(FittedModel, "sample_codes", autospec=True, side_effect=FittedModel.sample_codes) as codes:
        stream = synth.sample_chunks(130, seed=3, chunk_rows=40)
        first = next(stream)
        assert codes.call_count == 1 and len(first) == 40  # one chunk's rows exist, not n
        rest = list(stream)
    assert [len(chunk) for chunk in rest] == [40, 40, 10] and codes.call_count == 4
    together = pd.concat([first, *rest], ignore_index=True)
    assert together["row_id"].is_unique and together["row_id"].min() > 50  # keys never repeat across chunks
    assert together.dtypes.to_dict() == table.dtypes.to_dict()
    # sample() is its chunks put together: one chunk up to SAMPLE_CHUNK_ROWS rows, several past it.
    pd.testing.assert_frame_equal(synth.sample(130, seed=3), next(synth.sample_chunks(130, seed=3)))
    monkeypatch.setattr(synthesizer, "SAMPLE_CHUNK_ROWS", 40)
    pd.testing.assert_frame_equal(synth.sample(130, seed=3), together)
    with pytest.raises(td.ParameterError, match="chunk_rows must be a positive integer"):
        synth.sample_chunks(10, chunk_rows=0)


def test_keys_thinned_by_a_split_or_with_a_stray_gap_are_still_identifiers():
    rng = np.random.default_rng(0)
    n = 200
    full = pd.DataFrame({"customer_id": np.arange(1, n + 1), "x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    train = full.sample(frac=0.8, random_state=0)  # no longer the dense range 1..n
    text_key = pd.Series([None] + [f"k{i}" for i in range(1, 160)])  # one missing key
    train = train.assign(code=text_key.to_numpy(), weight=rng.permutation(10_000)[: len(train)])
    synth = td.Synthesizer(seed=0, **FAST).fit(train)
    kinds = {c.name: c.kind for c in synth.schema.columns}
    assert kinds["customer_id"] == "id" and kinds["code"] == "id"
    assert kinds["weight"] == "integer"  # distinct integers without a key-like name stay data
    fake = synth.sample(300, seed=1)
    assert not fake["customer_id"].isin(full["customer_id"]).any()
    assert not fake["code"].isin(train["code"]).any() and fake["code"].is_unique


def test_an_integer_key_read_as_floats_is_an_identifier():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"order_id": np.r_[np.nan, rng.permutation(np.arange(5, 300, 3))[:59]], "x": rng.normal(size=60)})
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    assert synth.schema["order_id"].kind == "id"
    fake = synth.sample(50, seed=0)
    assert fake["order_id"].dtype == table["order_id"].dtype and fake["order_id"].min() > table["order_id"].max()


def test_csv_times_with_summer_and_winter_offsets_are_read_as_utc_instants(tmp_path):
    when = pd.Series(pd.date_range("2021-01-01", periods=60, freq="5D", tz="Europe/Paris"))  # +01:00 and +02:00
    pd.DataFrame({"when": when, "x": np.arange(60.0)}).to_csv(tmp_path / "t.csv", index=False)
    from tabdiffusion.tables import read_table

    read = read_table(tmp_path / "t.csv")["when"]
    assert str(read.dtype).endswith("UTC]") and (read == when).all()  # the same instants
    synth = td.Synthesizer(seed=0, **FAST).fit(tmp_path / "t.csv")
    assert synth.schema["when"].kind == "datetime"


def test_measurements_and_sparse_text_are_not_taken_for_identifiers():
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame({
        "width": rng.permutation(100_000)[:n], "paid": rng.permutation(50_000)[:n], "key_length": rng.permutation(9_000)[:n],
        "note": [None] * 270 + [f"customer said {i}" for i in range(30)],  # mostly missing free text
        "x": rng.normal(size=n),
    })
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    assert {c.name: c.kind for c in synth.schema.columns} == {
        "width": "integer", "paid": "integer", "key_length": "integer", "note": "categorical", "x": "numeric"}
    assert synth.sample(400, seed=0)["note"].isna().mean() > 0.5  # its missing rate is learned


def test_proximity_is_near_one_for_fresh_rows_and_near_zero_for_copies_and_diversity_tells_copies_from_a_pile():
    from tabdiffusion.proximity import ProximityReference
    from tabdiffusion.transforms.table import TableEncoder

    table, fresh = make_mixed_table(2000, seed=0), make_mixed_table(2000, seed=1)
    encoder = TableEncoder(td.infer_schema(table), "label", None, 100, seed=0).fit(table)
    reference = ProximityReference(encoder, encoder.encode(table), np.random.default_rng(0))
    score = reference.score(encoder.encode(fresh))
    assert 0.85 < score["proximity"] < 1.15 and score["diversity"] > 0.8
    score = reference.score(encoder.encode(pd.concat([table.iloc[:900], fresh.iloc[:100]])))  # 90% copied rows
    assert score["proximity"] < 0.2 and score["diversity"] > 0.8  # calibration moves copies a little (0.08 here)
    score = reference.score(encoder.encode(pd.concat([table.iloc[:3]] * 300)))  # rows piled onto three training rows
    assert score["diversity"] < 0.01  # (calibration spreads the piles over the marginals, so their proximity is ~1)


def test_proximity_of_rows_crowded_into_the_middle_is_judged_after_calibration_so_only_copies_score_low():
    from tabdiffusion.neighbours import nearest
    from tabdiffusion.proximity import ProximityReference
    from tabdiffusion.transforms.table import Encoded, TableEncoder

    def correlated(n: int, seed: int) -> pd.DataFrame:
        return pd.DataFrame(np.random.default_rng(seed).normal(size=(n, 4)) @ np.triu(np.ones((4, 4))), columns=list("abcd"))

    table, fresh = correlated(2000, 0), correlated(2000, 1)
    encoder = TableEncoder(td.infer_schema(table), None, None, 100, seed=0).fit(table)
    reference = ProximityReference(encoder, encoder.encode(table), np.random.default_rng(0))
    codes = encoder.encode(fresh)
    crowded = Encoded(codes.x_num * np.float32(0.5), codes.x_cat, None)  # fresh rows, marginals half as wide
    uncalibrated = np.median(nearest(reference.embed(crowded), reference._rows, 1)[0]) / reference.loo_distance
    assert uncalibrated < 0.8  # what the stop saw before: crowding alone looked like copying
    assert 0.9 < reference.score(crowded)["proximity"] < 1.1
    copies = encoder.encode(pd.concat([table.iloc[:900], fresh.iloc[:100]]))
    assert reference.score(copies)["proximity"] < 0.6  # on continuous columns calibration moves copies most (0.48)


def test_proximity_measures_the_values_that_decode_writes():
    # A sampled age of 37.3 is written as 37: the check measures 37, so it does not take rows between the training
    # values for rows closer than any two training rows are.
    from tabdiffusion.proximity import ProximityReference
    from tabdiffusion.transforms.table import Encoded, TableEncoder

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"age": rng.integers(18, 90, 1000), "price": np.round(rng.gamma(2.0, 50.0, 1000), 2)})
    encoder = TableEncoder(td.infer_schema(table), None, None, 100, seed=0).fit(table)
    reference = ProximityReference(encoder, encoder.encode(table), np.random.default_rng(0))
    codes = encoder.encode(table)
    raw = encoder.quantile_.inverse_transform(codes.x_num.astype(np.float64))
    nudged = encoder.quantile_.transform(raw + np.array([0.3, 0.003]))  # 37 -> 37.3, 12.34 -> 12.343
    assert not np.allclose(nudged, codes.x_num)
    np.testing.assert_allclose(reference.embed(Encoded(nudged.astype(np.float32), codes.x_cat, None)),
                               reference.embed(codes), atol=1e-6)


def test_a_failed_check_stops_training_and_restores_the_weights_of_the_last_check_that_passed():
    from tabdiffusion.diffusion.mixed import MixedDiffusion
    from tabdiffusion.nn.mlp import reset_parameters
    from tabdiffusion.training import Checks, table_loss, train

    g = torch.Generator().manual_seed(0)
    diffusion = MixedDiffusion(2, [3], 20, "cpu")
    model = MLPDenoiser(diffusion.input_width, [16], d_t=16)
    reset_parameters(model, g)
    seen, values = {}, iter([1.0, 1.0, 0.5, 1.0])

    def probe(ema: torch.nn.Module) -> dict[str, float]:
        seen[len(seen)] = {k: v.clone() for k, v in ema.state_dict().items()}
        return {"proximity": next(values)}

    loss = table_loss(diffusion, torch.randn(64, 2, generator=g), torch.randint(0, 3, (64, 1), generator=g), None)
    ema, history = train(model, loss, 64, steps=40, time_budget=None, batch_size=16, lr=1e-2, weight_decay=0.0, ema_decay=0.9, generator=g,
                         verbose=False, checks=Checks(frozenset({10, 20, 30, 40}), probe, lambda v: v["proximity"] >= 0.8))
    assert history.stopped_by == "memorisation" and history.steps == 30 and history.kept_step == 20
    assert [{k: v for k, v in c.items() if k != "seconds"} for c in history.checks] == [
        {"step": 10, "proximity": 1.0}, {"step": 20, "proximity": 1.0}, {"step": 30, "proximity": 0.5}]
    assert all(c["seconds"] >= 0 for c in history.checks)  # each check's own time, which sizes calibration draws
    for name, value in ema.state_dict().items():
        assert torch.equal(value, seen[1][name]), name
    assert any(not torch.equal(v, seen[2][k]) for k, v in ema.state_dict().items())  # not the failed step's weights


def test_memorisation_checks_leave_a_fit_they_do_not_stop_unchanged(mixed_table):
    checked = td.Synthesizer(seed=5, min_proximity=1e-6, **FAST).fit(mixed_table, target="label")
    plain = td.Synthesizer(seed=5, min_proximity=0, **FAST).fit(mixed_table, target="label")
    assert len(checked.history_.checks) == 10 and checked.history_.stopped_by == "steps" and not plain.history_.checks
    pd.testing.assert_frame_equal(checked.sample(100, seed=3), plain.sample(100, seed=3))


def test_a_fit_that_fails_its_first_check_stops_there_and_warns(mixed_table):
    with pytest.warns(UserWarning, match="closer to training rows"):
        synth = td.Synthesizer(seed=0, min_proximity=9.9, **FAST).fit(mixed_table, target="label")
    assert synth.history_.stopped_by == "memorisation" and synth.history_.steps == 6 and synth.history_.kept_step is None
    assert len(synth.sample(20, seed=0)) == 20
    with pytest.raises(td.ParameterError, match="min_proximity"):
        td.Synthesizer(min_proximity=-1, **FAST).fit(mixed_table)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_table_with_one_numeric_column_is_not_stopped_as_memorised(seed):
    # One numeric and one categorical column: if the stop's calibrated rows crowd onto the training values (see
    # calibration.py), fresh-looking rows score as copies and these fits stop after a few of their 60 steps.
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=300)
    table = pd.DataFrame({"amount": amount, "kind": np.where(rng.random(300) < 1 / (1 + np.exp(-2 * amount)), "x", "y")})
    synth = td.Synthesizer(seed=seed, **FAST).fit(table)
    assert synth.history_.stopped_by == "steps" and synth.history_.steps == FAST["steps"]
    assert min(check["proximity"] for check in synth.history_.checks) > 0.9


def test_fit_calls_the_callback_after_every_step_with_its_losses(mixed_table):
    seen = []
    synth = td.Synthesizer(seed=0, **{**FAST, "steps": 7}).fit(mixed_table, target="label", callback=seen.append)
    assert [s.step for s in seen] == list(range(1, 8)) and all(s.steps == 7 for s in seen)
    assert [s.loss_numeric for s in seen] == synth.history_.loss_numeric
    assert [s.loss_categorical for s in seen] == synth.history_.loss_categorical
    assert all(b.seconds >= a.seconds for a, b in zip(seen, seen[1:])) and seen[-1].encoder is synth.encoder_
    with pytest.raises(td.ParameterError, match="callback"):
        td.Synthesizer(**FAST).fit(mixed_table, callback="print")
