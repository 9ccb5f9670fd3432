"""The noising processes against closed forms, and their stability with many categorical columns."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from tabdiffusion.diffusion import gaussian, multinomial
from tabdiffusion.diffusion.mixed import MixedDiffusion, stratified_timesteps
from tabdiffusion.diffusion.schedules import Schedule, cosine_alphas_cumprod
from tabdiffusion.nn.mlp import MLPDenoiser, reset_parameters

SIZES = [2, 5, 3]


def test_cosine_schedule_is_decreasing_and_ends_near_zero():
    acp = cosine_alphas_cumprod(100)
    assert (acp[1:] < acp[:-1]).all() and acp[0] > 0.99 and acp[-1] < 1e-3


def test_stratified_timesteps_are_uniform_and_a_batch_holds_one_per_stratum():
    g = torch.Generator().manual_seed(0)
    for batch, strata in [(16, 16), (23, 16), (10, 16), (7, 7)]:
        # every row's timestep is uniform on 0..99 (strata straddle integers here). Rows of a stratum share a draw, so
        # 20,000 batches give 20,000 x min(batch, strata) independent draws: each value's share within 5 standard errors
        draws = torch.stack([stratified_timesteps(batch, 100, strata, g) for _ in range(20_000)])
        shares = torch.bincount(draws.flatten(), minlength=100).double() / draws.numel()
        standard_error = (0.01 * 0.99 / (20_000 * min(batch, strata))) ** 0.5
        assert (shares - 0.01).abs().max() < 5 * standard_error, (batch, strata, shares.min(), shares.max())
        # with T a multiple of the strata, a batch holds exactly one value per stratum, each on about batch / strata rows
        used = min(batch, strata)
        for _ in range(20):
            t = stratified_timesteps(batch * 40 + 3, 10 * used, used, g)
            per_stratum = torch.bincount(t // 10, minlength=used)
            assert len(per_stratum) == used and len(t.unique()) == used
            assert per_stratum.max() - per_stratum.min() <= 1


def test_gaussian_q_sample_has_the_right_moments():
    schedule = Schedule.cosine(50)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 2.0)
    t = torch.full((20000,), 25)
    xt = gaussian.q_sample(x0, t, torch.randn(x0.shape, generator=g), schedule)
    acp = schedule.alphas_cumprod[25]
    assert abs(xt.mean() - 2 * acp.sqrt()) < 0.02 and abs(xt.var() - (1 - acp)) < 0.02


def test_gaussian_step_with_true_noise_recovers_x0_at_the_last_step():
    schedule = Schedule.cosine(10)
    x0, noise = torch.randn(8, 3), torch.randn(8, 3)
    t = torch.zeros(8, dtype=torch.long)
    xt = gaussian.q_sample(x0, t, noise, schedule)
    out = gaussian.p_sample(xt, t, noise, schedule, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x0, atol=1e-4)


def test_ddim_with_true_noise_jumps_exactly_along_the_forward_process():
    schedule = Schedule.cosine(100)
    x0, noise = torch.randn(8, 3), torch.randn(8, 3)
    t, s = torch.full((8,), 80), torch.full((8,), 30)
    xt = gaussian.q_sample(x0, t, noise, schedule)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(gaussian.ddim_step(xt, t, s, noise, schedule, 0.0, g), gaussian.q_sample(x0, s, noise, schedule), atol=1e-5)
    assert torch.allclose(gaussian.ddim_step(xt, t, torch.full((8,), -1), noise, schedule, 1.0, g), x0, atol=1e-4)


def _posterior(codes_0: torch.Tensor, codes_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, schedule, layout) -> torch.Tensor:
    return layout.normalized(multinomial.posterior_weights(layout.flat_onehot(codes_0), codes_t, t, s, schedule, layout))


def test_strided_multinomial_posterior_matches_two_single_steps():
    layout, schedule = multinomial.Layout([4]), Schedule.cosine(20)
    x0 = torch.tensor([[2]])
    # q(x_s | x_t, x0) for s = t - 2 must equal the sum over x_{t-1} of the two one-step posteriors.
    t, s, x_t = torch.tensor([10]), torch.tensor([8]), torch.tensor([[1]])
    direct = _posterior(x0, x_t, t, s, schedule, layout)[0]
    mid = _posterior(x0, x_t, t, t - 1, schedule, layout)[0]
    two = sum(mid[k] * _posterior(x0, torch.tensor([[k]]), t - 1, t - 2, schedule, layout)[0] for k in range(4))
    assert torch.allclose(direct, two, atol=1e-5)


def test_multinomial_marginals_and_posterior_are_distributions():
    layout, schedule = multinomial.Layout(SIZES), Schedule.cosine(30)
    codes = torch.tensor([[1, 4, 0], [0, 2, 2]])
    t = torch.tensor([29, 7])
    for p in (multinomial.q_probs(codes, t, schedule, layout), _posterior(codes, codes, t, t - 1, schedule, layout)):
        assert torch.allclose(layout.column_sums(p), torch.ones(2, 3), atol=1e-5) and (p > 0).all()
    # At the last step q(x_T | x0) is close to uniform; at t=0 the posterior concentrates on x0.
    last = multinomial.q_probs(codes, torch.tensor([29, 29]), schedule, layout)
    assert torch.allclose(last[0, 2:7], torch.full((5,), 0.2), atol=0.01)  # the second column's 5 levels
    zero = torch.zeros(2, dtype=torch.long)
    at_t0 = layout.pad_logits(_posterior(codes, codes, zero, zero - 1, schedule, layout))
    assert (at_t0.argmax(-1) == codes).all()


def _reference_loss(logits, codes_0, codes_t, t, schedule, sizes) -> torch.Tensor:
    """TabDDPM's multinomial loss from Bayes' rule with explicit transition matrices, in float64, one cell at a time."""
    acp, alphas, T = schedule.alphas_cumprod.double(), schedule.alphas.double(), schedule.num_timesteps
    rows = []
    for b in range(len(t)):
        tb, total = int(t[b]), 0.0
        for f, k in enumerate(sizes):
            step = alphas[tb] * torch.eye(k, dtype=torch.float64) + (1 - alphas[tb]) / k  # step[i, j] = q(x_t = j | x_{t-1} = i)
            x0_hat = torch.softmax(logits[b, f, :k].double(), -1)
            x0 = torch.nn.functional.one_hot(codes_0[b, f], k).double()
            prev = (lambda p: p) if tb == 0 else (lambda p: acp[tb - 1] * p + (1 - acp[tb - 1]) / k)
            model = prev(x0_hat) * step[:, codes_t[b, f]]
            model = model / model.sum()
            if tb == 0:
                term = -torch.log(model[codes_0[b, f]])
            else:
                true = prev(x0) * step[:, codes_t[b, f]]
                true = true / true.sum()
                term = (true * (true.log() - model.log())).sum()
            last = acp[-1] * x0 + (1 - acp[-1]) / k
            total = total + T * term + (last * (last * k).log()).sum()
        rows.append(total / len(sizes))
    return torch.stack(rows)


def test_multinomial_loss_matches_bayes_rule_and_vanishes_for_a_perfect_prediction():
    layout, schedule = multinomial.Layout(SIZES), Schedule.cosine(30)
    g = torch.Generator().manual_seed(0)
    codes = torch.tensor([[1, 4, 0], [0, 2, 2], [1, 1, 1], [0, 3, 2]])
    t = torch.tensor([0, 3, 15, 29])
    codes_t = multinomial.draw(multinomial.q_probs(codes, t, schedule, layout), layout, g)
    logits = torch.randn(4, layout.flat_width, generator=g) * 3
    got = multinomial.loss(logits, codes, codes_t, t, schedule, layout)
    expected = _reference_loss(layout.pad_logits(logits), codes, codes_t, t, schedule, SIZES)
    assert torch.allclose(got.double(), expected, rtol=1e-4, atol=1e-4)
    # A column whose logits all sit far below another column's (the softmax's shift falls back to each column's max).
    far = logits - 200 * (torch.arange(layout.flat_width) >= 2)
    assert torch.allclose(multinomial.loss(far, codes, codes_t, t, schedule, layout), got, rtol=1e-4, atol=1e-4)
    perfect = multinomial.loss(layout.flat_onehot(codes) * 40, codes, codes_t, t, schedule, layout)
    assert (perfect.abs() < 1e-3).all() and (got > perfect).all()


def test_draw_follows_the_weights_of_each_column_and_never_draws_a_zero_one():
    layout = multinomial.Layout([5, 1, 3])
    weights = torch.tensor([[0.0, 2.0, 0.0, 6.0, 0.0, 1.0, 0.0, 0.0, 1e-3]]).expand(40000, -1)
    codes = multinomial.draw(weights, layout, torch.Generator().manual_seed(0))
    freq = torch.bincount(codes[:, 0], minlength=5) / 40000.0
    assert torch.allclose(freq, torch.tensor([0.0, 0.25, 0.0, 0.75, 0.0]), atol=0.01)
    assert (codes[:, 1] == 0).all() and (codes[:, 2] == 2).all()  # a column's scale does not matter


def test_one_hundred_categorical_columns_give_finite_loss_and_gradients():
    sizes = [2 + (i * 7) % 60 for i in range(100)]
    diffusion = MixedDiffusion(5, sizes, 1000)
    g = torch.Generator().manual_seed(0)
    model = MLPDenoiser(diffusion.input_width, [64, 64])
    reset_parameters(model, g)
    x_num = torch.randn(256, 5, generator=g)
    x_cat = torch.stack([torch.randint(0, k, (256,), generator=g) for k in sizes], dim=1)
    loss_num, loss_cat = diffusion.loss(model, x_num, x_cat, None, g)
    (loss_num + loss_cat).backward()
    assert torch.isfinite(loss_num) and torch.isfinite(loss_cat)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    x_num_s, x_cat_s = MixedDiffusion(5, sizes, 50).sample(model, 16, None, g, steps=5, sampler="ddim")
    assert torch.isfinite(x_num_s).all() and ((x_cat_s >= 0) & (x_cat_s < torch.tensor(sizes))).all()


def test_sampling_is_deterministic_given_a_generator():
    diffusion = MixedDiffusion(2, [3, 4], 10)
    model = MLPDenoiser(diffusion.input_width, [16], n_classes=2)
    reset_parameters(model, torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 1, 0])
    a = diffusion.sample(model, 4, y, torch.Generator().manual_seed(3))
    b = diffusion.sample(model, 4, y, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_denoiser_computes_the_embedding_once_per_distinct_timestep_and_label():
    # Rows with the same (t, y) share their embedding and modulations: batching them must not change any output.
    model = MLPDenoiser(6, [16, 16], n_classes=3, d_t=8, n_numeric=2, fourier_features=3, film=True)
    reset_parameters(model, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    x, t, y = torch.randn(12, 6, generator=g), torch.randint(0, 4, (12,), generator=g), torch.randint(0, 3, (12,), generator=g)
    together = model(x, t, y)
    one_by_one = torch.cat([model(x[i : i + 1], t[i : i + 1], y[i : i + 1]) for i in range(12)])
    assert torch.allclose(together, one_by_one, atol=1e-6)
    assert MLPDenoiser(6, [16])(x[:0], t[:0]).shape == (0, 6)  # an empty batch is fine too


def test_grouped_inference_path_gives_the_training_path_outputs_in_the_callers_row_order():
    # Sampling batches (many rows per (t, y) pair, eval mode, no autograd) take the grouped FiLM path; its outputs
    # must be the gathered path's, row for row, whatever order the labels come in.
    from tabdiffusion.nn import mlp

    model = MLPDenoiser(6, [16, 16], n_classes=3, d_t=8, n_numeric=2, fourier_features=3, film=True).eval()
    reset_parameters(model, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    rows = 3 * 2 * mlp.GROUPED_MIN_ROWS
    x, y = torch.randn(rows, 6, generator=g), torch.randint(0, 3, (rows,), generator=g)
    t = torch.where(torch.rand(rows, generator=g) < 0.5, 4, 9)  # two timesteps, three labels: six groups, shuffled
    gathered = model(x, t, y)  # autograd on: the training path
    with torch.no_grad():
        grouped = model(x, t, y)
        model.train()
        assert torch.allclose(model(x, t, y), gathered)  # dropout may be active in training mode: never grouped
    assert not torch.equal(torch.argsort(y, stable=True), torch.arange(rows))  # the labels are really interleaved
    assert torch.allclose(grouped, gathered, atol=1e-6)


def test_reflow_lets_one_euler_step_land_where_the_teacher_needs_many():
    # Bimodal numeric column (+-2) with a category that follows its sign. One Euler step of the flow itself lands on
    # the conditional mean, between the modes; after reflow one step lands near where 20 steps of the teacher do.
    from tabdiffusion.diffusion.flow import Couplings, RectifiedFlow
    from tabdiffusion.training import table_loss, train

    g = torch.Generator().manual_seed(0)
    sign = torch.randint(0, 2, (2000,), generator=g)
    x_num = (4.0 * sign - 2.0 + 0.1 * torch.randn(2000, generator=g))[:, None]
    x_cat = torch.stack([sign, torch.randint(0, 3, (2000,), generator=g)], dim=1)
    flow = RectifiedFlow(1, [2, 3])
    model = MLPDenoiser(flow.input_width, [64, 64], d_t=32)
    reset_parameters(model, g)
    fit = dict(time_budget=None, batch_size=256, weight_decay=0.0, ema_decay=0.99, generator=g, verbose=False)
    teacher, _ = train(model, table_loss(flow, x_num, x_cat, None), len(x_num), steps=400, lr=2e-3, **fit)
    z = torch.randn(4000, flow.input_width, generator=g)
    student, history = train(copy.deepcopy(teacher).requires_grad_(True), Couplings(flow, z, flow.euler(teacher, z, None, 20)),
                             4000, steps=400, lr=1e-3, **fit)
    fresh = torch.randn(2000, flow.input_width, generator=g)
    many_num, many_cat = flow.split(flow.euler(teacher, fresh, None, 20))
    assert (many_num.abs() > 1).float().mean() > 0.8  # the teacher learned the two modes
    assert (many_cat[:, 0] == (many_num[:, 0] > 0).long()).float().mean() > 0.9  # and the category that goes with each
    teacher_num, _ = flow.split(flow.euler(teacher, fresh, None, 1))
    student_num, student_cat = flow.split(flow.euler(student, fresh, None, 1))
    teacher_error, student_error = ((teacher_num - many_num) ** 2).mean(), ((student_num - many_num) ** 2).mean()
    assert student_error < 0.25 * teacher_error, (float(student_error), float(teacher_error))
    assert (student_cat[:, 0] == many_cat[:, 0]).float().mean() > 0.9
    assert history.steps == 400 and history.loss[-1] < history.loss[0]


def test_label_dropout_trains_a_null_label_and_guidance_sharpens_the_class():
    """Class 1's x sits at +2, class 0's at -2. Label dropout hides the label from some rows (the null label then
    gives the mixture); guided rows of class 1 sit at least as far out as unguided ones, and w = 0 is the plain model."""
    import tabdiffusion as td

    rng = np.random.default_rng(0)
    y = np.arange(600) % 2
    table = pd.DataFrame({"x": np.where(y == 1, 2.0, -2.0) + rng.normal(0, 0.7, 600), "label": y})
    synth = td.Synthesizer(seed=0, steps=800, min_proximity=0, d_layers=(64, 64), num_timesteps=50, verbose=False,
                           device="cpu", calibrate=False, label_dropout=0.2).fit(table, target="label")
    assert synth.model_.label_embedding.num_embeddings == 3
    plain = synth.sample(400, seed=1, conditions={"label": 1})
    synth.config_ = dataclasses.replace(synth.config_, guidance=2.0)
    guided = synth.sample(400, seed=1, conditions={"label": 1})
    assert (plain.x > 0).mean() > 0.85 and (guided.x > 0).mean() >= (plain.x > 0).mean()
    assert guided.x.mean() > plain.x.mean()
    with pytest.raises(td.ParameterError, match="guidance=1 needs a model trained with label_dropout"):
        td.Synthesizer(guidance=1).fit(table, target="label")


class OracleDenoiser(torch.nn.Module):
    """The Bayes-optimal denoiser for independent columns: numeric x0 ~ N(mean, sd^2), categorical x0 ~ probs.

    With x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mean) /
    (abar sd^2 + 1 - abar) and E[x0 | x_t] = mean + sqrt(abar) sd^2 (x_t - sqrt(abar) mean) / (abar sd^2 + 1 - abar),
    which give v = sqrt(abar) eps - sqrt(1 - abar) x0 for a v-predicting process; for the categories, see forward.
    A reverse chain fed these must give back the data's moments."""

    def __init__(self, diffusion: MixedDiffusion, mean: torch.Tensor, sd: torch.Tensor, probs: list[torch.Tensor]) -> None:
        super().__init__()
        self.diffusion, self.mean, self.sd, self.probs = diffusion, mean, sd, probs

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        d = len(self.mean)
        abar = self.diffusion.schedule.alphas_cumprod[t][:, None]
        residual = (x[:, :d] - abar.sqrt() * self.mean) / (abar * self.sd**2 + 1 - abar)
        eps = (1 - abar).sqrt() * residual
        if self.diffusion.prediction == "v":
            eps = abar.sqrt() * eps - (1 - abar).sqrt() * (self.mean + abar.sqrt() * self.sd**2 * residual)
        # TabDDPM's reverse step plugs the predicted x0 distribution into q(x_s | x_t, x0) (Hoogeboom et al. 2021),
        # which is linear in it: predicting the data's own level frequencies makes every step the exact reverse
        # kernel of independent columns, whatever x_t is.
        logits = [torch.log(p).expand(len(x), -1) for p in self.probs]
        return torch.cat([eps, *logits], dim=1)


