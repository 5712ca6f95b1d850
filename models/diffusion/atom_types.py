"""Atom types: masked (absorbing-state) discrete diffusion.

At time t every site is independently replaced by the absorbing ``MASK`` state with probability t, so
the limit at t = 1 is "every element unknown" and generation starts from a fully masked crystal. The
network predicts the clean element of every masked site; reversing from t to s < t reveals each still
masked site with probability (t - s) / t, drawing its element from the (guided, element-masked)
prediction. This is the continuous-time absorbing process (D3PM-absorbing / MDLM); the training loss is
the cross-entropy on masked sites, the simplified objective those papers use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.diffusion.batch import MASK_INDEX


class MaskedTypeDiffusion:
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

    def loss(self, logits: torch.Tensor, types: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        if not bool(masked.any()):
            return logits.sum() * 0.0
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
