"""The wrapped-normal maths behind the coordinate diffusion."""

import torch

from models.diffusion.wrapped_normal import min_image, wrap, wrapped_normal_log_prob, wrapped_normal_score

torch.set_num_threads(1)


def test_score_matches_numerical_derivative_of_log_density():
    torch.manual_seed(0)
    for sigma in (0.02, 0.1, 0.4, 1.0, 3.0):
        x = torch.rand(64, dtype=torch.float64)
        mu = torch.rand(64, dtype=torch.float64)
        s = torch.full_like(x, sigma)
        h = 1e-6
        numeric = (wrapped_normal_log_prob(x + h, mu, s) - wrapped_normal_log_prob(x - h, mu, s)) / (2 * h)
        analytic = wrapped_normal_score(x, mu, s)
        assert torch.allclose(analytic, numeric, rtol=1e-5, atol=1e-5 / sigma), sigma


def test_density_integrates_to_one_and_is_periodic():
    x = torch.linspace(0, 1, 20001, dtype=torch.float64)
    for sigma in (0.05, 0.5, 2.0):
        p = wrapped_normal_log_prob(x, torch.tensor(0.3, dtype=torch.float64), torch.tensor(sigma)).exp()
        assert abs(float(torch.trapezoid(p, x)) - 1.0) < 1e-6
        shifted = wrapped_normal_log_prob(x + 1.0, torch.tensor(0.3, dtype=torch.float64), torch.tensor(sigma))
        assert torch.allclose(shifted.exp(), p, atol=1e-10)


def test_large_sigma_tends_to_uniform_and_zero_score():
    x = torch.rand(100, dtype=torch.float64)
    lp = wrapped_normal_log_prob(x, torch.zeros_like(x), torch.full_like(x, 3.0))
    assert torch.allclose(lp, torch.zeros_like(lp), atol=1e-10)
    assert wrapped_normal_score(x, torch.zeros_like(x), torch.full_like(x, 3.0)).abs().max() < 1e-8


def test_wrap_and_min_image():
    d = torch.tensor([-1.3, -0.5, 0.2, 0.7, 2.49])
    assert torch.all((wrap(d) >= 0) & (wrap(d) < 1))
    m = min_image(d)
    assert torch.all((m >= -0.5) & (m < 0.5))
    assert torch.allclose(wrap(m), wrap(d))
