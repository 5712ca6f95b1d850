"""Default and ``--quick`` sizes of each suite, in one place so the report can state them.

Full sizes: 1,000 samples per variant for validity and speed. The inverse grid is sized by the
statistics it must resolve: with 7 guided targets × 86 crystals each variant has 602 guided crystals
pooled (standard error of a rate ≤ 2 points, so a 5-point difference between two variants is about
1.8 standard errors of the difference), and its unconditional cell has 300. The projected core-hours
are in ``benchmarks/README.md`` and each run's ``estimate.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

BAND_GAP_TARGETS = [1.0, 2.0, 3.0, 4.0]  # eV
FORMATION_ENERGY_TARGETS = [-1.0, -2.0, -3.0]  # eV/atom


def target_grid() -> list[dict | None]:
    """Each band gap, each formation energy, then unconditional (None)."""
    return (
        [{"band_gap": g} for g in BAND_GAP_TARGETS]
        + [{"formation_energy_per_atom": e} for e in FORMATION_ENERGY_TARGETS]
        + [None]
    )


def target_label(target: dict | None) -> str:
    if not target:
        return "unconditional"
    parts = []
    for k, v in target.items():
        parts.append(f"band gap {v:g} eV" if k == "band_gap" else f"E_form {v:g} eV/atom")
    return ", ".join(parts)


def target_key(target: dict | None) -> str:
    if not target:
        return "uncond"
    return "_".join(f"{'bg' if k == 'band_gap' else 'ef'}{v:+g}" for k, v in target.items())


@dataclass
class SamplingSettings:
    samples: int = 1000  # per variant, unconditional and guided each
    guided_band_gap: float = 3.0
    guidance: float = 2.0
    steps_sweep: list[int] = field(default_factory=lambda: [1000, 500, 200, 100])
    sweep_samples: int = 64  # per step count, one batch (the default step count reuses the `samples` run)
    batch_size: int = 64
    seed: int = 0
    # type-leak check (benchmarks.type_leak): validation crystals, diffusion time, generator seed
    leak_crystals: int = 256
    leak_t: float = 0.2
    leak_seed: int = 1234

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class InverseSettings:
    samples_per_cell: int = 86  # per guided cell: 7 targets × 86 = 602 guided crystals per variant
    uncond_samples: int = 300  # the unconditional cell (also the γ = 0 rows of the sweep)
    relax_steps: int = 100  # CHGNet FIRE steps (fmax 0.1 eV/Å); most MP-like cells converge far sooner
    guidance: float = 2.0
    gamma_sweep: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0, 4.0])
    # γ = 0 and γ = 2 exist for every target (re-scored unconditional crystals / the main grid);
    # γ = 1 and 4 cost new cells, so they run on one target per property.
    sweep_targets: list[dict] = field(
        default_factory=lambda: [{"band_gap": 3.0}, {"formation_energy_per_atom": -2.0}]
    )
    steps: int | None = None  # the model's default
    batch_size: int = 64
    seed: int = 0
    charge_balance: bool = True  # the sampling default (models/charge_balance.py); results before 2026-12-06: off

    def as_dict(self) -> dict:
        return asdict(self)


def sampling_settings(quick: bool, samples: int | None = None, seed: int = 0) -> SamplingSettings:
    s = SamplingSettings(seed=seed)
    if quick:
        # 64 = one default batch, so the quick speed figure is the default-settings speed
        s.samples, s.sweep_samples, s.steps_sweep, s.leak_crystals = 64, 16, [200, 100], 64
    if samples is not None:
        s.samples = samples
        s.sweep_samples = min(s.sweep_samples, samples)
    return s


def inverse_settings(
    quick: bool, samples: int | None = None, relax_steps: int | None = None, seed: int = 0,
    charge_balance: bool | None = None,
) -> InverseSettings:
    s = InverseSettings(seed=seed)
    if charge_balance is not None:
        s.charge_balance = charge_balance
    if quick:
        s.samples_per_cell, s.uncond_samples, s.relax_steps = 4, 4, 20
    if samples is not None:
        s.samples_per_cell = s.uncond_samples = samples
    if relax_steps is not None:
        s.relax_steps = relax_steps
    return s
