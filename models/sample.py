"""Sample crystals (structure + per-site charges + per-site DOS) from a trained joint diffusion model.

This module is the model's public sampling interface; the web service's worker calls ``load_model``
and ``generate``. Which variants exist and where their checkpoints live is :mod:`models.registry`
(torch-free, what the API uses); the command line is :mod:`models.sample_cli`, also reachable as
``python -m models.sample``.

Determinism: all randomness comes from ``torch.Generator`` objects seeded from ``seed`` (and the batch
and resampling-round index), never from global RNG, so the same arguments on CPU give the same
crystals. Cancellation: ``should_stop`` is polled between denoising steps; when it returns True,
``generate`` raises ``GenerationCancelled`` whose ``completed`` attribute holds the crystals of the
batches that had already finished (the batch in flight is discarded).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Element, Lattice, Structure

from models.charge_balance import ChargeBalanceClosing
from models.diffusion.batch import NUM_ELEMENTS
from models.diffusion.build import build_diffusion, build_network, load_config
from models.diffusion.descriptors import CHANNEL_SETS
from models.diffusion.joint import JointDiffusion, SamplerSettings, SamplingStopped
from models.hashing import sha256_file
from models.network.cspnet import CSPNetDenoiser
from models.registry import (  # noqa: F401  (CHECKPOINT_ROOT, DEFAULT_ORDER, list_models: re-exported)
    CHECKPOINT_ROOT,
    DEFAULT_NAME,
    DEFAULT_ORDER,
    checkpoint_path,
    list_models,
    public_name,
)

MAX_RESAMPLE_ROUNDS = 20
MAX_NUM_ATOMS = 64


class GenerationCancelled(Exception):
    """``should_stop()`` returned True; ``completed`` holds the crystals finished before the stop."""

    def __init__(self, completed: list[GeneratedCrystal]) -> None:
        super().__init__(f"generation cancelled after {len(completed)} finished crystals")
        self.completed = completed


class RequiredElementsError(ValueError):
    """The required elements could not be satisfied within the bounded number of resampling rounds."""


@dataclass
class GeneratedCrystal:
    structure: Structure
    charges: np.ndarray | None  # (n_sites,), e; None if the variant has no charge channel
    dos: np.ndarray | None  # (n_sites, DOS_BINS) on descriptor_spec.DOS_ENERGIES; None if none


@dataclass
class LoadedModel:
    name: str
    checkpoint_path: Path
    checkpoint_sha256: str
    config: dict
    default_steps: int
    network: CSPNetDenoiser = field(repr=False)
    diffusion: JointDiffusion = field(repr=False)
    stats: dict = field(repr=False)
    device: str = "cpu"
    train_step: int = 0

    @property
    def has_charges(self) -> bool:
        return CHANNEL_SETS[self.config["fields"]["descriptors"]][0]

    @property
    def has_dos(self) -> bool:
        return CHANNEL_SETS[self.config["fields"]["descriptors"]][1]


def load_model(name: str = "default", checkpoint: str | Path | None = None, device: str = "cpu") -> LoadedModel:
    """Load a shipped variant by name, or any ``model.pt`` written by ``models.train``."""
    path = Path(checkpoint) if checkpoint is not None else checkpoint_path(name)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise ValueError(f"{path} is not a joint-diffusion model checkpoint")
    cfg, stats = load_config(payload["config"]), payload["stats"]  # defaults fill keys older configs lack
    net = build_network(cfg, stats)
    net.load_state_dict({k: v.to("cpu") for k, v in payload["state_dict"].items()})
    net.eval().to(device)
    if checkpoint is None:
        display = public_name(path.parent.name)  # the variant actually loaded (also for "default")
    else:
        display = public_name(cfg["name"]) if name == DEFAULT_NAME else name
    return LoadedModel(
        name=display,
        checkpoint_path=path.resolve(),
        checkpoint_sha256=sha256_file(path),
        config=cfg,
        default_steps=int(cfg["sampling"]["steps"]),
        network=net,
        diffusion=build_diffusion(cfg, stats),
        stats=stats,
        device=device,
        train_step=int(payload.get("step", 0)),
    )


def _element_indices(symbols: list[str] | None, what: str) -> list[int] | None:
    if symbols is None:
        return None
    out = []
    for s in symbols:
        try:
            z = Element(str(s).strip()).Z
        except ValueError as exc:
            raise ValueError(f"{what}: unknown element symbol {s!r}") from exc
        if z > NUM_ELEMENTS:
            raise ValueError(f"{what}: element {s} (Z={z}) is outside the model's Z = 1..{NUM_ELEMENTS}")
        out.append(z - 1)
    return sorted(set(out))


def _num_atoms_probs(stats: dict, num_atoms: tuple[int, int] | None) -> torch.Tensor:
    counts = torch.tensor(stats["num_atoms_counts"], dtype=torch.float64)
    probs = torch.zeros(MAX_NUM_ATOMS + 1, dtype=torch.float64)
    probs[: counts.shape[0]] = counts[: MAX_NUM_ATOMS + 1]
    if num_atoms is not None:
        lo, hi = int(num_atoms[0]), int(num_atoms[1])
        if not (1 <= lo <= hi <= MAX_NUM_ATOMS):
            raise ValueError(f"num_atoms range must satisfy 1 <= min <= max <= {MAX_NUM_ATOMS}, got {num_atoms}")
        window = torch.zeros_like(probs)
        window[lo : hi + 1] = 1.0
        probs = probs * window
        if probs.sum() == 0:  # the training set never had these sizes: uniform over the asked range
            probs = window
    return probs / probs.sum()


def _check_finite(value: float | None, what: str) -> None:
    if value is not None and not math.isfinite(float(value)):
        raise ValueError(f"{what} must be a finite number, got {value!r}")


def _to_crystals(model: LoadedModel, fields) -> list[GeneratedCrystal]:
    types = fields.atom_types.numpy() + 1
    frac = fields.frac_coords.numpy().astype(np.float64)
    lattices = fields.lattice.numpy().astype(np.float64)
    counts = fields.num_atoms.tolist()
    desc = model.diffusion.descriptors
    charges_all, dos_all = (
        desc.destandardize(fields.descriptors, fields.atom_types, counts) if desc is not None else (None, None)
    )
    out, start = [], 0
    for i, n in enumerate(counts):
        sl = slice(start, start + n)
        start += n
        structure = Structure(Lattice(lattices[i]), [int(z) for z in types[sl]], frac[sl])
        charges = None if charges_all is None else charges_all[sl].copy()
        dos = None if dos_all is None else dos_all[sl].copy()
        out.append(GeneratedCrystal(structure, charges, dos))
    return out


def _derived_seed(seed: int, round_index: int, batch_index: int) -> int:
    h = hashlib.sha256(f"{seed}:{round_index}:{batch_index}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def generate(
    model: LoadedModel,
    num_samples: int,
    *,
    band_gap: float | None = None,
    formation_energy_per_atom: float | None = None,
    guidance_scale: float = 2.0,
    seed: int = 0,
    steps: int | None = None,
    num_atoms: tuple[int, int] | None = None,
    allowed_elements: list[str] | None = None,
    required_elements: list[str] | None = None,
    batch_size: int = 64,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    charge_balance: bool | None = None,
) -> list[GeneratedCrystal]:
    """Generate ``num_samples`` crystals, optionally guided toward a band gap and/or formation energy.

    Guidance: each network output is uncond + γ (cond − uncond); γ = 0 or no target is unconditional.
    ``allowed_elements`` masks the element logits; ``required_elements`` rejects crystals missing any
    of them and resamples (derived seeds, at most ``MAX_RESAMPLE_ROUNDS`` rounds, then
    ``RequiredElementsError``). ``progress(fraction)`` is called after every denoising step.
    ``charge_balance`` (default: the model's ``sampling.charge_balance``, on unless its config turns it
    off) draws the element that completes each crystal conditioned on a SMACT-valid composition
    (:class:`models.charge_balance.ChargeBalanceClosing`).
    """
    if int(num_samples) != num_samples or num_samples < 0:
        raise ValueError(f"num_samples must be a non-negative integer, got {num_samples!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    _check_finite(band_gap, "band_gap")
    _check_finite(formation_energy_per_atom, "formation_energy_per_atom")
    _check_finite(guidance_scale, "guidance_scale")
    steps = model.default_steps if steps is None else int(steps)
    if steps < 1:
        raise ValueError("steps must be >= 1")

    allowed = _element_indices(allowed_elements, "allowed_elements")
    required = _element_indices(required_elements, "required_elements") or []
    if allowed is None:
        support = torch.tensor(model.stats["element_counts"]) > 0
        allowed_mask = support.clone()
        allowed_mask[required] = True
    else:
        if not allowed:
            raise ValueError("allowed_elements is empty")
        allowed_mask = torch.zeros(NUM_ELEMENTS, dtype=torch.bool)
        allowed_mask[allowed] = True
        missing = [Element.from_Z(i + 1).symbol for i in required if not allowed_mask[i]]
        if missing:
            raise ValueError(f"required elements {missing} are not in allowed_elements")
    log_mask = torch.where(allowed_mask, 0.0, float("-inf"))
    probs = _num_atoms_probs(model.stats, num_atoms)
    if required:
        max_n = int(torch.nonzero(probs > 0).max())
        if len(required) > max_n:
            raise ValueError(f"{len(required)} required elements cannot fit in cells of at most {max_n} atoms")
        probs[: len(required)] = 0.0
        probs = probs / probs.sum()

    conditions: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    settings = SamplerSettings(
        steps=steps,
        corrector_steps=int(model.config["sampling"]["corrector_steps"]),
        snr=float(model.config["sampling"]["snr"]),
        guidance_scale=float(guidance_scale),
        type_temperature=float(model.config["sampling"].get("type_temperature", 1.0)),
    )
    if charge_balance is None:
        charge_balance = bool(model.config["sampling"]["charge_balance"])
    targets = {"band_gap": band_gap, "formation_energy_per_atom": formation_energy_per_atom}
    required_set = set(int(i) for i in required)

    results: list[GeneratedCrystal] = []
    total_units = math.ceil(num_samples / batch_size) * steps if num_samples else 1
    done_units = 0
    last_fraction = 0.0

    def report(units: int) -> None:
        nonlocal last_fraction
        if progress is not None:
            last_fraction = max(last_fraction, min(1.0, units / max(total_units, 1)))
            progress(last_fraction)

    for round_index in range(MAX_RESAMPLE_ROUNDS + 1):
        need = num_samples - len(results)
        if need <= 0:
            break
        if round_index > 0:
            total_units += math.ceil(need / batch_size) * steps
        n_batches = math.ceil(need / batch_size)
        for batch_index in range(n_batches):
            b = min(batch_size, need - batch_index * batch_size)
            if should_stop is not None and should_stop():
                raise GenerationCancelled(results)
            gen = torch.Generator().manual_seed(_derived_seed(int(seed), round_index, batch_index))
            n_atoms = torch.multinomial(probs, b, replacement=True, generator=gen)
            for key, value in targets.items():
                if value is not None:
                    conditions[key] = (torch.full((b,), float(value)), torch.ones(b, dtype=torch.bool))
            base_units = done_units

            def on_step(k: int, total: int, base: int = base_units) -> bool:
                report(base + k)
                return bool(should_stop is not None and should_stop())

            try:
                fields = model.diffusion.sample(
                    model.network, n_atoms, settings, conditions, log_mask, gen, on_step,
                    type_constraint=ChargeBalanceClosing() if charge_balance else None,
                )
            except SamplingStopped:
                raise GenerationCancelled(results) from None
            done_units += steps
            for crystal in _to_crystals(model, fields):
                if required_set:
                    present = {site.specie.Z - 1 for site in crystal.structure}
                    if not required_set <= present:
                        continue
                if len(results) < num_samples:
                    results.append(crystal)
    if len(results) < num_samples:
        names = [Element.from_Z(i + 1).symbol for i in sorted(required_set)]
        raise RequiredElementsError(
            f"only {len(results)} of {num_samples} crystals contained all required elements {names} after "
            f"{MAX_RESAMPLE_ROUNDS} resampling rounds; relax required_elements or allowed_elements"
        )
    report(total_units)
    return results


def __getattr__(name: str):
    """``main`` and ``write_outputs`` live in :mod:`models.sample_cli`; imported lazily so that module
    can import this one."""
    if name in ("main", "write_outputs"):
        from models import sample_cli

        return getattr(sample_cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from models.sample_cli import main

    raise SystemExit(main())
