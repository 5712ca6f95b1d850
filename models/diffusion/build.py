"""Build the network and the joint diffusion from a config dict plus training-set statistics.

One place that knows the config schema, so training, sampling and checkpoint loading can never build
different models from the same file. Unknown keys are rejected (a typo must not silently train the
wrong variant).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import yaml

from models.diffusion.atom_types import MaskedTypeDiffusion
from models.diffusion.dataset import standardization_tables
from models.diffusion.descriptors import CHANNEL_SETS, DescriptorDiffusion, descriptor_dim
from models.diffusion.frac_coords import WrappedCoordDiffusion
from models.diffusion.joint import JointDiffusion, LossWeights
from models.diffusion.lattice import SymmetricLatticeDiffusion
from models.network.cspnet import CSPNetDenoiser

DEFAULT_CONFIG: dict[str, Any] = {
    "name": "unnamed",
    "seed": 0,
    "data": {
        "descriptors": "none",  # corpus descriptor mode: none | auto | dft | dummy
        "train_split": "train",
        "val_split": "val",
        "limit": None,  # first N training crystals (tests / tiny runs)
        "val_limit": 512,
    },
    "fields": {"descriptors": "none"},  # none | charge | dos | charge_dos
    "network": {"hidden": 192, "edge_hidden": None, "layers": 4, "fourier_freqs": 10},
    "diffusion": {
        "t_min": 1.0e-3,
        "types": {"loss_weighting": "masked_mean", "max_weight": 20.0},  # masked_mean | elbo
        "coords": {"sigma_min": 0.01, "sigma_max": 5.0},
        "lattice": {"sigma_limit": 0.2, "beta_min": 0.1, "beta_max": 20.0},
        "descriptors": {"beta_min": 0.1, "beta_max": 20.0},
        "loss_weights": {"types": 1.0, "coords": 1.0, "lattice": 1.0, "descriptors": 1.0},
        "cond_drop_all": 0.2,
        "cond_drop_each": 0.2,
    },
    "training": {
        "batch_size": 64,
        "max_steps": 10000,
        "lr": 5.0e-4,
        "warmup_steps": 200,
        "min_lr_ratio": 0.1,
        "weight_decay": 0.0,
        "grad_clip": 1.0,
        "ema_decay": 0.999,
        "eval_every": 250,
        "checkpoint_every": 250,
        "log_every": 25,
        "early_stop_evals": 0,  # stop after this many evaluations without a better val type loss; 0 = never
        "num_threads": 1,
        "out_dir": None,  # training state (resume); default ~/.cache/mattergen-e/train/<name>
        "ship_dir": None,  # where model.pt + config + log + manifest are exported, if set
    },
    "sampling": {"steps": 80, "corrector_steps": 1, "snr": 0.1, "type_temperature": 1.0},
}


def _merge(base: dict, override: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"unknown config key {path}{key!r}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = _merge(base[key], value, f"{path}{key}.")
        else:
            out[key] = value
    return out


def load_config(config: dict | str | Path) -> dict:
    """Read a YAML file (or take a dict) and fill in defaults."""
    if isinstance(config, str | Path):
        with open(config) as fh:
            raw = yaml.safe_load(fh) or {}
    else:
        raw = config
    cfg = _merge(DEFAULT_CONFIG, raw)
    if cfg["fields"]["descriptors"] not in CHANNEL_SETS:
        raise ValueError(f"fields.descriptors must be one of {sorted(CHANNEL_SETS)}")
    return cfg


def build_network(cfg: dict, stats: dict) -> CSPNetDenoiser:
    net_cfg = cfg["network"]
    return CSPNetDenoiser(
        hidden=int(net_cfg["hidden"]),
        num_layers=int(net_cfg["layers"]),
        num_freqs=int(net_cfg["fourier_freqs"]),
        edge_hidden=net_cfg["edge_hidden"],
        descriptor_dim=descriptor_dim(cfg["fields"]["descriptors"]),
        length_scale=float(stats["volume_per_atom"]) ** (1.0 / 3.0),
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
