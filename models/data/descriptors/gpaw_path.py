"""The DFT reference path: one crystal → total energy, band edges, Bader net charges and atomic DOS.

Plain PBE (no +U, no van der Waals), GPAW in LCAO mode, settings from ``DFTSettings`` (recorded with
the result). Magnetic treatment: see ``magnetism``. Charges: Bader basins of the all-electron density
(``get_all_electron_density``, refined grid), net charge = Z − basin population, see ``bader``. DOS:
LCAO atomic-subspace projection, see ``atomic_dos``. Runs serially in the calling process; the batch
runner calls it in a subprocess per crystal so a hung SCF can be killed.
"""

from __future__ import annotations

import io
import os
import platform
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, DOS_NORM
from models.data.descriptors.atomic_dos import site_dos, site_state_weights
from models.data.descriptors.bader import bader_net_charges
from models.data.descriptors.band_gap import band_edges
from models.data.descriptors.magnetism import feasible_initial_moments, initial_moments
from models.data.descriptors.settings import DEFAULT_SETTINGS, DFTSettings


def gpaw_setup_path() -> Path:
    """PAW setups shipped by the ``gpaw-data`` wheel; made explicit so GPAW never looks elsewhere."""
    import gpaw_data

    path = Path(gpaw_data.__file__).resolve().parent / "setups"
    if not path.is_dir():
        raise RuntimeError(f"gpaw-data is installed but has no setups folder at {path}")
    return path


def _ensure_setup_path() -> None:
    from gpaw import setup_paths

    path = gpaw_setup_path()
    if all(Path(p).resolve() != path for p in setup_paths):
        setup_paths.insert(0, str(path))


def orthogonality_defect(matrix: np.ndarray) -> float:
    """∏|a_i| / V: 1 for an orthogonal cell, large for a strongly skewed one."""
    m = np.asarray(matrix, dtype=np.float64)
    return float(np.prod(np.linalg.norm(m, axis=1)) / abs(np.linalg.det(m)))


def better_shaped_cell(structure: Structure) -> Structure:
    """The same crystal (same sites, same order) on its Niggli-reduced lattice, right-handed, if that
    lattice is clearly less skewed (orthogonality defect < 0.9 × the given one); else unchanged.

    Why: GPAW's real-space grid resolves strongly skewed cells badly (rhombohedral BN mp-13150, a 37°
    cell: gap 1.69 eV as given vs 4.40 eV reduced, MP 4.48). Cells that are already reasonable are
    left alone, because a different but equivalent cell changes the grid and with it the Bader
    partition of covalent crystals (Si on a reshaped fcc cell: ±0.15 e instead of ±0.001 e).
    """
    reduced = structure.get_reduced_structure(reduction_algo="niggli")
    matrix = reduced.lattice.matrix
    if orthogonality_defect(matrix) >= 0.9 * orthogonality_defect(structure.lattice.matrix):
        return structure
    if np.linalg.det(matrix) < 0:  # Niggli may return a left-handed basis; −I keeps the lattice
        matrix = -matrix
    return Structure(
        matrix,
        [site.species for site in structure],
        structure.cart_coords,
        coords_are_cartesian=True,
        to_unit_cell=True,
    )


def _eigenvalues(calc) -> np.ndarray:
    nspins = calc.get_number_of_spins()
    nk = len(calc.get_ibz_k_points())
    return np.array([[calc.get_eigenvalues(kpt=k, spin=s) for k in range(nk)] for s in range(nspins)])


