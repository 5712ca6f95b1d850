"""Variance-preserving (VP) noise schedule shared by the lattice and descriptor corruptions.

Both fields are Gaussian diffusions in a unit-variance space: ``z_t = alpha(t) z_0 + sigma(t) eps``
with ``sigma = sqrt(1 - alpha^2)`` and the linear-beta VP SDE of Song et al. The reverse step is the
exact Gaussian posterior q(z_s | z_t, z_0) evaluated at the network's estimate of z_0 (ancestral
sampling), which stays stable with a few hundred steps where Euler–Maruyama would not.
"""

from __future__ import annotations

import torch


class VPSchedule:
    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0) -> None:
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Mean coefficient exp(-1/2 ∫_0^t beta)."""
        return torch.exp(-0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp(1.0 - self.alpha(t) ** 2, min=1e-12))

    def posterior_step(
        self,
        z_t: torch.Tensor,
        eps_hat: torch.Tensor,
        t: torch.Tensor,
        s: torch.Tensor,
        noise: torch.Tensor,
        clip_z0: float | None = None,
    ) -> torch.Tensor:
        """Sample z_s ~ q(z_s | z_t, z0_hat) for s < t given standard ``noise`` of z_t's shape.

        ``t``/``s`` broadcast against ``z_t``; the caller draws ``noise`` (so the lattice can use
        symmetric noise).
        """
        a_t, a_s = self.alpha(t), self.alpha(s)
        v_t, v_s = 1.0 - a_t**2, 1.0 - a_s**2
        z0 = (z_t - torch.sqrt(v_t) * eps_hat) / a_t
        if clip_z0 is not None:
            z0 = torch.clamp(z0, -clip_z0, clip_z0)
        a_ts = a_t / a_s
        v_ts = torch.clamp(v_t - a_ts**2 * v_s, min=0.0)
        mean = (a_ts * v_s / v_t) * z_t + (a_s * v_ts / v_t) * z0
        var = v_ts * v_s / v_t
        return mean + torch.sqrt(torch.clamp(var, min=0.0)) * noise
