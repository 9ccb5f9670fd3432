"""Differentially private fits: the accountant's epsilon, reproducibility, what is switched off, and the model file."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed_table
from typer.testing import CliRunner

import tabdiffusion as td
from tabdiffusion.cli import app
from tabdiffusion.dp import default_delta, split_budget, zcdp_rho
from tabdiffusion.errors import ParameterError
from tabdiffusion.schema import ColumnSpec, TableSchema
from tabdiffusion.transforms.dp_sketch import OTHER, sketch_budget, sketch_table

pytest.importorskip("opacus")

DP = dict(steps=12, batch_size=128, d_layers=(32, 32), num_timesteps=20, verbose=False, device="cpu", dp_epsilon=20.0)
PLANTED_LEVEL = "Zyxwvut-planted"
PLANTED_NUMBER = 987654321.5


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """2,000 rows of the mixed table, one row holding a unique level and an extreme value."""
    df = make_mixed_table(2000)
    df["city"] = df["city"].astype(object)
    df.loc[7, "city"], df.loc[7, "income"] = PLANTED_LEVEL, PLANTED_NUMBER
    return df


@pytest.fixture(scope="module")
def private(table) -> td.Synthesizer:
    return td.Synthesizer(seed=0, **DP).fit(table, target="label")


def test_the_spent_epsilon_is_opacus_accountants_plus_the_preprocessings_and_within_the_target(private, table):
    from opacus.accountants import RDPAccountant
    from opacus.accountants.utils import get_noise_multiplier

    spent = private.privacy_
    delta = default_delta(len(table))
    (epsilon_pre, delta_pre), (epsilon_sgd, delta_sgd) = split_budget(20.0, delta)
    assert spent.delta == pytest.approx(delta) and spent.epsilon_preprocessing == pytest.approx(epsilon_pre)
    assert spent.sample_rate == pytest.approx(128 / len(table)) and spent.steps == 12
    assert spent.noise_multiplier == pytest.approx(get_noise_multiplier(
        target_epsilon=epsilon_sgd, target_delta=delta_sgd, sample_rate=spent.sample_rate, steps=12, accountant="rdp"))
    accountant = RDPAccountant()
    accountant.history = [(spent.noise_multiplier, spent.sample_rate, 12)]
    assert spent.epsilon_training == pytest.approx(accountant.get_epsilon(delta_sgd))
    assert spent.epsilon == pytest.approx(epsilon_pre + spent.epsilon_training)
    assert 0.95 * 20.0 <= spent.epsilon <= 20.0  # the whole budget, never more
    assert spent.delta_preprocessing + spent.delta_training == pytest.approx(delta)


def test_a_seeded_private_fit_repeats_its_rows(table):
    first = td.Synthesizer(seed=3, **DP).fit(table, target="label").sample(300, seed=1)
    second = td.Synthesizer(seed=3, **DP).fit(table, target="label").sample(300, seed=1)
    pd.testing.assert_frame_equal(first, second)


def test_options_read_off_exact_rows_are_off_and_no_rare_value_reaches_the_file_or_the_rows(private, tmp_path):
    assert private.config_.min_proximity == 0 and private.history_.checks == []  # no memorisation stop
    assert private.encoder_.derived_ == [] and private.encoder_.computed_ == []
    assert private.support_ is None  # no pair table of the rows
    path = private.save(tmp_path / "dp.tdm")
    raw = path.read_bytes()
    assert PLANTED_LEVEL.encode() not in raw and b"987654321" not in raw
    rows = private.sample(3000, seed=0)
    assert PLANTED_LEVEL not in set(rows["city"].dropna()) and rows["income"].max() < 1e8
    assert not rows["customer_id"].isin(make_mixed_table(2000)["customer_id"]).any()


def test_the_model_file_holds_the_guarantee_and_no_losses(private, tmp_path):
    loaded = td.Synthesizer.load(private.save(tmp_path / "dp.tdm"))
    assert loaded.privacy_ == private.privacy_
    assert "differentially private" in repr(loaded) and "dp_epsilon=20.0" in repr(loaded)
    assert loaded.history_.steps == 12 and set(loaded.history_.loss) == {0.0}
    assert len(loaded.sample(50, seed=0)) == 50


def test_a_fit_without_dp_records_no_guarantee(fitted):
    synth, _ = fitted
    assert synth.privacy_ is None and "differentially" not in repr(synth)


@pytest.mark.parametrize(("keywords", "named"), [
    (dict(dp_epsilon=-1.0), "dp_epsilon"), (dict(dp_epsilon=0), "dp_epsilon"), (dict(dp_epsilon=1.0, dp_delta=1.5), "dp_delta"),
    (dict(dp_delta=1e-5), "dp_delta"), (dict(dp_epsilon=1.0, preset="flow"), "preset"),
])
def test_bad_privacy_arguments_are_named(keywords, named, table):
    with pytest.raises(ParameterError, match=named):
        td.Synthesizer(**{**{k: v for k, v in DP.items() if k != "dp_epsilon"}, **keywords}).fit(table.head(200))


def test_an_integer_target_needs_its_task_under_dp_and_then_keeps_its_classes(table):
    df = table.assign(label=(table["label"] == "yes").astype("int64"))
    with pytest.raises(ParameterError, match="task="):
        td.Synthesizer(seed=0, **DP).fit(df, target="label")
    synth = td.Synthesizer(seed=0, **DP).fit(df, target="label", task="classification")
    assert synth.encoder_.n_classes == 2 and set(synth.sample(200, seed=0)["label"]) == {0, 1}


def test_a_constant_column_type_is_refused_under_dp(table):
    with pytest.raises(ParameterError, match="source"):
        td.Synthesizer(**DP).fit(table, column_types={"source": "constant"})


def test_the_sketch_drops_levels_of_one_row_and_keeps_frequent_ones():
    n = 5000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"level": np.where(np.arange(n) == 0, "only-one", rng.choice(["a", "b"], n)),
                       "count": rng.integers(0, 6, n)})
    schema = TableSchema((ColumnSpec("level", "categorical", "object"), ColumnSpec("count", "integer", "int64")))
    budget = sketch_budget(schema, zcdp_rho(5.0, 1e-6), 1e-6)
    sketch = sketch_table(df, schema, None, None, budget, np.random.default_rng(1))
    levels = set(sketch["level"])
    assert {"a", "b"} <= levels and "only-one" not in levels
    assert all(v in ("a", "b") or v.startswith(OTHER) for v in levels)
    counts = sketch["count"].dropna()
    assert (counts == counts.round()).all() and set(counts) <= set(range(-1, 9))  # one bin per integer
    assert abs(counts.mean() - df["count"].mean()) < 0.3


def test_a_range_the_noise_hides_is_a_warning_naming_the_column():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"charges": rng.lognormal(9, 1, 300)})
    schema = TableSchema((ColumnSpec("charges", "numeric", "float64"),))
    with pytest.warns(UserWarning, match="'charges'"):  # noise sd in the hundreds of rows against 300 rows
        sketch_table(df, schema, None, None, sketch_budget(schema, zcdp_rho(0.05, 1e-6), 1e-6), rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a generous budget finds the range without a guess
        sketch_table(df, schema, None, None, sketch_budget(schema, zcdp_rho(50.0, 1e-6), 1e-6), rng)


def test_the_cli_fits_with_dp_and_says_what_it_spent(table, tmp_path):
    table.to_csv(tmp_path / "train.csv", index=False)
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "train.csv"), "--target", "label", "--out",
                                      str(tmp_path / "m.tdm"), "--steps", "5", "--dp-epsilon", "30", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Differential privacy: epsilon" in result.output
    assert td.Synthesizer.load(tmp_path / "m.tdm").privacy_.epsilon <= 30


def test_the_report_states_the_guarantee_of_a_private_generator(private, table):
    pytest.importorskip("matplotlib")
    rows = private.sample(400, seed=0)
    result = td.evaluate(table.iloc[:400], rows, holdout=table.iloc[400:800], metrics="privacy", verbose=False,
                         guarantee=private.privacy_)
    html = result.to_html()
    assert "Differential privacy:" in html and f"{private.privacy_.epsilon:.3g}" in html
    assert "Differential privacy:" not in td.evaluate(table.iloc[:400], rows, holdout=table.iloc[400:800],
                                                      metrics="privacy", verbose=False).to_html()


@pytest.mark.parametrize("conditioning", [0.0, 0.75])
def test_dp_sgd_sums_each_rows_gradient_clipped_to_the_norm(conditioning):
    """The ghost-clipping step leaves sum_i clip(grad l_i, C) in the grads, where l_i is row i's loss alone."""
    import torch
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizerFastGradientClipping

    from tabdiffusion.diffusion.mixed import MixedDiffusion
    from tabdiffusion.nn.mlp import MLPDenoiser, reset_parameters
    from tabdiffusion.training import _clipped_backward, table_loss

    diffusion = MixedDiffusion(2, [3], 20, conditioning=conditioning, n_classes=2)
    model = MLPDenoiser(diffusion.input_width, [16], 2, 8, n_numeric=2, fourier_features=2, film=True,
                        known_width=diffusion.known_width)
    reset_parameters(model, torch.Generator().manual_seed(0))
    model.per_row_embedding = True
    data = torch.Generator().manual_seed(1)
    batch = (torch.randn(6, 2, generator=data), torch.randint(0, 3, (6, 1), generator=data), torch.tensor([0, 1] * 3))
    clip = 0.05
    params = list(model.parameters())
    rows_num, rows_cat = diffusion.loss(model, *batch, torch.Generator().manual_seed(2), per_row=True)
    rows = rows_num + rows_cat
    expected = [torch.zeros_like(p) for p in params]
    norms = []
    for i in range(len(rows)):
        grads = torch.autograd.grad(rows[i], params, retain_graph=True)
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        norms.append(float(norm))
        for total, g in zip(expected, grads):
            total += g * min(1.0, clip / max(float(norm), 1e-12))
    assert sum(n > clip for n in norms) >= 3  # rows are clipped: the check is not vacuous
    trained = GradSampleModuleFastGradientClipping(model, loss_reduction="mean", max_grad_norm=clip)
    optimizer = DPOptimizerFastGradientClipping(torch.optim.SGD(params, lr=0.1), noise_multiplier=0.0,
                                                max_grad_norm=clip, expected_batch_size=6)
    _clipped_backward(trained, optimizer, table_loss(diffusion, *batch), torch.arange(6), torch.Generator().manual_seed(2))
    for p, want in zip(params, expected):
        torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-6)
    trained._close()


