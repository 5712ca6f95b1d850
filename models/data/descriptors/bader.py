"""Bader net charges per site from a density on a periodic real-space grid, via ``pybader``.

Convention (see ``models.data.descriptor_spec``): net charge = nuclear charge Z − electron population
of the site's Bader basin of the *all-electron* density. GPAW's all-electron density includes the
frozen core, so the basin populations add up to ΣZ (up to grid-integration error) and the net charges
of a neutral cell add up to ~0; the residual is returned so callers can record it.
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from dataclasses import dataclass
from importlib import metadata

import numpy as np


def _install_pkg_resources_shim() -> None:
    """Let ``import pybader`` work on setuptools ≥ 81, which no longer ships ``pkg_resources``.

    pybader 0.3.12 only uses ``pkg_resources.iter_entry_points`` (to find its own first-run hooks:
    writing its config file and warming its numba cache). ``importlib.metadata`` answers the same
    question, so a two-function module is enough; nothing else of ``pkg_resources`` is touched.
    """
    try:
        import pkg_resources  # noqa: F401

        return
    except ImportError:
        pass
    shim = types.ModuleType("pkg_resources")

    def iter_entry_points(group: str, name: str | None = None):
        for ep in metadata.entry_points(group=group):
            if name is None or ep.name == name:
                yield ep

    def resource_listdir(package: str, resource: str) -> list[str]:  # imported, never called by pybader
        raise NotImplementedError("pkg_resources shim: resource_listdir is not provided")

    shim.iter_entry_points = iter_entry_points  # type: ignore[attr-defined]
    shim.resource_listdir = resource_listdir  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim


@dataclass(frozen=True)
class BaderResult:
    """Per-site Bader partition of one density."""

    populations: np.ndarray  # (n,) electrons in each site's basin
    net_charges: np.ndarray  # (n,) Z − population
    residual: float  # Σ net charges (≈ 0 for a neutral cell; grid-integration error)
    total_electrons: float  # ∫ρ over the cell


def bader_net_charges(
    density: np.ndarray, cell: np.ndarray, positions: np.ndarray, atomic_numbers: np.ndarray
) -> BaderResult:
    """Partition ``density`` (e/Å³ on a periodic grid whose point (0,0,0) is the cell origin).

    ``cell`` rows are lattice vectors (Å); ``positions`` Cartesian (Å), in the site order the caller
    wants the charges in. pybader's on-grid "neargrid" method with its default refinement is used.
    """
    _install_pkg_resources_shim()
    with contextlib.redirect_stdout(io.StringIO()):
        from pybader.interface import Bader

        cell = np.asarray(cell, dtype=np.float64)
        frac = np.linalg.solve(cell.T, np.asarray(positions, dtype=np.float64).T).T % 1.0
        cart = frac @ cell
        rho = np.ascontiguousarray(density, dtype=np.float64)
        file_info = {"filename": "gpaw-density", "prefix": "", "voxel_offset": np.zeros(3)}
        bader = Bader({"charge": rho, "spin": None}, cell, cart, file_info, output="none", threads=1)
        bader()
    populations = np.asarray(bader.atoms_charge, dtype=np.float64)
    z = np.asarray(atomic_numbers, dtype=np.float64)
    net = z - populations
    total = float(rho.sum() * abs(np.linalg.det(cell)) / rho.size)
    return BaderResult(populations=populations, net_charges=net, residual=float(net.sum()), total_electrons=total)
