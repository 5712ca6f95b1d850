"""The wrapped normal distribution on the unit torus [0, 1)^d.

Why a separate module: the fractional-coordinate corruption adds Gaussian noise and wraps it back into
the cell, so the conditional density of a noisy coordinate is a *wrapped* normal — a sum of Gaussians
over all periodic images. Its score is the denoising target, and the sum must be truncated carefully:
for the large sigmas used near t = 1 (the limit is almost uniform) a handful of images is not enough.
"""

from __future__ import annotations

import math

import torch


def wrap(x: torch.Tensor) -> torch.Tensor:
    """Map coordinates into [0, 1)."""
    return x - torch.floor(x)


def min_image(d: torch.Tensor) -> torch.Tensor:
    """Map a fractional difference to its minimum image in [-0.5, 0.5)."""
    return d - torch.floor(d + 0.5)


def num_images(sigma_max: float) -> int:
    """Number of periodic images on each side needed so the neglected terms are < exp(-20)."""
    return int(math.ceil(6.5 * max(float(sigma_max), 1e-3))) + 1


def wrapped_normal_log_prob(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Element-wise log density of the wrapped normal with period 1 (sigma broadcast to x)."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand_as(x)
    k = torch.arange(-num_images(sigma.max()), num_images(sigma.max()) + 1, dtype=x.dtype, device=x.device)
    d = min_image(x - mean).unsqueeze(-1) + k
    s = sigma.unsqueeze(-1)
    log_terms = -0.5 * (d / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_terms, dim=-1)


def wrapped_normal_score(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Element-wise d/dx log p(x) of the wrapped normal — the denoising score-matching target.

    Computed as a softmax-weighted average of the per-image Gaussian scores, which stays finite for
    both tiny sigma (one image dominates) and large sigma (many images, score -> 0).
    """
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand_as(x)
    k = torch.arange(-num_images(sigma.max()), num_images(sigma.max()) + 1, dtype=x.dtype, device=x.device)
    d = min_image(x - mean).unsqueeze(-1) + k
    s = sigma.unsqueeze(-1)
    weights = torch.softmax(-0.5 * (d / s) ** 2, dim=-1)
    return (weights * (-d / s**2)).sum(-1)
