"""The schema of a model variant's config (``models/configs/*.yaml``), as pydantic models.

One schema for training, sampling and checkpoint loading, so they can never build different models
from the same file. Unknown keys are rejected (a typo must not silently train the wrong variant);
keys an older checkpoint's config lacks take the defaults below, which reproduce how it was trained.
Configs travel inside checkpoints as plain dicts (``load_config`` returns ``model_dump()``).
Torch-free: the API reads configs too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    descriptors: Literal["none", "auto", "dft", "dummy"] = "none"  # corpus descriptor source
    train_split: str = "train"
    val_split: str | None = "val"
    limit: PositiveInt | None = None  # first N training crystals (tests, tiny runs)
    val_limit: int = 512


class FieldsConfig(_Strict):
    descriptors: Literal["none", "charge", "dos", "charge_dos"] = "none"


class NetworkConfig(_Strict):
    hidden: PositiveInt = 192
    edge_hidden: PositiveInt | None = None
    layers: PositiveInt = 4
    fourier_freqs: PositiveInt = 10
    # which sites' descriptors the shared trunk sees (see models/network/cspnet.py); "all" is how
    # checkpoints without this key were trained
    descriptor_input: Literal["all", "revealed"] = "all"
    # how a site's pair messages are combined: "mean" divides by n-1, "sqrt" by sqrt(n-1), so one
    # too-close neighbour is diluted less in a large cell (measured, see models/checkpoints/README.md)
    aggregation: Literal["mean", "sqrt"] = "mean"


class TypesConfig(_Strict):
    # "masked_mean" is how checkpoints without this key were trained
    loss_weighting: Literal["masked_mean", "elbo"] = "masked_mean"
    max_weight: PositiveFloat = 20.0


class CoordsConfig(_Strict):
    sigma_min: PositiveFloat = 0.01
    sigma_max: PositiveFloat = 5.0


class VPNoiseConfig(_Strict):
    """A variance-preserving noise schedule (descriptors; the lattice adds its own limit)."""

    beta_min: PositiveFloat = 0.1
    beta_max: PositiveFloat = 20.0


class LatticeConfig(VPNoiseConfig):
    sigma_limit: PositiveFloat = 0.2


class LossWeightsConfig(_Strict):
    types: float = 1.0
    coords: float = 1.0
    lattice: float = 1.0
    descriptors: float = 1.0


class DiffusionConfig(_Strict):
    t_min: PositiveFloat = 1.0e-3
    types: TypesConfig = TypesConfig()
    coords: CoordsConfig = CoordsConfig()
    lattice: LatticeConfig = LatticeConfig()
    descriptors: VPNoiseConfig = VPNoiseConfig()
    loss_weights: LossWeightsConfig = LossWeightsConfig()
    cond_drop_all: float = 0.2
    cond_drop_each: float = 0.2


class TrainingConfig(_Strict):
    batch_size: PositiveInt = 64
    max_steps: PositiveInt = 10000
    lr: PositiveFloat = 5.0e-4
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: PositiveFloat = 1.0
    ema_decay: float = 0.999
    eval_every: PositiveInt = 250
    checkpoint_every: PositiveInt = 250
    log_every: PositiveInt = 25
    early_stop_evals: int = 0  # stop after this many evaluations without a better val type loss; 0 = never
    num_threads: PositiveInt = 1
    out_dir: str | None = None  # resume state; default ~/.cache/mattergen-e/train/<name>
    ship_dir: str | None = None  # where model.pt + config + log + manifest are exported


class SamplingConfig(_Strict):
    steps: PositiveInt = 80
    corrector_steps: int = 1
    snr: float = 0.1
    type_temperature: PositiveFloat = 1.0
    # draw the element completing each crystal from p(element | SMACT-valid composition)
    # (models.charge_balance); a sampling setting, so checkpoints trained before it exist get it too
    charge_balance: bool = True


class VariantConfig(_Strict):
    name: str = "unnamed"
    seed: int = 0
    data: DataConfig = DataConfig()
    fields: FieldsConfig = FieldsConfig()
    network: NetworkConfig = NetworkConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    training: TrainingConfig = TrainingConfig()
    sampling: SamplingConfig = SamplingConfig()


def load_config(config: dict | str | Path) -> dict:
    """Validate a YAML file (or a dict) against the schema, fill in defaults, return it as a dict.

    Raises ``ValueError`` naming the offending key (pydantic's ``ValidationError`` is a ValueError).
    """
    if isinstance(config, str | Path):
        with open(config) as fh:
            raw = yaml.safe_load(fh) or {}
    else:
        raw = config
    return VariantConfig.model_validate(raw).model_dump()