def test_a_private_fit_defaults_to_the_dp_settings_unless_told_otherwise():
    from tabdiffusion.dp import DP_DEFAULTS

    config = td.Synthesizer(dp_epsilon=5.0)._settings().config
    assert (config.steps, config.d_layers, config.lr) == (DP_DEFAULTS["steps"], DP_DEFAULTS["d_layers"], DP_DEFAULTS["lr"])
    assert config.min_proximity == 0 and not config.derive_columns and not config.compute_columns
    assert td.Synthesizer(dp_epsilon=5.0, lr=1e-3, steps=50)._settings().config.lr == 1e-3
    assert td.Synthesizer()._settings().config.lr != DP_DEFAULTS["lr"]  # the plain default is untouched


def test_a_class_too_rare_to_survive_the_noise_is_a_clear_error(table):
    rare = table.assign(label=np.where(np.arange(len(table)) < 30, "yes", "no"))
    with pytest.raises(ParameterError, match="1 class frequent enough.*categories=.*raise dp_epsilon"):
        td.Synthesizer(seed=0, **{**DP, "dp_epsilon": 0.5}).fit(rare, target="label")


def test_a_rare_class_declared_public_survives_the_noise(table):
    """The same 30 'yes' rows, their classes declared: released without the threshold, both classes are learned
    and generated, at about their share."""
    rare = table.assign(label=np.where(np.arange(len(table)) < 30, "yes", "no"))
    synth = td.Synthesizer(seed=0, **{**DP, "dp_epsilon": 0.5}).fit(rare, target="label", categories={"label": ["no", "yes"]})
    rows = synth.sample(2000, seed=1)
    assert synth.encoder_.n_classes == 2 and set(rows["label"]) == {"no", "yes"}
    assert 0 < (rows["label"] == "yes").mean() < 0.3  # 30 of the 2,000 real rows


