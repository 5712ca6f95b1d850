"""One CHGNet instance per process, for static energies and relaxations.

CHGNet 0.3.0 (weights inside the ``chgnet`` wheel, nothing downloaded) is the single energy model of
the evaluation: the reference hull, the generated crystals' relaxed energies and the formation
energies all come from it, so every energy difference the metrics take is on one scale.

Measured on one idle core (torch and BLAS limited to one thread, MP-20 crystals with ~10 sites): a
static energy costs ~0.03 s per crystal; relaxing an MP crystal to fmax 0.1 eV/Å takes 2–4 FIRE
steps, ~0.1–0.3 s. Thread counts are the process's business: the entry points (CLI mains, worker
process init, benchmark worker init) set them, never this library.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pymatgen.core import Structure


@lru_cache(maxsize=1)
def chgnet_model():
    """Load CHGNet once (≈2 s), on the CPU."""
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CHGNet.load(verbose=False, use_device="cpu")


# CHGNet's graph converter is shared by every caller of ``chgnet_model()``, and chgnet's calculator
# silently switches it to "warn" on isolated atoms. An atom with no neighbour within 6 Å gives a
# meaningless energy, so every entry point here sets "error" explicitly: the answer for such a cell
# must not depend on whether a relaxation happened to run earlier in the process.
ISOLATED_ATOMS = "error"


def static_energy_per_atom(structure: Structure) -> float:
    """CHGNet energy (eV/atom) of ``structure`` as given, without moving any atom."""
    model = chgnet_model()
    model.graph_converter.set_isolated_atom_response(ISOLATED_ATOMS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict_structure(structure, task="e")
    return float(np.asarray(pred["e"]).reshape(-1)[0])


@dataclass
class Relaxation:
    """Outcome of a CHGNet relaxation (positions and cell)."""

    structure: Structure
    energy_per_atom: float
    initial_energy_per_atom: float
    n_steps: int
    converged: bool


def relax(structure: Structure, fmax: float = 0.1, steps: int = 500) -> Relaxation:
    """Relax positions and cell with FIRE until max force < ``fmax`` eV/Å or ``steps`` is reached."""
    from chgnet.model import StructOptimizer

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = StructOptimizer(
            model=chgnet_model(), optimizer_class="FIRE", use_device="cpu", on_isolated_atoms=ISOLATED_ATOMS
        )
        out = opt.relax(structure, fmax=fmax, steps=steps, relax_cell=True, verbose=False)
    traj = out["trajectory"]
    n = len(structure)
    energies = np.asarray(traj.energies, dtype=float).reshape(-1)
    n_steps = min(max(len(energies) - 1, 0), steps)
    # FIRE stops early only when its own criterion (atomic forces and cell stress < fmax) is met.
    converged = n_steps < steps
    return Relaxation(
        structure=out["final_structure"],
        energy_per_atom=float(energies[-1]) / n,
        initial_energy_per_atom=float(energies[0]) / n,
        n_steps=n_steps,
        converged=converged,
    )
