"""Per-element descriptor standardization, the charge-neutral output and the channel weights of the loss."""

import numpy as np
import torch

from models.diffusion.batch import NUM_ELEMENTS
from models.diffusion.dataset import (
    ELEMENT_PRIOR_SITES,
    per_element_descriptor_stats,
    standardization_tables,
)
from models.diffusion.descriptors import DescriptorDiffusion, channel_loss_weights, neutralize


def _two_element_rows(n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Element 7 (O) always near -1 e with a DOS peak low; element 10 (Na) near +0.9 e, peak high."""
    rng = np.random.default_rng(0)
    types = np.repeat([7, 10], n // 2)
    charge = np.where(types == 7, -1.0, 0.9) + 0.05 * rng.standard_normal(n)
    dos = rng.random((n, 64)) * 0.01
    dos[types == 7, 10] += 1.0
    dos[types == 10, 50] += 1.0
    return types, np.concatenate([charge[:, None], dos], 1)


def test_per_element_standardization_removes_the_element_fingerprint():
    types, raw = _two_element_rows()
    _, _, el_mean, el_std = per_element_descriptor_stats(types, raw)
    z = (raw - el_mean[types]) / el_std[types]
    # after standardization the two elements' descriptors have the same centre: nothing tells them apart
    gap = np.abs(z[types == 7].mean(0) - z[types == 10].mean(0)).max()
    assert gap < 0.05, gap
    # the raw values separate them by many standard deviations
    assert abs(raw[types == 7, 0].mean() - raw[types == 10, 0].mean()) > 1.5


def test_rare_element_spreads_shrink_toward_the_pooled_spread_and_have_a_floor():
    types, raw = _two_element_rows()
    types = types.copy()
    types[:2] = 50  # an element seen at two sites, with almost equal charges
    mean, std, el_mean, el_std = per_element_descriptor_stats(types, raw)
    assert np.allclose(el_mean[50], raw[:2].mean(0))  # own mean: no pull toward another element's
    assert np.allclose(el_mean[0], mean) and np.allclose(el_std[0], std)  # unseen: global statistics
    # two sites alone would give a spread near 0; the prior keeps it near the pooled within-element one
    pooled_charge = np.sqrt(np.mean([raw[types == e, 0].var() for e in (7, 10)]))
    w = 2 / (2 + ELEMENT_PRIOR_SITES)
    assert el_std[50, 0] > np.sqrt(1 - w) * pooled_charge * 0.9
    assert (el_std >= 1e-3).all() and el_std.shape == (NUM_ELEMENTS, 65)


def test_old_checkpoint_stats_standardize_globally():
    stats = {"descriptor_mean": [1.0, 2.0], "descriptor_std": [3.0, 4.0]}
    mean, std = standardization_tables(stats)
    assert mean.shape == (NUM_ELEMENTS, 2) and np.allclose(mean[42], [1.0, 2.0]) and np.allclose(std[0], [3, 4])


def test_destandardize_uses_the_sampled_element_and_round_trips():
    types, raw = _two_element_rows(200)
    _, _, el_mean, el_std = per_element_descriptor_stats(types, raw)
    d = DescriptorDiffusion("charge_dos", torch.tensor(el_mean), torch.tensor(el_std))
    t = torch.as_tensor(types)
    z = d.standardize(torch.tensor(raw, dtype=torch.float32), t)
    charges, dos = d.destandardize(z, t)
    assert np.allclose(charges, raw[:, 0], atol=1e-4)
    assert dos.shape == (200, 64) and (dos >= 0).all()
    # the same standardized value means a different charge on a different element
    zero = torch.zeros(2, 65)
    q, _ = d.destandardize(zero, torch.tensor([7, 10]))
    assert q[0] < -0.9 and q[1] > 0.8


def test_generated_charges_are_made_neutral_per_cell_with_least_change_where_spread_is_small():
    q = np.array([1.0, -0.5, 0.2, 0.3, 0.1])
    var = np.array([0.01, 0.04, 1.0, 1.0, 1.0])
    out = neutralize(q, var, [2, 3])
    assert abs(out[:2].sum()) < 1e-12 and abs(out[2:].sum()) < 1e-12
    # cell 1: excess +0.5 removed 1:4 by variance
    assert np.allclose(out[:2], [1.0 - 0.1, -0.5 - 0.4])
    # equal variances: equal shifts
    assert np.allclose(out[2:] - q[2:], -0.2)


def test_destandardize_with_cell_sizes_returns_neutral_cells():
    d = DescriptorDiffusion("charge", torch.zeros(1), torch.ones(1))
    z = torch.randn(7, 1, generator=torch.Generator().manual_seed(1))
    q, dos = d.destandardize(z, torch.zeros(7, dtype=torch.long), [3, 4])
    assert dos is None and abs(q[:3].sum()) < 1e-9 and abs(q[3:].sum()) < 1e-9


def test_charge_weighs_as_much_as_the_whole_dos_block():
    w = channel_loss_weights("charge_dos")
    assert w.shape == (65,) and abs(float(w.sum()) - 1) < 1e-6
    assert abs(float(w[0]) - float(w[1:].sum())) < 1e-6
    assert torch.allclose(channel_loss_weights("dos"), torch.full((64,), 1 / 64))
    assert torch.equal(channel_loss_weights("charge"), torch.ones(1))
    d = DescriptorDiffusion("charge_dos", torch.zeros(65), torch.ones(65))
    eps = torch.zeros(10, 65)
    pred = eps.clone()
    pred[:, 0] = 1.0  # error only in the charge
    assert abs(float(d.loss(pred, eps, torch.ones(10, dtype=torch.bool))) - 0.5) < 1e-6