def test_declared_levels_are_released_and_values_outside_them_pooled():
    n = 5000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"code": rng.choice(["a", "b", "c"], n, p=[0.5, 0.45, 0.05]), "flag": rng.integers(0, 2, n)})
    schema = TableSchema((ColumnSpec("code", "categorical", "object"), ColumnSpec("flag", "integer", "int64")))
    budget = sketch_budget(schema, zcdp_rho(5.0, 1e-6), 1e-6)
    sketch = sketch_table(df, schema, "flag", "classification", budget, np.random.default_rng(1),
                          {"code": ["a", "b", "z"], "flag": [0, 1]})
    levels = set(sketch["code"])
    assert {"a", "b"} <= levels and "c" not in levels  # c is not declared: its rows pooled
    assert sum(v.startswith(OTHER) for v in sketch["code"]) == pytest.approx(0.05 * n, rel=0.3)
    assert (sketch["code"] == "z").mean() < 0.01  # declared, held by no row: noise only
    assert set(sketch["flag"]) == {0, 1}


@pytest.mark.parametrize(("categories", "keywords", "named"), [
    ({"label": ["no", "yes"]}, {"dp_epsilon": None}, "categories= declares public levels.*Pass dp_epsilon"),
    ({"nope": ["a"]}, {}, "categories names 'nope'"),
    ({"age": [1, 2]}, {}, r"categories\['age'\]: the column is"),
    ({"label": "yes"}, {}, r"categories\['label'\] must list"),
    ({"label": ["yes"]}, {}, "a target needs at least two classes"),
])
def test_bad_declared_levels_are_named(categories, keywords, named, table):
    with pytest.raises(ParameterError, match=named):
        td.Synthesizer(**{**DP, **keywords}).fit(table, target="label", categories=categories)


def test_the_cli_declares_an_integer_targets_classes(table, tmp_path):
    rare = table.assign(label=np.where(np.arange(len(table)) < 30, 1, 0))
    rare.to_csv(tmp_path / "train.csv", index=False)
    command = ["fit", str(tmp_path / "train.csv"), "--target", "label", "--out", str(tmp_path / "m.tdm"), "--steps",
               "5", "--dp-epsilon", "0.5", "--quiet", "--seed", "0"]
    refused = CliRunner().invoke(app, command)
    assert refused.exit_code != 0 and "--categories" in refused.output
    malformed = CliRunner().invoke(app, [*command, "--categories", "label"])
    assert malformed.exit_code == 2 and "COLUMN=A,B" in malformed.output
    result = CliRunner().invoke(app, [*command, "--categories", "label=0,1"])
    assert result.exit_code == 0, result.output
    assert set(td.Synthesizer.load(tmp_path / "m.tdm").sample(2000, seed=0)["label"]) == {0, 1}
