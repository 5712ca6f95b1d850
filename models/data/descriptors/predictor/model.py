"""The descriptor predictor network: a small continuous-filter message-passing net (SchNet-like).

Design, and why:
- **Residual over the per-element baseline.** Each element's mean DFT charge and mean DOS over the
  training crystals are stored in the model as buffers; the net predicts a correction (charge offset,
  DOS log-ratio) whose output layers start at zero. With a handful of labelled crystals the model
  therefore starts exactly at the trivial baseline and only moves away from it where the training
  data (and early stopping on the validation split) support it; with more data the correction carries
  the environment dependence (oxidation state, coordination, metal vs insulator).
- **Invariance.** Messages depend only on element features and interatomic distances (Gaussian
  expansion, smooth cosine envelope to the cutoff), summed over neighbours: invariant to rotation,
  translation and choice of cell, equivariant to site permutation.
- **Crystal context.** The output heads also read the mean site state of the crystal (still invariant),
  because the DOS energy zero (VBM or Fermi level) and metallicity are whole-crystal properties.
- **Charge neutrality by construction.** Raw per-site charges minus their per-crystal mean, so each
  crystal's charges sum to exactly 0 (the corpus cells are neutral).
- **DOS on the descriptor_spec convention by construction.** 64 logits → softmax over bins → divided
  by the trapezoidal area on ``DOS_ENERGIES``, so every site's DOS is non-negative and integrates to
  ``DOS_NORM`` exactly as ``descriptor_spec.normalize_dos`` defines it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, DOS_NORM
from models.data.descriptors.predictor.features import (
    CUTOFF,
    MAX_Z,
    N_ELEMENT_FEATURES,
    CrystalGraph,
    element_feature_table,
)


@dataclass
class ModelConfig:
    hidden: int = 64
    layers: int = 3
    n_rbf: int = 32
    cutoff: float = CUTOFF
    neighbour_norm: float = 20.0  # typical envelope-weighted neighbour count within the cutoff
    use_oxidation: bool = True  # formal oxidation state as a site input and a linear charge term

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GraphBatch:
    """Several crystals as one disconnected graph (tensors)."""

    z: torch.Tensor  # (N,)
    crystal: torch.Tensor  # (N,) crystal index of each site
    src: torch.Tensor  # (E,)
    dst: torch.Tensor  # (E,)
    dist: torch.Tensor  # (E,)
    edge_cutoff: torch.Tensor  # (E,)
    oxi: torch.Tensor  # (N,) formal oxidation state guess per site
    n_crystals: int
    n_sites: list[int]


def collate(graphs: list[CrystalGraph]) -> GraphBatch:
    offsets = np.cumsum([0] + [g.n_sites for g in graphs])
    z = np.concatenate([g.z for g in graphs])
    crystal = np.concatenate([np.full(g.n_sites, i) for i, g in enumerate(graphs)])
    src = np.concatenate([g.src + o for g, o in zip(graphs, offsets, strict=False)])
    dst = np.concatenate([g.dst + o for g, o in zip(graphs, offsets, strict=False)])
    dist = np.concatenate([g.dist for g in graphs])
    cut = np.concatenate([np.full(g.dist.shape[0], g.cutoff, dtype=np.float32) for g in graphs])
    return GraphBatch(
        z=torch.from_numpy(z).long(),
        crystal=torch.from_numpy(crystal).long(),
        src=torch.from_numpy(src).long(),
        dst=torch.from_numpy(dst).long(),
        dist=torch.from_numpy(dist).float(),
        edge_cutoff=torch.from_numpy(cut).float(),
        oxi=torch.from_numpy(np.concatenate([g.oxidation for g in graphs])).float(),
        n_crystals=len(graphs),
        n_sites=[g.n_sites for g in graphs],
    )


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))


class Interaction(nn.Module):
    """One message-passing step: distance-dependent filter × neighbour state, summed, residual update."""

    def __init__(self, hidden: int, n_rbf: int) -> None:
        super().__init__()
        self.filter = _mlp(n_rbf, hidden, hidden)
        self.neighbour = nn.Linear(hidden, hidden)
        self.update = _mlp(2 * hidden, hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(
        self, h: torch.Tensor, rbf: torch.Tensor, env: torch.Tensor, b: GraphBatch, scale: float
    ) -> torch.Tensor:
        msg = self.filter(rbf) * self.neighbour(h)[b.src] * env[:, None]
        agg = torch.zeros_like(h).index_add_(0, b.dst, msg) / scale
        return h + self.update(torch.cat([self.norm(h), agg], dim=-1))


class DescriptorNet(nn.Module):
    """structure graph → (charges (N,), dos (N, DOS_BINS)) with neutrality and DOS norm built in."""

    def __init__(
        self,
        config: ModelConfig,
        base_charge: np.ndarray | None = None,
        base_dos: np.ndarray | None = None,
        base_oxi: np.ndarray | None = None,
        oxi_slope: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("element_table", torch.from_numpy(element_feature_table()))
        bc = np.zeros(MAX_Z + 1, dtype=np.float32) if base_charge is None else base_charge.astype(np.float32)
        bd = (
            np.full((MAX_Z + 1, DOS_BINS), 1.0 / DOS_BINS, dtype=np.float32) if base_dos is None else base_dos
        )
        self.register_buffer("base_charge", torch.from_numpy(np.asarray(bc, dtype=np.float32)))
        self.register_buffer(
            "base_log_dos", torch.from_numpy(np.log(np.clip(bd, 1e-6, None)).astype(np.float32))
        )
        bo = np.zeros(MAX_Z + 1, dtype=np.float32) if base_oxi is None else base_oxi.astype(np.float32)
        # charge ≈ element mean + slope × (oxidation state − the element's mean oxidation state): the
        # slope is fitted on the training sites (least squares) and then trained with the rest
        self.register_buffer("base_oxi", torch.from_numpy(np.asarray(bo, dtype=np.float32)))
        self.oxi_slope = nn.Parameter(
            torch.tensor(float(oxi_slope) if c.use_oxidation else 0.0), requires_grad=c.use_oxidation
        )
        self.register_buffer("rbf_centres", torch.linspace(0.0, c.cutoff, c.n_rbf))
        self.register_buffer("energies", torch.from_numpy(DOS_ENERGIES.astype(np.float32)))
        self.rbf_width = c.cutoff / c.n_rbf
        self.embed_features = nn.Linear(N_ELEMENT_FEATURES + int(c.use_oxidation), c.hidden)
        self.embed_element = nn.Embedding(MAX_Z + 1, c.hidden)
        nn.init.zeros_(self.embed_element.weight)
        self.interactions = nn.ModuleList(Interaction(c.hidden, c.n_rbf) for _ in range(c.layers))
        # Heads see the site state and the crystal's mean state: the DOS energy zero is a whole-crystal
        # property (VBM of a gapped crystal, Fermi level of a metal) that a local environment misses.
        self.charge_head = _mlp(2 * c.hidden, c.hidden, 1)
        self.dos_head = _mlp(2 * c.hidden, c.hidden, DOS_BINS)
        for head in (self.charge_head, self.dos_head):  # start exactly at the per-element baseline
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)

    def site_states(self, b: GraphBatch) -> torch.Tensor:
        x = self.element_table[b.z]
        if self.config.use_oxidation:
            x = torch.cat([x, 0.25 * b.oxi[:, None]], dim=-1)  # oxidation states span about ±4
        h = self.embed_features(x) + self.embed_element(b.z)
        d = b.dist
        # Gaussians spread over [0, cutoff]; beyond the (per-crystal) cutoff the envelope is 0.
        rbf = torch.exp(-0.5 * ((d[:, None] - self.rbf_centres[None, :]) / self.rbf_width) ** 2)
        env = 0.5 * (torch.cos(torch.pi * torch.clamp(d / b.edge_cutoff, max=1.0)) + 1.0)
        for layer in self.interactions:
            h = layer(h, rbf, env, b, self.config.neighbour_norm)
        return h

    def forward(self, b: GraphBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(charges (N,), dos (N, K), log-probabilities over bins (N, K)) — the last for the loss."""
        h = self.site_states(b)
        counts = torch.bincount(b.crystal, minlength=b.n_crystals).to(h.dtype)
        pooled = (
            torch.zeros(b.n_crystals, h.shape[-1], dtype=h.dtype).index_add_(0, b.crystal, h)
            / counts[:, None]
        )
        h = torch.cat([h, pooled[b.crystal]], dim=-1)
        raw = (
            self.base_charge[b.z]
            + self.oxi_slope * (b.oxi - self.base_oxi[b.z])
            + self.charge_head(h).squeeze(-1)
        )
        mean = torch.zeros(b.n_crystals, dtype=raw.dtype).index_add_(0, b.crystal, raw) / counts
        charges = raw - mean[b.crystal]
        logits = self.base_log_dos[b.z] + self.dos_head(h)
        logp = torch.log_softmax(logits, dim=-1)
        dos = dos_from_probabilities(logp.exp(), self.energies)
        return charges, dos, logp


def dos_from_probabilities(p: torch.Tensor, energies: torch.Tensor) -> torch.Tensor:
    """Scale bin weights (rows sum to 1) so each row's trapezoidal integral is ``DOS_NORM``."""
    step = energies[1] - energies[0]
    area = step * (p.sum(-1) - 0.5 * (p[..., 0] + p[..., -1]))
    return p * (DOS_NORM / area)[..., None]


@torch.no_grad()
def predict_batch(model: DescriptorNet, graphs: list[CrystalGraph]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(charges (n,), dos (n, K))] per graph, float64."""
    model.eval()
    q, dos, _ = model(collate(graphs))
    out, k = [], 0
    for g in graphs:
        out.append((q[k : k + g.n_sites].double().numpy(), dos[k : k + g.n_sites].double().numpy()))
        k += g.n_sites
    return out
