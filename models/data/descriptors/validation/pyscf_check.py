"""PySCF second opinion on the DFT descriptor path: periodic PBE with Gaussian orbitals + Bader.

The production path (``gpaw_path.run_crystal``) is GPAW LCAO PBE with PAW setups and Bader on the
*all-electron* density. This module recomputes the same quantities for a few small known crystals
with an independent code and basis so the numbers can be compared:

- ``pyscf.pbc`` restricted Kohn–Sham, PBE, GTH-PBE pseudopotentials, ``gth-dzvp-molopt-sr`` basis,
  Γ-centred n×n×n k-mesh (plain Monkhorst–Pack grid, no symmetry reduction), Gaussian density
  fitting (GDF) for the Coulomb term and atom-centred Becke grids for the XC integral (pyscf's
  ``density_fit()`` default for a pure functional; the uniform FFT mesh the sharp semicore GTH
  functions would need is ~160³ points and far too slow on one core);
- the valence density ρ(r) = (1/N_k) Σ_k Σ_μν φ_μ^k(r) D^k_μν φ_ν^k(r)* is evaluated on a uniform
  real-space grid of the cell (spacing ≈ ``grid_spacing`` Å, point (0,0,0) at the cell origin) and
  partitioned with pybader through ``models.data.descriptors.bader.bader_net_charges``.

Charge convention (pseudo-valence): net charge = Z_ion − Bader population, where Z_ion is the
valence charge of the site's GTH pseudopotential (Na 9, Cl 7, Mg 10, O 6, Ga 13, As 5: the GTH-PBE
defaults include the Na 2s2p, Mg 2s2p and Ga 3d semicore shells) and the population is the basin
integral of the pseudo-valence density. GPAW's production numbers are Z − population of the
all-electron density. The core electrons that the pseudopotential removes sit deep inside the
atom's own basin, so both are net charges of the same Bader basins and can be compared directly.
Small differences come from the basis, the pseudo- vs all-electron density near the nuclei, and the
Bader grid. The density integrates to Σ Z_ion only up to the uniform grid's quadrature error (the
semicore functions are sharp), so the residual Σq is reported, not forced to zero.

Band gap: min over the k-mesh of the lowest unoccupied level − max of the highest occupied level
(same definition as the production path's gap on its SCF grid; the meshes differ, see the JSON).

Run (one core): ``python -m models.data.descriptors.validation.pyscf_check [--crystals NaCl MgO]
[--kmesh 3] [--grid-spacing 0.08 0.12] [--out pyscf_check.json]``. Writes the JSON (re-running a
crystal replaces its record) and prints a markdown table next to the GPAW production numbers from
``validation.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from models.data.descriptors.validation.crystals import known_crystal
from models.data.descriptors.validation.report import per_element_charges

HERE = Path(__file__).resolve().parent
BOHR = 0.52917721092  # Å
HARTREE = 27.211386245988  # eV

BASIS = "gth-dzvp-molopt-sr"
PSEUDO = "gth-pbe"
DEFAULT_CRYSTALS = ["NaCl", "MgO"]  # GaAs works too (--crystals GaAs) but costs several times more


def build_cell(
    structure, basis: str = BASIS, pseudo: str = PSEUDO, precision: float = 1e-6, verbose: int = 0
):
    """pyscf.pbc Cell of ``structure`` (site order kept); ``precision`` sets pyscf's lattice-sum cutoffs."""
    from pyscf.pbc import gto

    cell = gto.Cell()
    cell.a = np.asarray(structure.lattice.matrix, dtype=np.float64)
    cell.atom = [(site.specie.symbol, tuple(site.coords)) for site in structure]
    cell.unit = "Angstrom"
    cell.basis = basis
    cell.pseudo = pseudo
    cell.precision = precision
    cell.verbose = verbose
    cell.build()
    return cell


def uniform_mesh(cell, grid_spacing: float) -> list[int]:
    """Points per lattice vector so the spacing is at most ``grid_spacing`` Å (even counts)."""
    lengths = np.linalg.norm(cell.lattice_vectors(), axis=1) * BOHR
    return [int(2 * math.ceil(n / 2)) for n in np.ceil(lengths / grid_spacing)]


