"""Multi-field wrapper: one shared time per crystal, one corruption per field, one network for all.

Training: draw t ~ U(t_min, 1) per crystal, corrupt every field at that t, drop property labels at random
(classifier-free guidance needs the unconditional score too), and sum the per-field losses.
Sampling: start every field from its limit distribution and walk t from 1 to 0 with a predictor step per
field (types: unmasking; coordinates: reverse wrapped VE SDE + optional Langevin corrector; lattice and
descriptors: ancestral VP steps). With guidance scale γ each network output is
uncond + γ (cond − uncond) (element log-probabilities for the types), so γ = 0 is exactly unconditional.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from models.diffusion.atom_types import MaskedTypeDiffusion
from models.diffusion.batch import CrystalBatch
from models.diffusion.descriptors import DescriptorDiffusion
from models.diffusion.frac_coords import WrappedCoordDiffusion
from models.diffusion.lattice import SymmetricLatticeDiffusion
from models.network.cspnet import CSPNetDenoiser, DenoiserOutput

Conditions = dict[str, tuple[torch.Tensor, torch.Tensor]]
TypeConstraint = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator | None], torch.Tensor
]


@dataclass
class LossWeights:
    types: float = 1.0
    coords: float = 1.0
    lattice: float = 1.0
    descriptors: float = 1.0


@dataclass
class SamplerSettings:
    steps: int = 200
    corrector_steps: int = 1
    snr: float = 0.2
    guidance_scale: float = 0.0
    type_temperature: float = 1.0


@dataclass
class SampledFields:
    atom_types: torch.Tensor  # (N,) element class indices (Z - 1)
    frac_coords: torch.Tensor  # (N, 3)
    lattice: torch.Tensor  # (B, 3, 3) Å
    num_atoms: torch.Tensor  # (B,)
    descriptors: torch.Tensor  # (N, D) standardized
    extra: dict = field(default_factory=dict)


class SamplingStopped(Exception):
    """Raised inside the sampler when the caller's stop callback asks to stop between steps."""


