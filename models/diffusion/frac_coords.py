"""Fractional coordinates: variance-exploding wrapped-normal diffusion on the torus.

x_t = wrap(x_0 + sigma_n(t) eps) with sigma(t) = sigma_min^(1-t) sigma_max^t, divided by n^(1/3) for a
cell of n atoms (as MatterGen does) so that larger cells, whose atoms sit closer in fractional units, get
proportionally smaller fractional noise. With sigma_max = 5 the t = 1 marginal is, to numerical
precision, uniform on [0, 1)^3 for every n <= 20 — the prior.

The network predicts sigma * score (unit scale at all t); the target is sigma times the wrapped-normal
score of x_t given x_0. Sampling is predictor (reverse VE SDE, Euler–Maruyama) plus an optional
Langevin corrector with the signal-to-noise step-size rule of Song et al.
"""

from __future__ import annotations

import torch

from models.diffusion.wrapped_normal import wrap, wrapped_normal_score


class WrappedCoordDiffusion:
    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 5.0) -> None:
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)

    def sigma(self, t: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        base = self.sigma_min ** (1.0 - t) * self.sigma_max**t
        return base * n_atoms.to(t.dtype) ** (-1.0 / 3.0)

    def corrupt(
        self,
        x0: torch.Tensor,
        t_site: torch.Tensor,
        n_site: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (x_t, target = sigma * score of x_t given x_0), both (N, 3)."""
        sigma = self.sigma(t_site, n_site).unsqueeze(-1)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = wrap(x0 + sigma * eps)
        target = sigma * wrapped_normal_score(x_t, x0, sigma.expand_as(x_t))
        return x_t, target

    def prior(self, n_site: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample the t = 1 marginal (wrapped normal of width sigma_n(1), effectively uniform)."""
        sigma = self.sigma(torch.ones(n_site.shape[0]), n_site).unsqueeze(-1)
        eps = torch.randn((n_site.shape[0], 3), generator=generator)
        u = torch.rand((n_site.shape[0], 1), generator=generator)  # random centre: the limit has no origin
        return wrap(u + sigma * eps)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, batch_idx: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        """Squared error after removing each crystal's mean (the rigid-translation component).

        A translation-invariant network cannot see where the whole crystal sits, and the true score of
        a translation-invariant distribution has zero site-mean, so that component of the target is
        pure noise: dropping it leaves the optimum unchanged and removes an irreducible loss floor.
        """
        diff = pred - target
        mean = torch.zeros(num_atoms.shape[0], 3, dtype=diff.dtype).index_add_(0, batch_idx, diff)
        mean = mean / num_atoms.to(diff.dtype).unsqueeze(-1)
        return ((diff - mean[batch_idx]) ** 2).mean()

    def predictor_step(
        self,
        x: torch.Tensor,
        pred: torch.Tensor,
        t_site: torch.Tensor,
        s_site: torch.Tensor,
        n_site: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        sig_t = self.sigma(t_site, n_site).unsqueeze(-1)
        sig_s = self.sigma(s_site, n_site).unsqueeze(-1)
        var = torch.clamp(sig_t**2 - sig_s**2, min=0.0)
        score = pred / sig_t
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return wrap(x + var * score + torch.sqrt(var) * z)

    def corrector_step(
        self,
        x: torch.Tensor,
        pred: torch.Tensor,
        t_site: torch.Tensor,
        n_site: torch.Tensor,
        batch_idx: torch.Tensor,
        num_crystals: int,
        snr: float,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """One Langevin step; the step size targets ``snr`` per crystal and is capped at sigma^2."""
        sig_t = self.sigma(t_site, n_site).unsqueeze(-1)
        score = pred / sig_t
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        s2 = torch.zeros(num_crystals, dtype=x.dtype).index_add_(0, batch_idx, (score**2).sum(-1))
        z2 = torch.zeros(num_crystals, dtype=x.dtype).index_add_(0, batch_idx, (z**2).sum(-1))
        step = 2.0 * (snr**2) * z2 / torch.clamp(s2, min=1e-12)
        step = torch.minimum(step[batch_idx].unsqueeze(-1), sig_t**2)
        return wrap(x + step * score + torch.sqrt(2.0 * step) * z)

