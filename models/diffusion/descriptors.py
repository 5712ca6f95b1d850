"""Per-site descriptors (Bader charge and/or atomic DOS): Gaussian VP diffusion on standardized values.

Standardization is *per element*: each channel has the mean and spread of that element's sites
subtracted and divided out. The atomic DOS (and to a lesser degree the charge) is close to a per-element
fingerprint, so globally standardized descriptors would tell the network which element a masked site
is, and elements would be chosen by the Gaussian descriptor diffusion instead of the type process. What
is left after per-element standardization is the site's *environment* (oxidation state, bonding), the
information the joint model is meant to carry. Sampling de-standardizes with the sampled element.

Crystals or sites without a descriptor still train the structure fields: their descriptor input is pure
noise with a "present" flag of 0 and their descriptor loss is masked out. Sampling always generates
every site's descriptor; ``destandardize`` maps it back to e and states/eV and makes every cell's
charges sum to zero.
"""

from __future__ import annotations

import numpy as np
import torch

from models.data.descriptor_spec import DOS_BINS, normalize_dos
from models.diffusion.batch import NUM_ELEMENTS
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


def channel_loss_weights(channels: str) -> torch.Tensor:
    """Weight of each channel in the descriptor loss, summing to 1.

    The charge is one number and the DOS 64, so a plain mean would give the charge 1/65 of the loss;
    instead the charge weighs as much as the whole DOS block.
    """
    has_charge, has_dos = CHANNEL_SETS[channels]
    blocks = [torch.ones(1)] * int(has_charge) + [torch.full((DOS_BINS,), 1.0 / DOS_BINS)] * int(has_dos)
    if not blocks:
        return torch.zeros(0)
    w = torch.cat(blocks)
    return w / w.sum()


def select_channels(charges: np.ndarray, dos: np.ndarray, channels: str) -> np.ndarray:
    """Build the (n, D) raw descriptor matrix for a channel set from charges (n,) and dos (n, K)."""
    has_charge, has_dos = CHANNEL_SETS[channels]
    parts = []
    if has_charge:
        parts.append(np.asarray(charges, dtype=np.float64).reshape(-1, 1))
    if has_dos:
        parts.append(np.asarray(dos, dtype=np.float64).reshape(-1, DOS_BINS))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(charges), 0))


def per_site_table(values: torch.Tensor, dim: int) -> torch.Tensor:
    """A (NUM_ELEMENTS, dim) table from a per-element table or one global row (older checkpoints)."""
    v = torch.as_tensor(values, dtype=torch.float32)
    if v.ndim == 1:
        v = v.reshape(1, dim).expand(NUM_ELEMENTS, dim)
    return v.reshape(NUM_ELEMENTS, dim).clone()


def neutralize(charges: np.ndarray, variance: np.ndarray, num_atoms: list[int]) -> np.ndarray:
    """Make each cell's charges sum to zero with the smallest change in standardized units.

    The excess charge of a cell is removed from its sites in proportion to each site's charge variance
    (its element's spread in the training set): the projection onto Σq = 0 that is closest to the
    generated charges in the metric the model generates them in, so a well-defined anion moves less
    than a site whose charge is uncertain.
    """
    out = np.array(charges, dtype=np.float64, copy=True)
    var = np.maximum(np.asarray(variance, dtype=np.float64), 1e-12)
    start = 0
    for n in num_atoms:
        sl = slice(start, start + n)
        start += n
        out[sl] -= var[sl] / var[sl].sum() * out[sl].sum()
    return out


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
        self.mean = per_site_table(mean, self.dim)  # (NUM_ELEMENTS, D)
        self.std = per_site_table(std, self.dim)
        self.schedule = VPSchedule(beta_min, beta_max)
        self.clip_z0 = clip_z0
        self.channel_weights = channel_loss_weights(channels)

    def standardize(self, raw: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean[atom_types]) / self.std[atom_types]

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
        per_channel = ((pred[present] - eps[present]) ** 2).mean(0)
        return (per_channel * self.channel_weights.to(per_channel)).sum()

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

    def destandardize(
        self, d: torch.Tensor, atom_types: torch.Tensor, num_atoms: list[int] | None = None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Map standardized samples of sites with elements ``atom_types`` to (charges in e, DOS in
        states/eV clipped >= 0 and renormalized). With ``num_atoms`` each cell's charges are made
        neutral (see ``neutralize``)."""
        types = torch.as_tensor(atom_types, dtype=torch.long)
        std = self.std[types]
        raw = (d * std + self.mean[types]).detach().cpu().numpy().astype(np.float64)
        has_charge, has_dos = CHANNEL_SETS[self.channels]
        charges = raw[:, 0] if has_charge else None
        if charges is not None and num_atoms is not None:
            charges = neutralize(charges, std[:, 0].numpy().astype(np.float64) ** 2, list(num_atoms))
        dos = normalize_dos(raw[:, int(has_charge):]) if has_dos else None
        return charges, dos
