"""Atom types: masked (absorbing-state) discrete diffusion.

At time t every site is independently replaced by the absorbing ``MASK`` state with probability t, so
the limit at t = 1 is "every element unknown" and generation starts from a fully masked crystal. The
network predicts the clean element of every masked site; reversing from t to s < t reveals each still
masked site with probability (t - s) / t, drawing its element from the (guided, element-masked)
prediction. This is the continuous-time absorbing process (D3PM-absorbing / MDLM).

Training loss: the absorbing-state ELBO, Σ over masked sites of cross-entropy × 1/t, divided by the
number of sites. A crystal at time t has ~t·n masked sites, so the 1/t weight gives every t the same
expected weight; a plain mean over the masked sites of a batch would let high-t crystals (many masked
sites) dominate and under-weight low t, where the last sites must balance what is already revealed.
The weight is clipped at ``max_weight`` because t close to 0 makes it, and the gradient noise, unbounded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.diffusion.batch import MASK_INDEX


class MaskedTypeDiffusion:
    def __init__(self, loss_weighting: str = "elbo", max_weight: float = 20.0) -> None:
        if loss_weighting not in ("elbo", "masked_mean"):
            raise ValueError("loss_weighting must be 'elbo' or 'masked_mean'")
        self.loss_weighting = loss_weighting
        self.max_weight = float(max_weight)

    def mask_probability(self, t: torch.Tensor) -> torch.Tensor:
        return torch.clamp(t, 0.0, 1.0)

    def corrupt(
        self, types: torch.Tensor, t_site: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (noisy types, which sites were masked)."""
        u = torch.rand(types.shape, generator=generator, device=types.device)
        masked = u < self.mask_probability(t_site)
        return torch.where(masked, torch.full_like(types, MASK_INDEX), types), masked

    def prior(self, num_sites: int, device: str | torch.device = "cpu") -> torch.Tensor:
        return torch.full((num_sites,), MASK_INDEX, dtype=torch.long, device=device)

    def loss(
        self, logits: torch.Tensor, types: torch.Tensor, masked: torch.Tensor, t_site: torch.Tensor
    ) -> torch.Tensor:
        if not bool(masked.any()):
            return logits.sum() * 0.0
        if self.loss_weighting == "masked_mean":
            return self.masked_cross_entropy(logits, types, masked)
        ce = F.cross_entropy(logits[masked], types[masked], reduction="none")
        weight = torch.clamp(1.0 / torch.clamp(t_site[masked], min=1e-12), max=self.max_weight)
        return (ce * weight).sum() / types.shape[0]

    def masked_cross_entropy(self, logits: torch.Tensor, types: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Unweighted mean cross-entropy on masked sites (nats): the diagnostic the leak check reports."""
        return F.cross_entropy(logits[masked], types[masked])

    def reverse_step(
        self,
        types_t: torch.Tensor,
        log_probs: torch.Tensor,
        t_site: torch.Tensor,
        s_site: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Unmask each masked site with probability (t - s)/t, sampling its element from ``log_probs``."""
        masked = types_t == MASK_INDEX
        p_reveal = torch.where(t_site > 0, (t_site - s_site) / torch.clamp(t_site, min=1e-12), torch.ones_like(t_site))
        u = torch.rand(types_t.shape, generator=generator, device=types_t.device)
        reveal = masked & (u < p_reveal)
        probs = torch.softmax(log_probs, dim=-1)
        drawn = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        return torch.where(reveal, drawn, types_t)