@pytest.mark.parametrize(("sampler", "steps", "eta", "sd_tolerance", "prediction"),
                         [("ancestral", None, 1.0, 0.03, "epsilon"), ("ddim", 50, 1.0, 0.08, "epsilon"),
                          ("ddim", 20, 0.0, 0.08, "epsilon"), ("ancestral", None, 1.0, 0.03, "v"), ("ddim", 50, 1.0, 0.08, "v")])
def test_the_reverse_chains_with_the_optimal_denoiser_give_back_the_datas_moments(sampler, steps, eta, sd_tolerance,
                                                                                  prediction):
    """End to end: noise -> rows through every reverse step of both processes; a sampler off by one coefficient
    (a variance, a posterior weight, a timestep) shifts these moments well beyond the tolerances. Few DDIM steps
    narrow a Gaussian by a few percent even with the exact noise prediction (discretisation), hence its wider
    tolerance on the spread."""
    mean, sd = torch.tensor([0.5, -0.8]), torch.tensor([0.6, 1.2])
    probs = [torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.05, 0.15, 0.3, 0.5])]
    diffusion = MixedDiffusion(2, [3, 4], 100, prediction=prediction)
    oracle = OracleDenoiser(diffusion, mean, sd, probs)
    x_num, codes = diffusion.sample(oracle, 40_000, None, torch.Generator().manual_seed(0), steps=steps,
                                    sampler=sampler, eta=eta)
    torch.testing.assert_close(x_num.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(x_num.std(0), sd, atol=0, rtol=sd_tolerance)
    for j, p in enumerate(probs):
        frequencies = torch.bincount(codes[:, j], minlength=len(p)).float() / len(codes)
        torch.testing.assert_close(frequencies, p, atol=0.015, rtol=0)
