"""Input embeddings: periodic Fourier features, diffusion time, and property conditions with null tokens."""

from __future__ import annotations

import math

import torch
from torch import nn


def fourier_features(frac_diff: torch.Tensor, num_freqs: int) -> torch.Tensor:
    """sin/cos(2π k Δx) for k = 1..num_freqs per axis: periodic in Δx, so invariant to lattice translations
    and to which periodic image of a neighbour is meant. (E, 3) -> (E, 6 num_freqs)."""
    k = torch.arange(1, num_freqs + 1, dtype=frac_diff.dtype, device=frac_diff.device)
    angles = 2 * math.pi * frac_diff.unsqueeze(-1) * k
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of t in [0, 1] followed by an MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / half)
        args = 1000.0 * t.unsqueeze(-1) * freqs
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
        if emb.shape[-1] < self.dim:
            emb = torch.nn.functional.pad(emb, (0, self.dim - emb.shape[-1]))
        return self.mlp(emb)


class PropertyEmbedding(nn.Module):
    """Embed one scalar property (e.g. band gap) with Gaussian radial basis + MLP; a learned null token
    stands for "no condition" (label unknown, dropped in training, or unconditional sampling)."""

    def __init__(self, dim: int, low: float, high: float, num_basis: int = 32) -> None:
        super().__init__()
        self.register_buffer("centers", torch.linspace(low, high, num_basis), persistent=False)
        self.width = (high - low) / (num_basis - 1)
        self.mlp = nn.Sequential(nn.Linear(num_basis, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.null, std=0.02)

    def forward(self, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        v = torch.nan_to_num(values, nan=0.0).unsqueeze(-1)
        rbf = torch.exp(-0.5 * ((v - self.centers) / self.width) ** 2)
        emb = self.mlp(rbf)
        return torch.where(present.unsqueeze(-1), emb, self.null.expand_as(emb))
