"""Read generated crystals as written by ``python -m models.sample`` (or any CIF folder / extxyz).

Accepted inputs:

* a sample directory: ``samples.extxyz`` (structures + per-site ``bader_charge``) if present, else CIFs in
  ``cif/`` or the directory itself; ``dos.json`` (``{"samples": [{"index", "dos"}]}``) adds DOS;
* an ``.extxyz`` / ``.xyz`` file (a ``dos.json`` beside it is picked up);
* a single ``.cif`` file.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from models.crystal_io import EXTXYZ_CHARGE_ARRAY
from models.data.descriptor_spec import DOS_BINS


@dataclass
class GeneratedSet:
    names: list[str]
    structures: list[Structure]
    charges: list[np.ndarray | None] = field(default_factory=list)
    dos: list[np.ndarray | None] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.structures)


def _read_extxyz(path: Path) -> tuple[list[str], list[Structure], list[np.ndarray | None]]:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        frames = read(str(path), index=":", format="extxyz")
    except Exception as exc:
        raise ValueError(f"cannot read {path} as extxyz: {exc}") from exc
    names, structures, charges = [], [], []
    for i, atoms in enumerate(frames):
        idx = int(atoms.info.get("sample_index", i))
        names.append(f"sample_{idx:04d}")
        structures.append(AseAtomsAdaptor.get_structure(atoms))
        q = None
        if EXTXYZ_CHARGE_ARRAY in atoms.arrays:  # what the CLI and the web archive write
            q = atoms.arrays[EXTXYZ_CHARGE_ARRAY]
        # files from other tools: ASE turns a per-site "charges" array into a calculator result
        elif atoms.calc is not None and "charges" in getattr(atoms.calc, "results", {}):
            q = atoms.calc.results["charges"]
        elif "charges" in atoms.arrays:
            q = atoms.arrays["charges"]
        elif "initial_charges" in atoms.arrays and np.any(atoms.arrays["initial_charges"]):
            q = atoms.arrays["initial_charges"]
        charges.append(None if q is None else np.asarray(q, dtype=np.float64))
    return names, structures, charges


def _read_dos(path: Path, names: list[str]) -> list[np.ndarray | None]:
    if not path.exists():
        return [None] * len(names)
    data = json.loads(path.read_text())
    by_index = {int(r["index"]): np.asarray(r["dos"], dtype=np.float64) for r in data.get("samples", [])}
    out: list[np.ndarray | None] = []
    for name in names:
        idx = int(name.rsplit("_", 1)[-1]) if name.rsplit("_", 1)[-1].isdigit() else None
        d = by_index.get(idx) if idx is not None else None
        if d is not None and (d.ndim != 2 or d.shape[1] != DOS_BINS):
            raise ValueError(
                f"{path}: DOS of sample {idx} has shape {d.shape}, expected (n_sites, {DOS_BINS})"
            )
        out.append(d)
    return out


def _read_cif(path: Path) -> Structure:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_file(str(path))
    except Exception as exc:
        raise ValueError(f"cannot parse CIF {path}: {exc}") from exc


def load_generated(path: str | Path) -> GeneratedSet:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if p.is_file():
        if p.suffix.lower() in (".extxyz", ".xyz"):
            names, structures, charges = _read_extxyz(p)
            return GeneratedSet(names, structures, charges, _read_dos(p.parent / "dos.json", names), str(p))
        if p.suffix.lower() == ".cif":
            return GeneratedSet([p.stem], [_read_cif(p)], [None], [None], str(p))
        raise ValueError(f"{p}: expected a directory, an .extxyz/.xyz file or a .cif file")
    extxyz = p / "samples.extxyz"
    if extxyz.exists():
        names, structures, charges = _read_extxyz(extxyz)
    else:
        cif_dir = p / "cif" if (p / "cif").is_dir() else p
        files = sorted(cif_dir.glob("*.cif"))
        names = [f.stem for f in files]
        structures = [_read_cif(f) for f in files]
        charges = [None] * len(files)
    if not structures:
        raise ValueError(f"{p}: no crystals found (expected samples.extxyz or *.cif files)")
    dos = _read_dos(p / "dos.json", names)
    for name, s, q, d in zip(names, structures, charges, dos, strict=True):
        if q is not None and len(q) != len(s):
            raise ValueError(f"{name}: {len(q)} charges for {len(s)} sites")
        if d is not None and len(d) != len(s):
            raise ValueError(f"{name}: DOS for {len(d)} sites, structure has {len(s)}")
    return GeneratedSet(names, structures, charges, dos, str(p))
