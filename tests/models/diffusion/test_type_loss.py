"""The absorbing-state ELBO weighting of the atom-type loss."""

import pytest
import torch

from models.diffusion.atom_types import MaskedTypeDiffusion
from models.diffusion.batch import NUM_ELEMENTS


def _case(t_values: list[float]):
    types = torch.tensor([3, 7, 7, 10])
    logits = torch.zeros(4, NUM_ELEMENTS)  # uniform prediction: CE = log(100) on every masked site
    masked = torch.tensor([True, True, False, True])
    return logits, types, masked, torch.tensor(t_values)


def test_elbo_weights_each_masked_site_by_one_over_t_and_divides_by_all_sites():
    ce = torch.log(torch.tensor(float(NUM_ELEMENTS)))
    logits, types, masked, t = _case([0.5, 0.5, 0.5, 0.25])
    loss = MaskedTypeDiffusion("elbo").loss(logits, types, masked, t)
    assert float(loss) == pytest.approx(float(ce * (2 + 2 + 4) / 4), rel=1e-6)


def test_elbo_weight_is_clipped_at_low_t():
    ce = torch.log(torch.tensor(float(NUM_ELEMENTS)))
    logits, types, masked, t = _case([1e-4, 1e-4, 1e-4, 1e-4])
    loss = MaskedTypeDiffusion("elbo", max_weight=20.0).loss(logits, types, masked, t)
    assert float(loss) == pytest.approx(float(ce * 3 * 20 / 4), rel=1e-6)


def test_low_t_crystals_weigh_as_much_as_high_t_ones():
    """Expected loss per crystal does not depend on t (for a constant per-site CE): the point of the ELBO."""
    diff = MaskedTypeDiffusion("elbo")
    gen = torch.Generator().manual_seed(0)
    types = torch.zeros(200_000, dtype=torch.long)
    logits = torch.zeros(200_000, NUM_ELEMENTS)
    per_t = []
    for t in (0.1, 0.5, 0.9):
        t_site = torch.full((200_000,), t)
        _, masked = diff.corrupt(types, t_site, gen)
        per_t.append(float(diff.loss(logits, types, masked, t_site)))
    assert max(per_t) / min(per_t) < 1.03, per_t
    plain = MaskedTypeDiffusion("masked_mean")
    t_site = torch.full((200_000,), 0.1)
    _, masked = plain.corrupt(types, t_site, gen)
    assert float(plain.loss(logits, types, masked, t_site)) == pytest.approx(per_t[0], rel=0.05)


def test_unknown_weighting_is_rejected():
    with pytest.raises(ValueError, match="loss_weighting"):
        MaskedTypeDiffusion("uniform")
