"""Charge-balance closing: condition the element that completes a crystal on a SMACT-valid composition.

The masked type process reveals a crystal's sites one by one; the last site revealed decides whether
the composition can be charge balanced, yet the network drew it from a distribution that puts only part
of its mass on balancing elements. When a reverse step reveals a crystal's last masked sites, the
least confident of the sites revealed in that step (the lowest score of its drawn element in the
step's log-probabilities as the sampler used them: guided, masked, not renormalized) is redrawn from the network's own distribution restricted to the elements that make the whole
composition SMACT valid, i.e. from p(element | valid composition). A draw that is already valid is kept,
which is the same distribution. When no element among the ``candidates`` most probable ones balances
the composition, the draw is kept and the crystal stays invalid.

The crystal is completed while coordinates, lattice and descriptors still have steps to go, so the
structure denoises around the corrected composition. SMACT validity here is the benchmark's definition
(:func:`models.evaluate.validity.counts_are_valid`), all-metal compositions included; the sampling suite
therefore also reports the all-metal share and SMACT on the crystals that are not all-metal.
"""

from __future__ import annotations

from collections import Counter

import torch
from pymatgen.core import Element

from models.diffusion.batch import MASK_INDEX, NUM_ELEMENTS
from models.evaluate.validity import counts_are_valid

SYMBOLS = [Element.from_Z(i + 1).symbol for i in range(NUM_ELEMENTS)]


class ChargeBalanceClosing:
    """A ``type_constraint`` for :meth:`models.diffusion.joint.JointDiffusion.sample`."""

    def __init__(self, candidates: int = 24) -> None:
        if candidates < 1:
            raise ValueError("candidates must be >= 1")
        self.candidates = int(candidates)
        self.closed = 0  # crystals completed under the constraint
        self.redrawn = 0  # ... whose closing element was redrawn
        self.unbalanceable = 0  # ... for which no candidate balanced the composition

    def stats(self) -> dict[str, int]:
        return {"closed": self.closed, "redrawn": self.redrawn, "unbalanceable": self.unbalanceable}

    def __call__(
        self,
        types_before: torch.Tensor,
        types_after: torch.Tensor,
        log_probs: torch.Tensor,
        batch_idx: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        was_masked = types_before == MASK_INDEX
        if not bool(was_masked.any()):
            return types_after
        num_crystals = int(batch_idx.max()) + 1
        open_before = torch.zeros(num_crystals, dtype=torch.bool)
        open_before[batch_idx[was_masked]] = True
        open_after = torch.zeros(num_crystals, dtype=torch.bool)
        open_after[batch_idx[types_after == MASK_INDEX]] = True
        closing = torch.nonzero(open_before & ~open_after).flatten().tolist()
        if not closing:
            return types_after
        out = types_after.clone()
        for crystal in closing:
            sites = torch.nonzero(batch_idx == crystal).flatten()
            revealed_now = sites[was_masked[sites]]
            confidence = log_probs[revealed_now, out[revealed_now]]
            site = int(revealed_now[int(torch.argmin(confidence))])
            drawn = SYMBOLS[int(out[site])]
            others = Counter(SYMBOLS[z] for z in out[sites].tolist())
            others[drawn] -= 1
            self.closed += 1
            if counts_are_valid(others + Counter({drawn: 1})):
                continue
            self._redraw(out, site, others, log_probs[site], generator)
        return out

    def _redraw(
        self,
        out: torch.Tensor,
        site: int,
        others: Counter,
        site_log_probs: torch.Tensor,
        generator: torch.Generator | None,
    ) -> None:
        probs = torch.softmax(site_log_probs, dim=-1)
        k = min(self.candidates, int((probs > 0).sum()))
        top = torch.topk(probs, k).indices.tolist()
        balancing = [z for z in top if counts_are_valid(others + Counter({SYMBOLS[z]: 1}))]
        if not balancing:
            self.unbalanceable += 1
            return
        p = probs[balancing]
        pick = int(torch.multinomial(p / p.sum(), 1, generator=generator))
        out[site] = balancing[pick]
        self.redrawn += 1
