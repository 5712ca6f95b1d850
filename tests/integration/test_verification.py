"""DFT verification on demand through HTTP: a real `dft` queue worker runs real GPAW (tiny settings:
k-point length 3 Å, h 0.3 Å) on the CHGNet-relaxed cell of a small rock-salt NaCl crystal stored
like a generated one."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from models.data.descriptor_spec import DOS_ENERGIES

pytestmark = [pytest.mark.integration, pytest.mark.dft]


def _nacl_structure_row(job) -> str:
    """A stored structure of ``job``: NaCl as 'generated' (slightly strained), relaxed by CHGNet."""
    from app.core.db import get_sessionmaker
    from app.tables import Structure as Row
    from worker.records import structure_record
    from worker.relaxation import relax_columns

    h = 5.4 / 2
    nacl = Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    dos = np.exp(-0.5 * (DOS_ENERGIES / 1.5) ** 2)
    dos = dos / np.trapezoid(dos, DOS_ENERGIES)
    crystal = SimpleNamespace(structure=nacl, charges=[0.8, -0.8], dos=np.stack([dos, dos]))
    record = structure_record(
        crystal, sample_index=0, chunk_index=0, seed=1, model_name="default", checkpoint_sha256="0" * 64,
        guidance_scale=2.0, steps=20,
    )
    relaxed, _ = relax_columns(nacl, fmax=0.1, max_steps=30)
    assert relaxed["relax_status"] == "relaxed", relaxed
    with get_sessionmaker()() as session:
        row = Row(job_id=job.id, **record, **relaxed, band_gap_pred=4.5, properties_basis="relaxed")
        session.add(row)
        session.commit()
        return str(row.id)


def _wait(http, sid: str, until, timeout: float = 300.0, log=None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = http.get(f"/v1/structures/{sid}/verification").json()["data"]
        if until(v):
            return v
        time.sleep(0.5)
    tail = "" if log is None else log.read_text(errors="replace")[-3000:]
    raise AssertionError(f"verification not there in {timeout} s: {v['state']} {v['error']}\n{tail}")


def test_verify_a_small_cell_with_real_gpaw(http, dft_worker, job_factory):
    sid = _nacl_structure_row(job_factory(num_samples=1, target={"band_gap": 4.0}))
    assert http.get(f"/v1/structures/{sid}/verification").status_code == 404

    first = http.post(f"/v1/structures/{sid}/verify")
    assert first.status_code == 202, first.text
    v = first.json()["data"]
    assert v["state"] == "queued" and first.json()["meta"]["created"] is True
    again = http.post(f"/v1/structures/{sid}/verify")  # idempotent: the same verification
    assert again.status_code == 200 and again.json()["data"]["id"] == v["id"]

    done = _wait(http, sid, lambda x: x["state"] not in ("queued", "running"), log=dft_worker.log)
    assert done["state"] == "succeeded", done
    dft, cmp_ = done["dft"], done["comparison"]
    assert dft["species"] == ["Na", "Cl"] and not dft["is_metal"] and 3.0 < dft["band_gap"] < 7.0
    assert dft["charges"][0] > 0.5 and dft["charges"][1] < -0.5 and len(dft["dos"]) == 2
    assert done["settings"]["kpt_length"] == 3.0 and done["settings"]["xc"] == "PBE"
    assert 0 < done["wall_seconds"] < 240 and done["dft_crystal_id"]
    gen = cmp_["generated_vs_dft"]
    assert gen["charge_mae"] == pytest.approx(np.mean(np.abs(np.array([0.8, -0.8]) - dft["charges"])), abs=1e-3)
    assert -1 <= gen["dos_cosine"] <= 1 and cmp_["structure_basis"] == "relaxed"
    pred = cmp_["predicted_vs_dft"]  # the stored row has no predictor output: nothing to compare
    assert pred["charge_mae"] is None and pred["cell"] == "relaxed"
    assert cmp_["gap_error"] == pytest.approx(4.5 - dft["band_gap"], abs=1e-3)
    assert cmp_["dft_gap_minus_target"] == pytest.approx(dft["band_gap"] - 4.0, abs=1e-3)
    assert done["generated"]["charges"] == [0.8, -0.8]

    from app.core.db import get_sessionmaker
    from app.tables import DftCrystal

    with get_sessionmaker()() as session:
        crystal = session.get(DftCrystal, done["dft_crystal_id"])
        assert crystal.formula == "NaCl" and crystal.charges == dft["charges"] and crystal.band_gap == dft["band_gap"]
        assert crystal.provenance["structure_id"] == sid and crystal.provenance["cell"] == "relaxed"
        assert crystal.provenance["relaxation"]["status"] == "relaxed" and crystal.settings["h"] == 0.3

    # force=true starts another one; cancelling it stops it with a clear reason.
    forced = http.post(f"/v1/structures/{sid}/verify", params={"force": "true"})
    assert forced.status_code == 202 and forced.json()["data"]["id"] != v["id"] and forced.json()["data"]["forced"]
    _wait(http, sid, lambda x: x["state"] == "running", timeout=60, log=dft_worker.log)
    cancelled = http.post(f"/v1/structures/{sid}/verification/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["data"]["state"] == "cancelled"
    assert cancelled.json()["data"]["failure_reason"] == "cancelled"
    assert http.post(f"/v1/structures/{sid}/verification/cancel").status_code == 409
    # The worker notices, kills GPAW and is free for the next one: a plain POST now retries, and the
    # retry starts running (the concurrency-1 worker is no longer busy with the cancelled run).
    retry = http.post(f"/v1/structures/{sid}/verify")
    assert retry.status_code == 202 and retry.json()["data"]["id"] != forced.json()["data"]["id"]
    _wait(http, sid, lambda x: x["state"] == "running", timeout=60, log=dft_worker.log)
    assert http.post(f"/v1/structures/{sid}/verification/cancel").status_code == 200
    forced_id = forced.json()["data"]["id"]
    assert f"verification {forced_id}: cancelled: cancelled while GPAW was running" in dft_worker.log.read_text()
