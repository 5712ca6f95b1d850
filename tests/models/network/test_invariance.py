"""The score network is invariant to site permutation, fractional translation and Cartesian rotation."""

import pytest
import torch

from models.network.cspnet import CSPNetDenoiser

torch.set_num_threads(1)


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    num = torch.tensor([3, 5])
    n = int(num.sum())
    types = torch.randint(0, 101, (n,), generator=g)
    frac = torch.rand(n, 3, generator=g, dtype=torch.float64)
    lattice = (4.0 * torch.eye(3) + torch.randn(2, 3, 3, generator=g)).double()
    desc = torch.randn(n, 65, generator=g, dtype=torch.float64)
    present = torch.rand(n, generator=g) < 0.7
    t = torch.tensor([0.3, 0.8], dtype=torch.float64)
    conds = {"band_gap": (torch.tensor([1.5, 0.0], dtype=torch.float64), torch.tensor([True, False]))}
    return types, frac, lattice, num, desc, present, t, conds


@pytest.fixture(scope="module", params=["mean", "sqrt"])
def net(request):
    torch.manual_seed(0)
    return (
        CSPNetDenoiser(hidden=32, edge_hidden=24, num_layers=2, num_freqs=4, descriptor_dim=65, aggregation=request.param)
        .double()
        .eval()
    )


def test_sqrt_aggregation_weighs_each_pair_more_in_larger_cells():
    args = _inputs()
    outs = {}
    for agg in ("mean", "sqrt"):
        torch.manual_seed(0)
        net = CSPNetDenoiser(hidden=32, edge_hidden=24, num_layers=2, num_freqs=4, descriptor_dim=65, aggregation=agg)
        outs[agg] = _run(net.double().eval(), args)
    # Same weights, different normalization: the outputs must differ.
    assert not torch.allclose(outs["mean"].type_logits, outs["sqrt"].type_logits)
    with pytest.raises(ValueError, match="aggregation"):
        CSPNetDenoiser(hidden=8, num_layers=1, aggregation="max")


def _run(net, args):
    with torch.no_grad():
        return net(*args)


def test_permutation_equivariance(net):
    types, frac, lattice, num, desc, present, t, conds = _inputs()
    perm = torch.cat([torch.tensor([2, 0, 1]), 3 + torch.tensor([4, 1, 3, 0, 2])])
    a = _run(net, (types, frac, lattice, num, desc, present, t, conds))
    b = _run(net, (types[perm], frac[perm], lattice, num, desc[perm], present[perm], t, conds))
    assert torch.allclose(a.type_logits[perm], b.type_logits, atol=1e-10)
    assert torch.allclose(a.coord_score[perm], b.coord_score, atol=1e-10)
    assert torch.allclose(a.descriptor_eps[perm], b.descriptor_eps, atol=1e-10)
    assert torch.allclose(a.lattice_eps, b.lattice_eps, atol=1e-10)


def test_fractional_translation_invariance(net):
    types, frac, lattice, num, desc, present, t, conds = _inputs()
    shift = torch.tensor([[0.37, -0.81, 2.25]], dtype=torch.float64)
    frac2 = torch.remainder(frac + shift, 1.0)
    a = _run(net, (types, frac, lattice, num, desc, present, t, conds))
    b = _run(net, (types, frac2, lattice, num, desc, present, t, conds))
    for x, y in zip(
        (a.type_logits, a.coord_score, a.lattice_eps, a.descriptor_eps),
        (b.type_logits, b.coord_score, b.lattice_eps, b.descriptor_eps),
        strict=True,
    ):
        assert torch.allclose(x, y, atol=1e-9)


def test_rotation_invariance(net):
    types, frac, lattice, num, desc, present, t, conds = _inputs()
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    a = _run(net, (types, frac, lattice, num, desc, present, t, conds))
    b = _run(net, (types, frac, lattice @ q, num, desc, present, t, conds))  # rotate Cartesian frame
    assert torch.allclose(a.type_logits, b.type_logits, atol=1e-9)
    assert torch.allclose(a.coord_score, b.coord_score, atol=1e-9)
    assert torch.allclose(a.lattice_eps, b.lattice_eps, atol=1e-9)
    assert torch.allclose(a.descriptor_eps, b.descriptor_eps, atol=1e-9)


def test_outputs_depend_on_geometry_and_condition(net):
    """Guards against a trivially invariant (constant) network."""
    types, frac, lattice, num, desc, present, t, conds = _inputs()
    a = _run(net, (types, frac, lattice, num, desc, present, t, conds))
    frac2 = frac.clone()
    frac2[0] += 0.2
    b = _run(net, (types, frac2, lattice, num, desc, present, t, conds))
    assert not torch.allclose(a.coord_score[:3], b.coord_score[:3])
    c = _run(net, (types, frac, lattice, num, desc, present, t, {}))
    assert not torch.allclose(a.type_logits[:3], c.type_logits[:3])
    assert torch.allclose(a.type_logits[3:], c.type_logits[3:])  # crystal 2 had no condition either way
    assert torch.allclose(a.lattice_eps, a.lattice_eps.transpose(1, 2))


def test_revealed_mode_hides_a_masked_sites_descriptor_from_every_output_but_its_descriptor_head():
    from models.diffusion.batch import MASK_INDEX

    torch.manual_seed(0)
    net = CSPNetDenoiser(
        hidden=32, edge_hidden=24, num_layers=2, num_freqs=4, descriptor_dim=65, descriptor_input="revealed"
    ).double().eval()
    types, frac, lattice, num, desc, present, t, conds = _inputs()
    types = types.clone()
    types[1] = MASK_INDEX
    present = torch.ones_like(present)
    changed = desc.clone()
    changed[1] += 3.0  # a masked site's descriptor
    a = _run(net, (types, frac, lattice, num, desc, present, t, conds))
    b = _run(net, (types, frac, lattice, num, changed, present, t, conds))
    assert torch.equal(a.type_logits, b.type_logits)
    assert torch.equal(a.coord_score, b.coord_score) and torch.equal(a.lattice_eps, b.lattice_eps)
    assert not torch.allclose(a.descriptor_eps[1], b.descriptor_eps[1])
    assert torch.equal(a.descriptor_eps[0], b.descriptor_eps[0])
    changed = desc.clone()
    changed[0] += 3.0  # a revealed site's descriptor informs the others
    c = _run(net, (types, frac, lattice, num, changed, present, t, conds))
    assert not torch.allclose(a.type_logits[1], c.type_logits[1])
