"""The job archive, built in-process from structures the worker's own run_chunk stored."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from ase.io import read
from sqlalchemy import select

from app.core.db import get_sessionmaker
from app.services.archive import build_archive
from app.tables import Job, Structure
from models.crystal_io import EXTXYZ_CHARGE_ARRAY, EXTXYZ_DOS_ARRAY, charges_from_cif
from worker.tasks import run_chunk


def _archive(job_id) -> zipfile.ZipFile:
    with get_sessionmaker()() as session:
        spool = build_archive(session, session.get(Job, job_id))
        return zipfile.ZipFile(io.BytesIO(spool.read()))


def test_archive_holds_every_structure_once_in_each_format(job_factory):
    job = job_factory(num_samples=5, chunk_size=2, seed=41, steps=5)
    for index in range(job.num_chunks):
        assert run_chunk(str(job.id), index) == "committed"
    zf = _archive(job.id)
    manifest = json.loads(zf.read("manifest.json"))
    assert [s["sample_index"] for s in manifest["structures"]] == [0, 1, 2, 3, 4]
    assert sorted(n for n in zf.namelist() if n.startswith("cif/")) == sorted(s["cif"] for s in manifest["structures"])
    frames = read(io.StringIO(zf.read("structures.extxyz").decode()), index=":", format="extxyz")
    assert [f.info["sample_index"] for f in frames] == [0, 1, 2, 3, 4]
    with get_sessionmaker()() as session:
        rows = session.scalars(
            select(Structure).where(Structure.job_id == job.id).order_by(Structure.sample_index)
        ).all()
        for frame, row, entry in zip(frames, rows, manifest["structures"], strict=True):
            assert frame.arrays[EXTXYZ_CHARGE_ARRAY].tolist() == pytest.approx(row.charges, abs=1e-7)
            assert frame.arrays[EXTXYZ_DOS_ARRAY].shape == (row.n_sites, len(manifest["dos_energies"]))
            assert charges_from_cif(zf.read(entry["cif"]).decode()) == pytest.approx(row.charges, abs=1e-4)
    assert manifest["units"][EXTXYZ_CHARGE_ARRAY] == "e"
    for entry in manifest["structures"]:  # the relaxed crystal next to the generated one
        assert (entry["relaxed"]["status"] == "relaxed") == ("cif_relaxed" in entry), entry["relaxed"]
        for key in ("cif_relaxed", "cif_symmetrized"):
            if key in entry:
                assert zf.read(entry[key]).decode().count("_cell_length_a") == 1


def test_archive_of_a_job_without_structures_has_only_a_manifest(job_factory):
    job = job_factory(num_samples=3, seed=42)
    zf = _archive(job.id)
    assert zf.namelist() == ["manifest.json"]
    assert json.loads(zf.read("manifest.json"))["structures"] == []
