"""Build the network and the joint diffusion from a validated config (``models.config``) plus
training-set statistics: the one place that turns a config into objects."""

from __future__ import annotations

import torch

from models.config import load_config
from models.diffusion.atom_types import MaskedTypeDiffusion
from models.diffusion.dataset import standardization_tables
from models.diffusion.descriptors import DescriptorDiffusion, descriptor_dim
from models.diffusion.frac_coords import WrappedCoordDiffusion
from models.diffusion.joint import JointDiffusion, LossWeights
from models.diffusion.lattice import SymmetricLatticeDiffusion
from models.network.cspnet import CSPNetDenoiser

__all__ = ["build_diffusion", "build_network", "count_parameters", "load_config"]


def build_network(cfg: dict, stats: dict) -> CSPNetDenoiser:
    net_cfg = cfg["network"]
    return CSPNetDenoiser(
        hidden=int(net_cfg["hidden"]),
        num_layers=int(net_cfg["layers"]),
        num_freqs=int(net_cfg["fourier_freqs"]),
        edge_hidden=net_cfg["edge_hidden"],
        descriptor_dim=descriptor_dim(cfg["fields"]["descriptors"]),
        length_scale=float(stats["volume_per_atom"]) ** (1.0 / 3.0),
        descriptor_input=net_cfg["descriptor_input"],
        aggregation=net_cfg.get("aggregation", "mean"),
    )


def build_diffusion(cfg: dict, stats: dict) -> JointDiffusion:
    d = cfg["diffusion"]
    channels = cfg["fields"]["descriptors"]
    desc = None
    if descriptor_dim(channels) > 0:
        mean, std = standardization_tables(stats)
        desc = DescriptorDiffusion(
            channels,
            torch.tensor(mean),
            torch.tensor(std),
            beta_min=d["descriptors"]["beta_min"],
            beta_max=d["descriptors"]["beta_max"],
        )
    return JointDiffusion(
        types=MaskedTypeDiffusion(d["types"]["loss_weighting"], d["types"]["max_weight"]),
        coords=WrappedCoordDiffusion(d["coords"]["sigma_min"], d["coords"]["sigma_max"]),
        lattice=SymmetricLatticeDiffusion(
            stats["volume_per_atom"],
            sigma_limit=d["lattice"]["sigma_limit"],
            beta_min=d["lattice"]["beta_min"],
            beta_max=d["lattice"]["beta_max"],
        ),
        descriptors=desc,
        weights=LossWeights(**d["loss_weights"]),
        t_min=d["t_min"],
        cond_drop_all=d["cond_drop_all"],
        cond_drop_each=d["cond_drop_each"],
    )


def count_parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
