"""Per-site descriptors (Bader charge and/or atomic DOS): Gaussian VP diffusion on standardized values.

Each channel is standardized with the training-set mean/std of the sites that *have* a descriptor, then
diffused with the VP schedule toward N(0, I). Crystals or sites without a descriptor (most of the corpus
until the predictor fills them in) still train the structure fields: their descriptor input is pure
noise at t = 1 with a "present" flag of 0 and their descriptor loss is masked out. Sampling always
generates every site's descriptor; ``destandardize`` maps it back to e and states/eV.
"""

from __future__ import annotations

import numpy as np
import torch

from models.data.descriptor_spec import DOS_BINS, normalize_dos
from models.diffusion.schedules import VPSchedule

CHANNEL_SETS: dict[str, tuple[bool, bool]] = {
    # name -> (has charge channel, has DOS channels)
    "none": (False, False),
    "charge": (True, False),
    "dos": (False, True),
    "charge_dos": (True, True),
}


def descriptor_dim(channels: str) -> int:
    has_charge, has_dos = CHANNEL_SETS[channels]
    return int(has_charge) + DOS_BINS * int(has_dos)


def select_channels(charges: np.ndarray, dos: np.ndarray, channels: str) -> np.ndarray:
    """Build the (n, D) raw descriptor matrix for a channel set from charges (n,) and dos (n, K)."""
    has_charge, has_dos = CHANNEL_SETS[channels]
    parts = []
    if has_charge:
        parts.append(np.asarray(charges, dtype=np.float64).reshape(-1, 1))
    if has_dos:
        parts.append(np.asarray(dos, dtype=np.float64).reshape(-1, DOS_BINS))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(charges), 0))


class DescriptorDiffusion:
    def __init__(
        self,
        channels: str,
        mean: torch.Tensor,
        std: torch.Tensor,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        clip_z0: float | None = 6.0,
    ) -> None:
        self.channels = channels
        self.dim = descriptor_dim(channels)
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(self.dim)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(self.dim)
        self.schedule = VPSchedule(beta_min, beta_max)
        self.clip_z0 = clip_z0

    def standardize(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean) / self.std

    def corrupt(
        self,
        d0: torch.Tensor,
        present: torch.Tensor,
        t_site: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (noisy standardized descriptors, eps target); absent sites get pure noise."""
        eps = torch.randn(d0.shape, generator=generator, dtype=d0.dtype)
        a = self.schedule.alpha(t_site)[:, None]
        d_t = a * d0 + torch.sqrt(1.0 - a**2) * eps
        d_t = torch.where(present[:, None], d_t, eps)
        return d_t, eps

    def prior(self, num_sites: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((num_sites, self.dim), generator=generator)

    def loss(self, pred: torch.Tensor, eps: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        if self.dim == 0 or not bool(present.any()):
            return pred.sum() * 0.0
        return ((pred[present] - eps[present]) ** 2).mean()

    def reverse_step(
        self,
        d_t: torch.Tensor,
        eps_hat: torch.Tensor,
        t_site: torch.Tensor,
        s_site: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        noise = torch.randn(d_t.shape, generator=generator, dtype=d_t.dtype)
        return self.schedule.posterior_step(d_t, eps_hat, t_site[:, None], s_site[:, None], noise, self.clip_z0)

    def destandardize(self, d: torch.Tensor) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Map standardized samples to (charges in e, DOS in states/eV clipped >= 0 and renormalized)."""
        raw = (d * self.std + self.mean).detach().cpu().numpy().astype(np.float64)
        has_charge, has_dos = CHANNEL_SETS[self.channels]
        charges = raw[:, 0] if has_charge else None
        dos = normalize_dos(raw[:, int(has_charge):]) if has_dos else None
        return charges, dos