class JointDiffusion:
    def __init__(
        self,
        types: MaskedTypeDiffusion,
        coords: WrappedCoordDiffusion,
        lattice: SymmetricLatticeDiffusion,
        descriptors: DescriptorDiffusion | None,
        weights: LossWeights | None = None,
        t_min: float = 1e-3,
        cond_drop_all: float = 0.2,
        cond_drop_each: float = 0.2,
    ) -> None:
        self.types = types
        self.coords = coords
        self.lattice = lattice
        self.descriptors = descriptors
        self.weights = weights or LossWeights()
        self.t_min = float(t_min)
        self.cond_drop_all = float(cond_drop_all)
        self.cond_drop_each = float(cond_drop_each)

    @property
    def descriptor_dim(self) -> int:
        return 0 if self.descriptors is None else self.descriptors.dim

    # ------------------------------------------------------------------ training
    def training_conditions(self, batch: CrystalBatch, generator: torch.Generator | None, drop: bool) -> Conditions:
        b = batch.num_crystals
        conds = {
            "band_gap": (batch.band_gap, batch.band_gap_mask.clone()),
            "formation_energy_per_atom": (batch.formation_energy, batch.formation_energy_mask.clone()),
        }
        if drop:
            drop_all = torch.rand(b, generator=generator) < self.cond_drop_all
            for key, (v, m) in conds.items():
                drop_one = torch.rand(b, generator=generator) < self.cond_drop_each
                conds[key] = (v, m & ~drop_all & ~drop_one)
        return conds

    def losses(
        self,
        net: CSPNetDenoiser,
        batch: CrystalBatch,
        generator: torch.Generator | None = None,
        drop_conditions: bool = True,
        t: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Per-field denoising losses and their weighted sum (key ``total``)."""
        b = batch.num_crystals
        if t is None:
            t = self.t_min + (1.0 - self.t_min) * torch.rand(b, generator=generator)
        batch_idx = batch.batch_idx
        t_site = t[batch_idx]
        n_site = batch.num_atoms[batch_idx]

        types_t, masked = self.types.corrupt(batch.atom_types, t_site, generator)
        x_t, x_target = self.coords.corrupt(batch.frac_coords, t_site, n_site, generator)
        lat_t, lat_eps = self.lattice.corrupt(batch.lattice, batch.num_atoms, t, generator)
        if self.descriptors is not None:
            d0 = batch.descriptors
            d_t, d_eps = self.descriptors.corrupt(d0, batch.descriptor_mask, t_site, generator)
        else:
            d_t = d_eps = batch.frac_coords.new_zeros(batch.frac_coords.shape[0], 0)
        conds = self.training_conditions(batch, generator, drop_conditions)
        out = net(types_t, x_t, lat_t, batch.num_atoms, d_t, batch.descriptor_mask, t, conds)

        losses = {
            "types": self.types.loss(out.type_logits, batch.atom_types, masked, t_site),
            "coords": self.coords.loss(out.coord_score, x_target, batch_idx, batch.num_atoms),
            "lattice": self.lattice.loss(out.lattice_eps, lat_eps),
        }
        if self.descriptors is not None:
            losses["descriptors"] = self.descriptors.loss(out.descriptor_eps, d_eps, batch.descriptor_mask)
        w = self.weights
        total = w.types * losses["types"] + w.coords * losses["coords"] + w.lattice * losses["lattice"]
        if "descriptors" in losses:
            total = total + w.descriptors * losses["descriptors"]
        losses["total"] = total
        return losses

    # ------------------------------------------------------------------ sampling
    def _guided(
        self,
        net: CSPNetDenoiser,
        state: tuple[torch.Tensor, ...],
        num_atoms: torch.Tensor,
        t: torch.Tensor,
        conds: Conditions | None,
        gamma: float,
    ) -> DenoiserOutput:
        # The sampler state and all random draws stay on the CPU (device-independent, seeded noise);
        # only the network runs on its own device (e.g. a GPU worker).
        device = next(net.parameters()).device
        types, x, lat, d = (v.to(device) for v in state)
        present = torch.ones(types.shape[0], dtype=torch.bool, device=device)
        n_dev, t_dev = num_atoms.to(device), t.to(device)

        def run(c: Conditions) -> DenoiserOutput:
            c_dev = {k: (v.to(device), m.to(device)) for k, (v, m) in c.items()}
            o = net(types, x, lat, n_dev, d, present, t_dev, c_dev)
            return DenoiserOutput(o.type_logits.cpu(), o.coord_score.cpu(), o.lattice_eps.cpu(), o.descriptor_eps.cpu())

        uncond = run({})
        uncond_logp = torch.log_softmax(uncond.type_logits, -1)
        if not conds:
            return DenoiserOutput(uncond_logp, uncond.coord_score, uncond.lattice_eps, uncond.descriptor_eps)
        cond = run(conds)
        cond_logp = torch.log_softmax(cond.type_logits, -1)
        return DenoiserOutput(
            uncond_logp + gamma * (cond_logp - uncond_logp),
            uncond.coord_score + gamma * (cond.coord_score - uncond.coord_score),
            uncond.lattice_eps + gamma * (cond.lattice_eps - uncond.lattice_eps),
            uncond.descriptor_eps + gamma * (cond.descriptor_eps - uncond.descriptor_eps),
        )

    @torch.no_grad()
    def sample(
        self,
        net: CSPNetDenoiser,
        num_atoms: torch.Tensor,
        settings: SamplerSettings,
        conditions: Conditions | None = None,
        element_log_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        on_step: Callable[[int, int], bool] | None = None,
        type_constraint: TypeConstraint | None = None,
    ) -> SampledFields:
        """Generate ``len(num_atoms)`` crystals.

        ``element_log_mask``: (NUM_ELEMENTS,) with 0 for allowed and -inf for forbidden elements.
        ``on_step(done, total)`` is called after every step; returning True raises ``SamplingStopped``.
        ``type_constraint(types_before, types_after, log_probs, batch_idx, generator)`` may change the
        elements drawn in a step (e.g. :class:`models.charge_balance.ChargeBalanceClosing`).
        """
        net.eval()
        b = int(num_atoms.shape[0])
        batch_idx = torch.repeat_interleave(torch.arange(b), num_atoms)
        n_site = num_atoms[batch_idx]
        n_total = int(num_atoms.sum())
        types = self.types.prior(n_total)
        x = self.coords.prior(n_site, generator)
        lat = self.lattice.prior(num_atoms, generator)
        d = self.descriptors.prior(n_total, generator) if self.descriptors is not None else torch.zeros(n_total, 0)
        steps = int(settings.steps)
        grid = torch.linspace(1.0, 0.0, steps + 1)
        gamma = float(settings.guidance_scale)
        for k in range(steps):
            t_val = max(float(grid[k]), self.t_min)
            s_val = float(grid[k + 1])
            t = torch.full((b,), t_val)
            s = torch.full((b,), s_val)
            t_site, s_site = t[batch_idx], s[batch_idx]
            for _ in range(int(settings.corrector_steps)):
                out = self._guided(net, (types, x, lat, d), num_atoms, t, conditions, gamma)
                x = self.coords.corrector_step(x, out.coord_score, t_site, n_site, batch_idx, b, settings.snr, generator)
            out = self._guided(net, (types, x, lat, d), num_atoms, t, conditions, gamma)
            logp = out.type_logits
            if settings.type_temperature != 1.0:
                logp = logp / settings.type_temperature
            if element_log_mask is not None:
                logp = logp + element_log_mask
            revealed = self.types.reverse_step(types, logp, t_site, s_site, generator)
            if type_constraint is not None:
                revealed = type_constraint(types, revealed, logp, batch_idx, generator)
            types = revealed
            x = self.coords.predictor_step(x, out.coord_score, t_site, s_site, n_site, generator)
            lat = self.lattice.reverse_step(lat, out.lattice_eps, num_atoms, t, s, generator)
            if self.descriptors is not None:
                d = self.descriptors.reverse_step(d, out.descriptor_eps, t_site, s_site, generator)
            if on_step is not None and on_step(k + 1, steps):
                raise SamplingStopped(f"stopped after {k + 1} of {steps} steps")
        return SampledFields(types, x, lat, num_atoms, d)
