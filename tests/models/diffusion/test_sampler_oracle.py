"""End-to-end check of the reverse process: with an oracle denoiser for a single known crystal, the
predictor–corrector sampler must return that crystal (every field, from its prior)."""

import torch
from torch import nn

from models.diffusion.atom_types import MaskedTypeDiffusion
from models.diffusion.batch import NUM_ELEMENTS
from models.diffusion.descriptors import DescriptorDiffusion
from models.diffusion.frac_coords import WrappedCoordDiffusion
from models.diffusion.joint import JointDiffusion, SamplerSettings
from models.diffusion.lattice import SymmetricLatticeDiffusion
from models.diffusion.wrapped_normal import min_image, wrapped_normal_score
from models.network.cspnet import DenoiserOutput

torch.set_num_threads(1)


class Oracle(nn.Module):
    """Exact scores of the forward process when the data distribution is one crystal."""

    def __init__(self, diffusion: JointDiffusion, types, x0, lattice, d0):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.diffusion, self.types, self.x0, self.d0 = diffusion, types, x0, d0
        self.lat = diffusion.lattice
        self.y0 = (self.lat.normalize(lattice[None], torch.tensor([len(types)])) - torch.eye(3)) / self.lat.sigma_limit

    def forward(self, types, x, lat, num_atoms, d, present, t, conds):
        b = num_atoms.shape[0]
        n = len(self.types)
        t_site = t.repeat_interleave(num_atoms)
        logits = torch.full((b * n, NUM_ELEMENTS), -30.0)
        logits[torch.arange(b * n), self.types.repeat(b)] = 30.0
        sigma = self.diffusion.coords.sigma(t_site, num_atoms.repeat_interleave(num_atoms)).unsqueeze(-1)
        coord = sigma * wrapped_normal_score(x, self.x0.repeat(b, 1), sigma.expand_as(x))
        sched = self.lat.schedule
        a = sched.alpha(t)[:, None, None]
        y_t = (lat / self.lat.length_scale(num_atoms)[:, None, None] - torch.eye(3)) / self.lat.sigma_limit
        lat_eps = (y_t - a * self.y0) / torch.sqrt(1 - a**2)
        ad = self.diffusion.descriptors.schedule.alpha(t_site)[:, None]
        d_eps = (d - ad * self.d0.repeat(b, 1)) / torch.sqrt(1 - ad**2)
        return DenoiserOutput(logits, coord, lat_eps, d_eps)


def test_sampler_recovers_the_crystal_under_an_oracle_denoiser():
    torch.manual_seed(0)
    n = 4
    types = torch.tensor([10, 16, 16, 7])
    x0 = torch.rand(n, 3)
    lattice = torch.tensor([[4.1, 0.0, 0.0], [0.8, 5.2, 0.0], [0.3, -0.4, 6.0]])
    d0 = torch.randn(n, 65)
    diffusion = JointDiffusion(
        MaskedTypeDiffusion(),
        WrappedCoordDiffusion(0.01, 5.0),
        SymmetricLatticeDiffusion(volume_per_atom=20.0, sigma_limit=0.2),
        DescriptorDiffusion("charge_dos", torch.zeros(65), torch.ones(65)),
    )
    oracle = Oracle(diffusion, types, x0, lattice, d0)
    out = diffusion.sample(
        oracle, torch.tensor([n, n]), SamplerSettings(steps=200, corrector_steps=1, snr=0.2), None, None,
        torch.Generator().manual_seed(1),
    )
    assert torch.equal(out.atom_types, types.repeat(2))
    assert float(min_image(out.frac_coords - x0.repeat(2, 1)).abs().max()) < 0.03
    target = diffusion.lattice.denormalize(diffusion.lattice.normalize(lattice[None], torch.tensor([n])), torch.tensor([n]))
    assert torch.allclose(out.lattice, target.expand(2, 3, 3), atol=1e-3)
    assert torch.allclose(out.descriptors, d0.repeat(2, 1), atol=1e-3)
