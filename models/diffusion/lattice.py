"""Lattice: symmetric variance-preserving diffusion toward a cubic cell whose volume follows the atom count.

Rotation invariance comes from the representation: every lattice L (rows = lattice vectors) is replaced by
its symmetric polar factor P = sqrt(L L^T), which depends only on the metric L L^T and describes the same
crystal up to a rotation of the Cartesian frame. P is divided by the length scale s_n = (n v)^(1/3)
(n atoms, v = mean volume per atom of the training set), so l = P / s_n is dimensionless and ~identity.

Forward process on y = l - I (MatterGen's lattice VP-SDE, here in normalized units):
  l_t = alpha(t) l_0 + (1 - alpha(t)) I + sqrt(1 - alpha^2) sigma_L eps_sym
with symmetric noise of unit variance on all six independent entries. The limit is I + sigma_L eps_sym:
a cube of volume n v with isotropic symmetric jitter whose size in Å grows like n^(1/3). The network
predicts eps_sym.
"""

from __future__ import annotations

import torch

from models.diffusion.schedules import VPSchedule


def symmetric_noise(shape_batch: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """(B, 3, 3) symmetric matrices with i.i.d. N(0, 1) diagonal and off-diagonal entries."""
    e = torch.randn((shape_batch, 3, 3), generator=generator, dtype=dtype)
    eye = torch.eye(3, dtype=dtype)
    return eye * e + (1.0 - eye) * (e + e.transpose(1, 2)) / 2**0.5


def canonical_lattice(lattice: torch.Tensor) -> torch.Tensor:
    """Symmetric polar factor sqrt(L L^T) of each lattice (B, 3, 3): rotation-free, same metric."""
    gram = lattice @ lattice.transpose(-1, -2)
    w, v = torch.linalg.eigh(gram.double())
    p = v @ torch.diag_embed(torch.sqrt(torch.clamp(w, min=0.0))) @ v.transpose(-1, -2)
    return p.to(lattice.dtype)


class SymmetricLatticeDiffusion:
    def __init__(
        self,
        volume_per_atom: float,
        sigma_limit: float = 0.2,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        clip_z0: float | None = 10.0,
    ) -> None:
        self.volume_per_atom = float(volume_per_atom)
        self.sigma_limit = float(sigma_limit)
        self.schedule = VPSchedule(beta_min, beta_max)
        self.clip_z0 = clip_z0

    def length_scale(self, num_atoms: torch.Tensor) -> torch.Tensor:
        """s_n = (n v)^(1/3) in Å, shape (B,)."""
        return (num_atoms.to(torch.float32) * self.volume_per_atom) ** (1.0 / 3.0)

    def normalize(self, lattice: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        return canonical_lattice(lattice) / self.length_scale(num_atoms)[:, None, None]

    def denormalize(self, lat_norm: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        return lat_norm * self.length_scale(num_atoms)[:, None, None].to(lat_norm.dtype)

    def corrupt(
        self,
        lattice: torch.Tensor,
        num_atoms: torch.Tensor,
        t: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (noisy lattice in Å, symmetric canonical form; eps target (B, 3, 3))."""
        eye = torch.eye(3, dtype=lattice.dtype)
        y0 = (self.normalize(lattice, num_atoms) - eye) / self.sigma_limit
        eps = symmetric_noise(lattice.shape[0], generator, lattice.dtype)
        a = self.schedule.alpha(t)[:, None, None]
        y_t = a * y0 + torch.sqrt(1.0 - a**2) * eps
        return self.denormalize(eye + self.sigma_limit * y_t, num_atoms), eps

    def prior(self, num_atoms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        eye = torch.eye(3)
        return self.denormalize(eye + self.sigma_limit * symmetric_noise(num_atoms.shape[0], generator), num_atoms)

    def loss(self, pred: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        # mean over the six independent entries (off-diagonals appear twice, weight them 1/2)
        w = torch.tensor([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]], dtype=pred.dtype)
        return (((pred - eps) ** 2) * w).sum((-1, -2)).mean() / 6.0

    def reverse_step(
        self,
        lattice_t: torch.Tensor,
        eps_hat: torch.Tensor,
        num_atoms: torch.Tensor,
        t: torch.Tensor,
        s: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        eye = torch.eye(3, dtype=lattice_t.dtype)
        y_t = (lattice_t / self.length_scale(num_atoms)[:, None, None] - eye) / self.sigma_limit
        noise = symmetric_noise(lattice_t.shape[0], generator, lattice_t.dtype)
        y_s = self.schedule.posterior_step(y_t, eps_hat, t[:, None, None], s[:, None, None], noise, self.clip_z0)
        return self.denormalize(eye + self.sigma_limit * y_s, num_atoms)