def valence_density(
    cell, kpts: np.ndarray, dm_kpts: np.ndarray, mesh: list[int], chunk: int = 4096
) -> np.ndarray:
    """Pseudo-valence density (e/Å³) on the uniform ``mesh`` of the cell, index (i,j,k) ↔ (i/n0, j/n1, k/n2)."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in mesh], indexing="ij"), axis=-1).reshape(-1, 3)
    coords = (idx / np.asarray(mesh, dtype=np.float64)) @ cell.lattice_vectors()  # Bohr
    nk = len(kpts)
    rho = np.empty(len(coords))
    for start in range(0, len(coords), chunk):
        stop = min(start + chunk, len(coords))
        ao = np.asarray(cell.pbc_eval_gto("GTOval", coords[start:stop], kpts=kpts))
        ao = ao.reshape(nk, stop - start, -1)
        acc = np.zeros(stop - start)
        for k in range(nk):
            acc += np.einsum("gi,gi->g", ao[k] @ dm_kpts[k], ao[k].conj()).real
        rho[start:stop] = acc / nk
    return rho.reshape(mesh) / BOHR**3


def band_edges(mo_energy: list[np.ndarray], nocc: int) -> tuple[float, float]:
    """(VBM, CBM) in eV over all k-points of a closed-shell calculation."""
    vbm = max(float(e[nocc - 1]) for e in mo_energy) * HARTREE
    cbm = min(float(e[nocc]) for e in mo_energy) * HARTREE
    return vbm, cbm


def run_crystal(
    structure,
    kmesh: int = 3,
    grid_spacing: float | list[float] = 0.08,
    basis: str = BASIS,
    precision: float = 1e-6,
    grids_level: int = 3,
    conv_tol: float = 1e-8,
    verbose: int = 0,
) -> dict:
    """PBE + pseudo-valence Bader for one structure; a JSON-ready record.

    ``grid_spacing`` (Å) may be a list: the density is partitioned on each grid, the finest grid's
    charges are the result and all are kept under ``bader_grids``.
    """
    from pyscf.pbc import dft

    from models.data.descriptors.bader import bader_net_charges

    t0 = time.perf_counter()
    cell = build_cell(structure, basis=basis, precision=precision, verbose=verbose)
    kpts = cell.make_kpts([kmesh] * 3)  # Γ-centred
    mf = dft.KRKS(cell, kpts)
    mf.xc = "PBE"
    mf = mf.density_fit()  # GDF, Coulomb only (PBE has no exact exchange), atom-centred Becke XC grids
    mf.grids.level = grids_level
    mf.conv_tol = conv_tol
    energy = float(mf.kernel())
    t_scf = time.perf_counter() - t0

    nocc = cell.nelectron // 2
    vbm, cbm = band_edges(mf.mo_energy, nocc)
    dm = np.asarray(mf.make_rdm1())

    z_ion = np.asarray(cell.atom_charges(), dtype=np.float64)
    cell_ang = np.asarray(structure.lattice.matrix, dtype=np.float64)
    positions = np.asarray([site.coords for site in structure], dtype=np.float64)
    # Finest grid first: its charges are the result; coarser grids are kept to show grid convergence.
    spacings = sorted({float(h) for h in np.atleast_1d(grid_spacing)})
    t_rho = t_bader = 0.0
    per_grid = []
    for h in spacings:
        t1 = time.perf_counter()
        mesh = uniform_mesh(cell, h)
        rho = valence_density(cell, kpts, dm, mesh)
        t2 = time.perf_counter()
        b = bader_net_charges(rho, cell_ang, positions, z_ion)
        t_rho += t2 - t1
        t_bader += time.perf_counter() - t2
        per_grid.append(
            {
                "grid_spacing": h,
                "mesh": mesh,
                "charges": [round(float(q), 5) for q in b.net_charges],
                "charge_residual": float(b.residual),
                "seconds": time.perf_counter() - t1,
            }
        )
        if len(per_grid) == 1:
            bader, finest_mesh = b, mesh

    return {
        "formula": structure.composition.reduced_formula,
        "species": [site.specie.symbol for site in structure],
        "lattice_abc": [float(x) for x in structure.lattice.abc],
        "z_ion": z_ion.tolist(),
        "charges": [round(float(q), 5) for q in bader.net_charges],
        "populations": [round(float(p), 5) for p in bader.populations],
        "charge_residual": float(bader.residual),
        "grid_electrons": bader.total_electrons,
        "valence_electrons": int(cell.nelectron),
        "band_gap": cbm - vbm,
        "vbm": vbm,
        "cbm": cbm,
        "energy_ev": energy * HARTREE,
        "converged": bool(mf.converged),
        "nao": int(cell.nao_nr()),
        "seconds": time.perf_counter() - t0,
        "seconds_scf": t_scf,
        "seconds_density": t_rho,
        "seconds_bader": t_bader,
        "bader_grids": per_grid,
        "settings": {
            "code": "pyscf " + __import__("pyscf").__version__,
            "xc": "PBE",
            "basis": basis,
            "pseudo": PSEUDO,
            "kmesh": [kmesh] * 3,
            "kmesh_type": "Gamma-centred, no symmetry",
            "coulomb": "GDF (J only)",
            "xc_grids": f"Becke level {grids_level}",
            "cell_precision": precision,
            "conv_tol_hartree": conv_tol,
            "bader_grid": finest_mesh,
            "grid_spacing_target": spacings[0],
            "charge_convention": "Z_ion(GTH) - Bader population of the pseudo-valence density",
        },
    }


def gpaw_reference() -> dict[str, dict]:
    """GPAW production numbers per crystal (element → mean charge, gap) from ``validation.json``."""
    from models.data.descriptors.settings import DEFAULT_SETTINGS

    prod = DEFAULT_SETTINGS.model_dump()
    return {
        r["crystal"]: {"charges": per_element_charges(r), "band_gap": r["band_gap"]}
        for r in json.loads((HERE / "validation.json").read_text())
        if "error" not in r and r.get("settings") == prod
    }


def _fmt_charges(d: dict[str, float]) -> str:
    return ", ".join(f"{s} {q:+.3f}" for s, q in d.items())


def markdown_table(records: list[dict], reference: dict[str, dict]) -> str:
    lines = [
        "| crystal | k-mesh | Bader grid | PySCF charges (e) | GPAW charges (e) | Δq (cation) | Σq residual "
        "| PySCF gap (eV) | GPAW gap (eV) | Δgap | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['crystal']} | – | – | error: {r['error'][:60]} | | | | | | | |")
            continue
        ours = per_element_charges(r)
        ref = reference.get(r["crystal"])
        cation = r["species"][0]
        k = "×".join(str(n) for n in r["settings"]["kmesh"])
        grid = "×".join(str(n) for n in r["settings"]["bader_grid"])
        if ref:
            dq = f"{ours[cation] - ref['charges'][cation]:+.3f}"
            dg = f"{r['band_gap'] - ref['band_gap']:+.3f}"
            ref_q, ref_g = _fmt_charges(ref["charges"]), f"{ref['band_gap']:.3f}"
        else:
            dq = dg = ref_q = ref_g = "–"
        lines.append(
            f"| {r['crystal']} | {k} | {grid} | {_fmt_charges(ours)} | {ref_q} | {dq} | {r['charge_residual']:+.1e} "
            f"| {r['band_gap']:.3f} | {ref_g} | {dg} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crystals", nargs="+", default=DEFAULT_CRYSTALS)
    ap.add_argument("--kmesh", type=int, default=3, help="n for a Γ-centred n×n×n mesh")
    ap.add_argument(
        "--grid-spacing",
        type=float,
        nargs="+",
        default=[0.08, 0.12],
        help="Bader grid spacing target(s), Å; the finest gives the charges",
    )
    ap.add_argument("--basis", default=BASIS)
    ap.add_argument("--precision", type=float, default=1e-6, help="pyscf cell.precision (lattice sums)")
    ap.add_argument("--grids-level", type=int, default=3, help="Becke XC grid level")
    ap.add_argument("--out", default=str(HERE / "pyscf_check.json"))
    ap.add_argument("--verbose", type=int, default=0)
    args = ap.parse_args()

    out = Path(args.out)
    # Re-running a crystal replaces its record; records of other crystals are kept.
    records = [
        r
        for r in (json.loads(out.read_text()) if out.exists() else [])
        if r.get("crystal") not in args.crystals
    ]
    for name in args.crystals:
        try:
            r = run_crystal(
                known_crystal(name),
                kmesh=args.kmesh,
                grid_spacing=args.grid_spacing,
                basis=args.basis,
                precision=args.precision,
                grids_level=args.grids_level,
                verbose=args.verbose,
            )
        except Exception as exc:  # keep going; the error is recorded
            r = {"error": f"{type(exc).__name__}: {exc}"}
        r["crystal"] = name
        records.append(r)
        print(name, r.get("charges"), r.get("band_gap"), r.get("seconds"), r.get("error", ""), flush=True)
        out.write_text(json.dumps(records, indent=1))
    print()
    print(markdown_table(records, gpaw_reference()))


if __name__ == "__main__":
    main()
