"""Each corruption's t = 1 marginal matches the prior the sampler starts from (its limit distribution)."""

import math

import torch

from models.diffusion.atom_types import MaskedTypeDiffusion
from models.diffusion.batch import MASK_INDEX, all_pairs
from models.diffusion.descriptors import DescriptorDiffusion
from models.diffusion.frac_coords import WrappedCoordDiffusion
from models.diffusion.lattice import SymmetricLatticeDiffusion, canonical_lattice
from models.diffusion.schedules import VPSchedule

torch.set_num_threads(1)


def _ks_uniform(samples: torch.Tensor) -> float:
    s, _ = torch.sort(samples.flatten().double())
    n = s.shape[0]
    cdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum((cdf - s).abs(), (s - (cdf - 1.0 / n)).abs()).max())


def test_atom_types_fully_masked_at_t1_and_untouched_at_t0():
    diff = MaskedTypeDiffusion()
    types = torch.randint(0, 100, (500,))
    noisy, masked = diff.corrupt(types, torch.ones(500))
    assert torch.equal(noisy, diff.prior(500)) and bool(masked.all())
    clean, masked0 = diff.corrupt(types, torch.zeros(500))
    assert torch.equal(clean, types) and not bool(masked0.any())
    half, m = diff.corrupt(types, torch.full((500,), 0.5), torch.Generator().manual_seed(0))
    assert 0.4 < float(m.float().mean()) < 0.6 and bool((half[m] == MASK_INDEX).all())


def test_atom_type_reverse_step_reveals_everything_at_s0():
    diff = MaskedTypeDiffusion()
    types_t = diff.prior(50)
    logp = torch.log_softmax(torch.randn(50, 100), -1)
    logp[:, 10:] = float("-inf")  # element mask
    out = diff.reverse_step(types_t, logp, torch.full((50,), 0.1), torch.zeros(50), torch.Generator().manual_seed(1))
    assert bool((out < 10).all())


def test_frac_coords_t1_marginal_and_prior_are_uniform_on_torus():
    diff = WrappedCoordDiffusion(0.01, 5.0)
    gen = torch.Generator().manual_seed(0)
    for n in (2, 8, 20):
        n_site = torch.full((4000,), n)
        x0 = torch.full((4000, 3), 0.3)
        x1, _ = diff.corrupt(x0, torch.ones(4000), n_site, gen)
        prior = diff.prior(n_site, gen)
        crit = 1.63 / math.sqrt(12000)  # KS 1 % critical value
        assert _ks_uniform(x1) < crit, n
        assert _ks_uniform(prior) < crit, n
    # small t stays near the data
    xs, _ = diff.corrupt(x0[:100], torch.full((100,), 0.01), torch.full((100,), 8), gen)
    assert float((xs - 0.3).abs().max()) < 0.05


def test_frac_coord_target_is_scaled_score():
    diff = WrappedCoordDiffusion()
    x0 = torch.rand(1000, 3)
    x_t, target = diff.corrupt(x0, torch.full((1000,), 0.05), torch.full((1000,), 4), torch.Generator().manual_seed(0))
    sigma = diff.sigma(torch.tensor(0.05), torch.tensor(4))
    # for small sigma the sigma-scaled score is minus the standard noise: unit variance
    assert abs(float(target.std()) - 1.0) < 0.05
    assert float(sigma) < 0.05


def test_lattice_t1_marginal_matches_prior_cube_of_volume_n_v():
    v = 15.0
    diff = SymmetricLatticeDiffusion(volume_per_atom=v, sigma_limit=0.2)
    gen = torch.Generator().manual_seed(0)
    m = 4000
    lattice = torch.tensor([[3.0, 0.0, 0.0], [1.5, 2.6, 0.0], [0.0, 0.0, 7.0]]).expand(m, 3, 3)
    for n in (2, 12):
        num = torch.full((m,), n)
        l1, _ = diff.corrupt(lattice, num, torch.ones(m), gen)
        prior = diff.prior(num, gen)
        side = (n * v) ** (1 / 3)
        for sample in (l1, prior):
            assert torch.allclose(sample.mean(0), side * torch.eye(3), atol=0.03 * side)
            assert torch.allclose(sample, sample.transpose(1, 2))
            std = sample.std(0) / side
            assert torch.allclose(std, torch.full((3, 3), 0.2), atol=0.02)
        # volume follows the atom count
        assert abs(float(torch.det(prior).mean()) / (n * v) - 1.0) < 0.15


def test_canonical_lattice_is_rotation_free_and_keeps_metric():
    torch.manual_seed(0)
    lat = torch.randn(5, 3, 3) + 4 * torch.eye(3)
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    p1, p2 = canonical_lattice(lat), canonical_lattice(lat @ q)
    assert torch.allclose(p1, p2, atol=1e-4)
    assert torch.allclose(p1 @ p1.transpose(1, 2), lat @ lat.transpose(1, 2), atol=1e-3)


def test_descriptor_t1_marginal_is_standard_normal_and_missing_sites_are_noise():
    d = DescriptorDiffusion("charge_dos", torch.zeros(65), torch.ones(65))
    gen = torch.Generator().manual_seed(0)
    d0 = torch.full((3000, 65), 2.0)
    present = torch.ones(3000, dtype=torch.bool)
    d1, _ = d.corrupt(d0, present, torch.ones(3000), gen)
    assert abs(float(d1.mean())) < 0.05 and abs(float(d1.std()) - 1.0) < 0.05
    prior = d.prior(3000, gen)
    assert abs(float(prior.mean())) < 0.05 and abs(float(prior.std()) - 1.0) < 0.05
    absent = torch.zeros(3000, dtype=torch.bool)
    dm, eps = d.corrupt(d0, absent, torch.full((3000,), 0.01), gen)
    assert torch.equal(dm, eps)
    assert float(d.loss(torch.zeros_like(eps), eps, absent)) == 0.0


def test_vp_posterior_with_exact_noise_returns_clean_value_at_s0():
    sched = VPSchedule()
    z0 = torch.randn(100)
    eps = torch.randn(100)
    t = torch.tensor(0.3)
    z_t = sched.alpha(t) * z0 + sched.sigma(t) * eps
    out = sched.posterior_step(z_t, eps, t, torch.tensor(0.0), torch.randn(100))
    assert torch.allclose(out, z0, atol=1e-5)


def test_all_pairs_enumerates_distinct_pairs_within_each_crystal():
    num = torch.tensor([2, 3, 1])
    src, dst = all_pairs(num)
    pairs = set(zip(src.tolist(), dst.tolist(), strict=True))
    expected = {(0, 1), (1, 0)} | {(i, j) for i in (2, 3, 4) for j in (2, 3, 4) if i != j}
    assert pairs == expected and len(src) == len(expected)