def run_crystal(
    structure: Structure, settings: DFTSettings = DEFAULT_SETTINGS, txt: str | Path | None = None
) -> dict[str, Any]:
    """Run the reference path on ``structure`` (site order kept) and return a JSON-ready record."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import gpaw
    from gpaw import GPAW

    _ensure_setup_path()
    t0 = time.perf_counter()
    symbols = [site.specie.symbol for site in structure]
    if settings.cell == "niggli":
        structure = better_shaped_cell(structure)
        if [site.specie.symbol for site in structure] != symbols:
            raise RuntimeError("cell reduction changed the site order")
    atoms = AseAtomsAdaptor.get_atoms(structure)
    if atoms.get_chemical_symbols() != symbols:
        raise RuntimeError("ASE conversion changed the site order")
    if any(not site.is_ordered for site in structure):
        raise ValueError("disordered structures are not supported")
    kgrid = settings.kpoint_grid(atoms.cell[:])
    magmoms = initial_moments(symbols, settings.spin_policy)
    if magmoms is not None:
        magmoms = feasible_initial_moments(symbols, magmoms, settings.xc, settings.basis)
    params: dict[str, Any] = dict(
        mode="lcao",
        basis=settings.basis,
        xc=settings.xc,
        h=settings.h,
        kpts={"size": kgrid, "gamma": True},
        occupations={"name": "fermi-dirac", "width": settings.smearing_ev},
        nbands="nao",
        maxiter=settings.maxiter,
        txt=str(txt) if txt is not None else None,
        legacy_gpaw=settings.engine == "legacy",
    )
    if magmoms is not None:
        atoms.set_initial_magnetic_moments(magmoms)
        params["spinpol"] = True
    calc = GPAW(**params)
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    t_scf = time.perf_counter() - t0

    fermi = float(calc.get_fermi_level())
    eps_skn = _eigenvalues(calc)
    edges = band_edges(eps_skn, fermi)
    final_moments = None
    total_moment = None
    if magmoms is not None:
        final_moments = [float(m) for m in calc.get_magnetic_moments()]
        total_moment = float(calc.get_magnetic_moment())

    t1 = time.perf_counter()
    energies, weights = site_state_weights(calc, len(atoms), eps_skn)
    dos = site_dos(energies, weights, edges.reference_energy)
    t_dos = time.perf_counter() - t1

    t2 = time.perf_counter()
    density = calc.get_all_electron_density(gridrefinement=settings.gridrefinement)
    with redirect_stdout(io.StringIO()):
        bader = bader_net_charges(density, atoms.cell[:], atoms.positions, atoms.numbers)
    t_bader = time.perf_counter() - t2

    dos_area = np.trapezoid(dos, DOS_ENERGIES, axis=-1)
    if not np.allclose(dos_area, DOS_NORM, atol=1e-6) or dos.shape != (len(atoms), DOS_BINS):
        raise RuntimeError("site DOS does not honour descriptor_spec normalisation")
    return {
        "formula": structure.composition.reduced_formula,
        "n_sites": len(structure),
        "species": symbols,
        "energy_ev": energy,
        "energy_per_atom_ev": energy / len(atoms),
        "band_gap": float(edges.gap),
        "vbm": edges.vbm,
        "cbm": edges.cbm,
        "is_metal": bool(edges.is_metal),
        "fermi_level": fermi,
        "dos_reference": "fermi" if edges.is_metal else "vbm",
        "reference_energy": float(edges.reference_energy),
        "charges": [round(float(q), 5) for q in bader.net_charges],
        "charge_residual": float(bader.residual),
        "bader_total_electrons": float(bader.total_electrons),
        "dos": [[float(f"{v:.5g}") for v in row] for row in dos],
        "spin_polarized": magmoms is not None,
        "initial_magmoms": magmoms,
        "final_magmoms": final_moments,
        "total_magmom": total_moment,
        "kpts": list(kgrid),
        "n_ibz_kpts": int(len(calc.get_ibz_k_points())),
        "n_bands": int(calc.get_number_of_bands()),
        "density_grid": list(density.shape),
        "seconds": time.perf_counter() - t0,
        "seconds_scf": t_scf,
        "seconds_dos": t_dos,
        "seconds_bader": t_bader,
        "settings": settings.model_dump(),
        "code": {"gpaw": gpaw.__version__, "python": platform.python_version()},
    }
