"""The noising processes against closed forms, and their stability with many categorical columns."""

from __future__ import annotations

import torch

from tabdiffusion.diffusion import gaussian, multinomial
from tabdiffusion.diffusion.mixed import MixedDiffusion
from tabdiffusion.diffusion.schedules import Schedule, cosine_alphas_cumprod
from tabdiffusion.nn.mlp import MLPDenoiser, reset_parameters

SIZES = [2, 5, 3]


def test_cosine_schedule_is_decreasing_and_ends_near_zero():
    acp = cosine_alphas_cumprod(100)
    assert (acp[1:] < acp[:-1]).all() and acp[0] > 0.99 and acp[-1] < 1e-3


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


def test_strided_multinomial_posterior_matches_two_single_steps():
    layout, schedule = multinomial.Layout([4]), Schedule.cosine(20)
    log_x0 = layout.log_onehot(torch.tensor([[2]]))
    # q(x_s | x_t, x0) for s = t - 2 must equal the sum over x_{t-1} of the two one-step posteriors.
    t, s = torch.tensor([10]), torch.tensor([8])
    x_t = torch.tensor([[1]])
    direct = multinomial.posterior(log_x0, layout.log_onehot(x_t), t, s, schedule, layout).exp()[0, 0]
    mid = multinomial.q_posterior(log_x0, layout.log_onehot(x_t), t, schedule, layout).exp()[0, 0]
    two = sum(mid[k] * multinomial.q_posterior(log_x0, layout.log_onehot(torch.tensor([[k]])), t - 1, schedule, layout).exp()[0, 0] for k in range(4))
    assert torch.allclose(direct, two, atol=1e-5)


def test_multinomial_marginals_and_posterior_are_distributions():
    layout, schedule = multinomial.Layout(SIZES), Schedule.cosine(30)
    codes = torch.tensor([[1, 4, 0], [0, 2, 2]])
    log_x0 = layout.log_onehot(codes)
    t = torch.tensor([29, 7])
    for log_p in (multinomial.q_pred(log_x0, t, schedule, layout),
                  multinomial.q_posterior(log_x0, layout.log_onehot(codes), t, schedule, layout)):
        sums = torch.where(layout.mask, log_p.exp(), 0).sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
        assert (log_p.exp()[:, ~layout.mask] == 0).all()
    # At the last step q(x_T | x0) is close to uniform; at t=0 the posterior concentrates on x0.
    last = multinomial.q_pred(log_x0, torch.tensor([29, 29]), schedule, layout).exp()
    assert torch.allclose(last[0, 1, :5], torch.full((5,), 0.2), atol=0.01)
    post0 = multinomial.q_posterior(log_x0, log_x0, torch.zeros(2, dtype=torch.long), schedule, layout)
    assert (post0.argmax(-1) == codes).all()


def test_multinomial_loss_vanishes_for_a_perfect_x0_prediction():
    layout, schedule = multinomial.Layout(SIZES), Schedule.cosine(30)
    codes = torch.tensor([[1, 4, 0], [0, 2, 2], [1, 1, 1]])
    log_x0 = layout.log_onehot(codes)
    t = torch.tensor([3, 15, 29])
    log_xt = layout.log_onehot(multinomial.sample_codes(multinomial.q_pred(log_x0, t, schedule, layout), torch.Generator().manual_seed(0)))
    perfect = multinomial.loss(log_x0 * 1e3, log_x0, log_xt, t, schedule, layout)
    wrong = multinomial.loss(torch.zeros_like(log_x0), log_x0, log_xt, t, schedule, layout)
    assert (perfect >= -1e-4).all() and (wrong > perfect).all()


def test_sample_codes_follows_the_probabilities():
    layout = multinomial.Layout([3])
    log_p = torch.log(torch.tensor([[[0.2, 0.5, 0.3]]])).expand(30000, 1, 3)
    codes = multinomial.sample_codes(log_p, torch.Generator().manual_seed(0))
    freq = torch.bincount(codes[:, 0], minlength=3) / 30000.0
    assert torch.allclose(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.01)


def test_sampler_posterior_in_probability_space_matches_the_log_space_one():
    # The sampler's fast path must be the training posterior, for soft x0 predictions, any stride and the last step.
    layout, schedule = multinomial.Layout(SIZES), Schedule.cosine(30)
    g = torch.Generator().manual_seed(0)
    logits = layout.pad_logits(torch.randn(4, layout.flat_width, generator=g) * 3)
    codes_t = torch.tensor([[1, 4, 0], [0, 2, 2], [1, 0, 1], [0, 3, 2]])
    t, s = torch.tensor([29, 10, 5, 0]), torch.tensor([20, 9, -1, -1])
    reference = multinomial.posterior(layout.normalize(logits), layout.log_onehot(codes_t), t, s, schedule, layout).exp()
    weights = multinomial.posterior_weights(torch.softmax(logits, -1), codes_t, t, s, schedule, layout)
    assert (weights[:, ~layout.mask] == 0).all()
    assert torch.allclose(weights / weights.sum(-1, keepdim=True), torch.where(layout.mask, reference, 0), atol=1e-5)


def test_sample_weights_follows_the_weights_and_never_draws_a_zero_one():
    weights = torch.tensor([[[0.0, 2.0, 0.0, 6.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]]]).expand(40000, 2, 5)
    codes = multinomial.sample_weights(weights, torch.Generator().manual_seed(0))
    freq = torch.bincount(codes[:, 0], minlength=5) / 40000.0
    assert torch.allclose(freq, torch.tensor([0.0, 0.25, 0.0, 0.75, 0.0]), atol=0.01)
    assert (codes[:, 1] == 0).all()


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
