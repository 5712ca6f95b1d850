"""A flat (not padded) batch of crystals: sites of all crystals concatenated, ``batch_idx`` maps sites to crystals.

Why flat: cells hold 2–20 sites, so padding to 20 wastes most of the compute on CPU; all-pairs messages
are built per crystal from ``num_atoms`` with plain index arithmetic (no torch-scatter).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

NUM_ELEMENTS = 100  # atomic numbers 1..100 -> class indices 0..99
MASK_INDEX = NUM_ELEMENTS  # the absorbing "unknown element" state of the atom-type diffusion


@dataclass
class CrystalBatch:
    """Fields of a batch of crystals.

    atom_types: (N,) long, element class (Z - 1) or ``MASK_INDEX``.
    frac_coords: (N, 3) fractional coordinates in [0, 1).
    lattice: (B, 3, 3) lattice vectors as rows, Å (symmetric canonical form inside the diffusion).
    num_atoms: (B,) long.
    descriptors: (N, D) standardized per-site descriptors (D may be 0).
    descriptor_mask: (N,) bool, whether the site has a real descriptor (loss mask).
    band_gap / formation_energy: (B,) float values; ``*_mask`` (B,) bool, whether the label is known.
    """

    atom_types: torch.Tensor
    frac_coords: torch.Tensor
    lattice: torch.Tensor
    num_atoms: torch.Tensor
    descriptors: torch.Tensor
    descriptor_mask: torch.Tensor
    band_gap: torch.Tensor
    band_gap_mask: torch.Tensor
    formation_energy: torch.Tensor
    formation_energy_mask: torch.Tensor

    @property
    def num_crystals(self) -> int:
        return int(self.num_atoms.shape[0])

    @property
    def batch_idx(self) -> torch.Tensor:
        return torch.repeat_interleave(torch.arange(self.num_crystals, device=self.num_atoms.device), self.num_atoms)

    def to(self, device: str | torch.device) -> CrystalBatch:
        return CrystalBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def replace(self, **changes: torch.Tensor) -> CrystalBatch:
        return replace(self, **changes)


def all_pairs(num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (src, dst) of every ordered pair of distinct sites within the same crystal.

    Every site in a cell of <= 20 atoms talks to every other site; periodic images enter through the
    Fourier features of the fractional difference, not through explicit neighbour lists.
    """
    device = num_atoms.device
    n_per_site = torch.repeat_interleave(num_atoms, num_atoms)
    first = torch.repeat_interleave(torch.cumsum(num_atoms, 0) - num_atoms, num_atoms)
    total = int(n_per_site.sum())
    src = torch.repeat_interleave(torch.arange(n_per_site.shape[0], device=device), n_per_site)
    starts = torch.cumsum(n_per_site, 0) - n_per_site
    k = torch.arange(total, device=device) - torch.repeat_interleave(starts, n_per_site)
    dst = first[src] + k
    keep = src != dst
    return src[keep], dst[keep]


def collate(items: list[dict[str, torch.Tensor]], descriptor_dim: int) -> CrystalBatch:
    """Stack cached per-crystal tensors (see ``models.diffusion.dataset``) into one batch."""
    n = torch.tensor([int(it["atom_types"].shape[0]) for it in items], dtype=torch.long)
    n_total = int(n.sum())
    if descriptor_dim > 0:
        desc = torch.cat([it["descriptors"] for it in items], 0).float()
        mask = torch.cat([it["descriptor_mask"] for it in items], 0).bool()
    else:
        desc = torch.zeros(n_total, 0)
        mask = torch.zeros(n_total, dtype=torch.bool)
    return CrystalBatch(
        atom_types=torch.cat([it["atom_types"] for it in items], 0).long(),
        frac_coords=torch.cat([it["frac_coords"] for it in items], 0).float(),
        lattice=torch.stack([it["lattice"] for it in items], 0).float(),
        num_atoms=n,
        descriptors=desc,
        descriptor_mask=mask,
        band_gap=torch.tensor([float(it["band_gap"]) for it in items], dtype=torch.float32),
        band_gap_mask=torch.tensor([bool(it["band_gap_mask"]) for it in items]),
        formation_energy=torch.tensor([float(it["formation_energy"]) for it in items], dtype=torch.float32),
        formation_energy_mask=torch.tensor([bool(it["formation_energy_mask"]) for it in items]),
    )
