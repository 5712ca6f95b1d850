"""CSPNet-style denoiser: messages over all site pairs of a cell, invariant by construction.

Why this architecture (DiffCSP's CSPNet): cells have <= 20 sites, so every site can exchange messages
with every other site of its cell (<= 380 pairs) — cheaper on a CPU than radius graphs with periodic
images, and no cutoff to tune. Symmetries hold by what the network is allowed to see:
- permutation: shared per-site and per-pair functions, sums over pairs;
- translation of fractional coordinates: only differences x_j - x_i enter, through sin/cos(2π k Δx),
  which are also periodic (image-independent);
- rotation of the Cartesian frame: the lattice enters only through its metric L Lᵀ (inner products of
  the lattice vectors), which rotations leave unchanged.
Outputs: element logits and coordinate score per site, a symmetric lattice noise estimate per crystal,
and a descriptor noise estimate per site.

Descriptor input (``descriptor_input``): with "revealed", a site's descriptor enters the shared trunk
only once its element is revealed; a still-masked site's own noisy descriptor reaches only its
descriptor head. The atomic DOS is close to an element fingerprint even after per-element
standardization, so a trunk that sees masked sites' descriptors learns to read elements off them, and
elements end up chosen by the Gaussian descriptor diffusion, site by site, instead of by the type
process. Revealed sites' descriptors (their environment: oxidation state, bonding) still inform every
other field. "all" feeds every descriptor to the trunk (how checkpoints without the key were trained).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.diffusion.batch import MASK_INDEX, NUM_ELEMENTS, all_pairs
from models.network.embeddings import PropertyEmbedding, TimeEmbedding, fourier_features

PROPERTY_RANGES: dict[str, tuple[float, float]] = {
    "band_gap": (0.0, 10.0),  # eV
    "formation_energy_per_atom": (-5.0, 1.0),  # eV/atom
}

_TRIU = torch.triu_indices(3, 3)


@dataclass
class DenoiserOutput:
    type_logits: torch.Tensor  # (N, NUM_ELEMENTS)
    coord_score: torch.Tensor  # (N, 3), sigma-scaled fractional score
    lattice_eps: torch.Tensor  # (B, 3, 3), symmetric
    descriptor_eps: torch.Tensor  # (N, D)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


def metric_features(lattice: torch.Tensor, num_atoms: torch.Tensor, length_scale: float) -> torch.Tensor:
    """Six independent entries of L Lᵀ in units of (length_scale · n^(1/3))², so ~identity for typical cells."""
    gram = lattice @ lattice.transpose(-1, -2)
    scale = (length_scale**2) * num_atoms.to(gram.dtype) ** (2.0 / 3.0)
    gram = gram / scale[:, None, None]
    return gram[:, _TRIU[0], _TRIU[1]]


class MessageLayer(nn.Module):
    def __init__(self, hidden: int, edge_in: int, edge_hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.src = nn.Linear(hidden, edge_hidden)
        self.dst = nn.Linear(hidden, edge_hidden, bias=False)
        self.edge = nn.Linear(edge_in, edge_hidden, bias=False)
        self.msg_out = nn.Linear(edge_hidden, hidden)
        self.update = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(
        self,
        h: torch.Tensor,
        g_site: torch.Tensor,
        edge_feat: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        inv_degree: torch.Tensor,
    ) -> torch.Tensor:
        hn = self.norm(h)
        # Message MLP  W2 silu(W1 [h_i, h_j, e_ij]) averaged over j. W1 is applied as per-site projections
        # gathered per pair, and W2 after the average (linear maps commute with the mean): the same
        # function at a fraction of the per-pair FLOPs, which dominate on CPU.
        pre = self.src(hn)[src] + self.dst(hn)[dst] + self.edge(edge_feat)
        summed = pre.new_zeros(h.shape[0], pre.shape[1]).index_add_(0, src, torch.nn.functional.silu(pre))
        agg = self.msg_out(summed * inv_degree)
        return h + self.update(torch.cat([hn, agg, g_site], dim=-1))


class CSPNetDenoiser(nn.Module):
    def __init__(
        self,
        hidden: int = 192,
        num_layers: int = 4,
        num_freqs: int = 10,
        edge_hidden: int | None = None,
        descriptor_dim: int = 0,
        length_scale: float = 2.7,
        properties: tuple[str, ...] = ("band_gap", "formation_energy_per_atom"),
        descriptor_input: str = "all",
        aggregation: str = "mean",
    ) -> None:
        super().__init__()
        if descriptor_input not in ("all", "revealed"):
            raise ValueError("descriptor_input must be 'all' or 'revealed'")
        self.descriptor_input = descriptor_input
        if aggregation not in ("mean", "sqrt"):
            raise ValueError("aggregation must be 'mean' or 'sqrt'")
        self.aggregation = aggregation
        self.hidden = hidden
        self.num_freqs = num_freqs
        self.descriptor_dim = descriptor_dim
        self.length_scale = float(length_scale)
        self.properties = tuple(properties)
        self.type_embed = nn.Embedding(NUM_ELEMENTS + 1, hidden)  # + MASK_INDEX
        self.desc_embed = nn.Linear(descriptor_dim + 1, hidden) if descriptor_dim > 0 else None
        self.time_embed = TimeEmbedding(hidden)
        self.prop_embed = nn.ModuleDict(
            {p: PropertyEmbedding(hidden, *PROPERTY_RANGES[p]) for p in self.properties}
        )
        self.site_in = nn.Linear(2 * hidden, hidden)
        edge_in = 6 + 6 * num_freqs
        edge_hidden = int(edge_hidden or hidden)
        self.layers = nn.ModuleList([MessageLayer(hidden, edge_in, edge_hidden) for _ in range(num_layers)])
        self.out_norm = nn.LayerNorm(hidden)
        self.type_head = nn.Linear(hidden, NUM_ELEMENTS)
        self.coord_head = nn.Linear(hidden, 3)
        if descriptor_dim == 0:
            self.desc_head = None
        elif descriptor_input == "revealed":  # the site's own noisy descriptor joins only here
            self.desc_head = _mlp(hidden + descriptor_dim, hidden, descriptor_dim)
        else:
            self.desc_head = nn.Linear(hidden, descriptor_dim)
        self.lattice_head = _mlp(2 * hidden + 6, hidden, 6)
        assert MASK_INDEX == NUM_ELEMENTS

    def forward(
        self,
        atom_types: torch.Tensor,
        frac_coords: torch.Tensor,
        lattice: torch.Tensor,
        num_atoms: torch.Tensor,
        descriptors: torch.Tensor,
        descriptor_present: torch.Tensor,
        t: torch.Tensor,
        conditions: dict[str, tuple[torch.Tensor, torch.Tensor]],
    ) -> DenoiserOutput:
        """``t``: (B,); ``conditions[p] = (values (B,), present (B,) bool)`` — missing keys mean null."""
        num_crystals = num_atoms.shape[0]
        batch_idx = torch.repeat_interleave(torch.arange(num_crystals, device=num_atoms.device), num_atoms)
        g = self.time_embed(t)
        for p, emb in self.prop_embed.items():
            if p in conditions:
                values, present = conditions[p]
            else:
                values = torch.zeros(num_crystals, device=t.device)
                present = torch.zeros(num_crystals, dtype=torch.bool, device=t.device)
            g = g + emb(values, present)
        g_site = g[batch_idx]

        h = self.type_embed(atom_types)
        if self.desc_embed is not None:
            visible = descriptor_present
            if self.descriptor_input == "revealed":
                visible = visible & (atom_types != MASK_INDEX)
            shown = descriptors * visible.unsqueeze(-1).to(descriptors.dtype)
            h = h + self.desc_embed(torch.cat([shown, visible.unsqueeze(-1).to(h.dtype)], -1))
        h = self.site_in(torch.cat([h, g_site], dim=-1))

        src, dst = all_pairs(num_atoms)
        metric = metric_features(lattice, num_atoms, self.length_scale)
        edge_feat = torch.cat(
            [metric[batch_idx[src]], fourier_features(frac_coords[dst] - frac_coords[src], self.num_freqs)], -1
        )
        degree = torch.zeros(h.shape[0], dtype=h.dtype, device=h.device).index_add_(
            0, src, torch.ones_like(src, dtype=h.dtype)
        )
        norm = torch.clamp(degree, min=1.0)
        inv_degree = (1.0 / (norm.sqrt() if self.aggregation == "sqrt" else norm)).unsqueeze(-1)
        for layer in self.layers:
            h = layer(h, g_site, edge_feat, src, dst, inv_degree)

        h = self.out_norm(h)
        pooled = torch.zeros(num_crystals, self.hidden, dtype=h.dtype, device=h.device).index_add_(0, batch_idx, h)
        pooled = pooled / num_atoms.to(h.dtype).unsqueeze(-1)
        six = self.lattice_head(torch.cat([pooled, g, metric], dim=-1))
        lat = torch.zeros(num_crystals, 3, 3, dtype=h.dtype, device=h.device)
        lat[:, _TRIU[0], _TRIU[1]] = six
        lat = lat + lat.transpose(1, 2) - torch.diag_embed(torch.diagonal(lat, dim1=1, dim2=2))
        if self.desc_head is None:
            desc = h.new_zeros(h.shape[0], 0)
        elif self.descriptor_input == "revealed":
            desc = self.desc_head(torch.cat([h, descriptors], -1))
        else:
            desc = self.desc_head(h)
        return DenoiserOutput(self.type_head(h), self.coord_head(h), lat, desc)
