"""Jobs and structures endpoints in-process against the real database; chunks are sampled in-process
by the worker's own `run_chunk` (the tiny model), so no broker consumer is involved."""

from __future__ import annotations

import uuid

import pytest
from pymatgen.core import Structure
from sqlalchemy import text

from app.core.db import get_engine
from worker.tasks import run_chunk


@pytest.fixture()
def finished_job(job_factory):
    job = job_factory(num_samples=6, seed=21, target={"band_gap": 2.0}, steps=10)
    for index in range(job.num_chunks):
        assert run_chunk(str(job.id), index) == "committed"
    # The worker filled real predictions; overwrite them with known values so the filters can be checked.
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE structures SET band_gap_pred = sample_index * 0.5, formation_energy_pred = -sample_index, "
                "e_above_hull_pred = sample_index * 0.1, structurally_valid = (sample_index % 2 = 0), "
                "smact_valid = (sample_index <> 4) WHERE job_id = :j"
            ),
            {"j": job.id},
        )
    return job


@pytest.fixture()
def queued_job(job_factory):
    """A job that exists but has not run: enough for query validation, which comes before any row."""
    return job_factory(num_samples=6, seed=21, target={"band_gap": 2.0}, steps=10)


def test_idempotency_key_returns_the_same_job(client):
    body = {"target": {"band_gap": 1.0}, "num_samples": 2, "seed": 5}
    key = f"test-{uuid.uuid4()}"
    first = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 202 and first.json()["meta"]["created"] is True
    again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json()["meta"]["created"] is False

    conflict = client.post("/v1/jobs", json={**body, "num_samples": 3}, headers={"Idempotency-Key": key})
    assert conflict.status_code == 409 and "different request" in conflict.json()["errors"][0]["message"]
    other = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key + "-2"})
    assert other.json()["data"]["id"] != first.json()["data"]["id"]
    no_key = client.post("/v1/jobs", json=body)
    assert no_key.json()["data"]["id"] != first.json()["data"]["id"]


def test_broker_down_at_submission_is_503_and_keeps_nothing(client):
    from app.core.task_queue import TaskQueue, get_task_queue, make_celery
    from app.local_services import free_port

    dead = TaskQueue(make_celery(f"redis://127.0.0.1:{free_port()}/0"), "nowhere")
    dead.celery.conf.broker_connection_max_retries = 0
    dead.celery.conf.broker_transport_options = {"max_retries": 0}
    client.app.dependency_overrides[get_task_queue] = lambda: dead
    key = f"test-{uuid.uuid4()}"
    try:
        r = client.post("/v1/jobs", json={"num_samples": 1, "seed": 3}, headers={"Idempotency-Key": key})
    finally:
        client.app.dependency_overrides.clear()
    assert r.status_code == 503 and "nothing was submitted" in r.json()["errors"][0]["message"]
    with get_engine().connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM jobs WHERE idempotency_key = :k"), {"k": key}).scalar()
    assert kept == 0


def test_submitted_job_shape(client):
    r = client.post(
        "/v1/jobs",
        json={
            "target": {"band_gap": 2.5, "formation_energy_per_atom": -1.0},
            "num_samples": 10,
            "allowed_elements": ["Li", "Fe", "P", "O"],
            "required_elements": ["Li"],
            "num_atoms": {"min": 4, "max": 20},
        },
    )
    assert r.status_code == 202
    job = r.json()["data"]
    assert job["state"] == "queued" and job["progress"] == 0.0 and job["num_structures"] == 0
    assert job["num_chunks"] == 3 and job["chunk_size"] == 4
    assert 0 <= job["seed"] < 2**31  # drawn and stored when omitted, so the job is reproducible
    assert job["target"] == {"band_gap": 2.5, "formation_energy_per_atom": -1.0}
    assert job["num_atoms"] == {"min": 4, "max": 20} and job["required_elements"] == ["Li"]
    assert job["charge_balance"] is True  # the default, stored with the job
    assert r.headers["Location"].endswith(job["links"]["self"])
    listed = client.get("/v1/jobs", params={"state": "queued", "limit": 200}).json()
    assert job["id"] in [j["id"] for j in listed["data"]] and listed["meta"]["total"] >= 1


def test_structure_listing_pagination_fields_and_filters(client, finished_job):
    jid = finished_job.id
    page = client.get(f"/v1/jobs/{jid}/structures", params={"limit": 4}).json()
    meta = {k: v for k, v in page["meta"].items() if k != "predicted_properties"}
    assert meta == {"total": 6, "limit": 4, "offset": 0, "next_offset": 4}
    assert [s["sample_index"] for s in page["data"]] == [0, 1, 2, 3]
    rest = client.get(f"/v1/jobs/{jid}/structures", params={"limit": 4, "offset": 4}).json()
    assert [s["sample_index"] for s in rest["data"]] == [4, 5] and rest["meta"]["next_offset"] is None

    full = page["data"][0]
    for key in (
        "formula",
        "elements",
        "n_sites",
        "lattice",
        "space_group",
        "predicted",
        "validity",
        "charges",
    ):
        assert key in full
    assert set(full["predicted"]) == {
        "band_gap", "formation_energy_per_atom", "e_above_hull", "status", "basis", "below_hull_flag"
    }
    assert len(full["charges"]) == full["n_sites"] and full["space_group"]["number"] >= 1

    sparse = client.get(f"/v1/jobs/{jid}/structures", params={"fields": "formula,n_sites"}).json()["data"]
    assert set(sparse[0]) == {"id", "formula", "n_sites"}
    props = client.get(f"/v1/jobs/{jid}/structures", params={"fields": "predicted,validity"}).json()
    assert set(props["data"][0]) == {"id", "predicted", "validity"}
    assert props["data"][1]["validity"] == {"structurally_valid": False, "smact_valid": True, "valid": False}
    assert props["meta"]["predicted_properties"]["predict_properties"] is True
    assert sum(props["meta"]["predicted_properties"]["status_counts"].values()) == 6

    ranged = client.get(
        f"/v1/jobs/{jid}/structures", params={"band_gap_min": 1.0, "band_gap_max": 2.0}
    ).json()
    assert [s["sample_index"] for s in ranged["data"]] == [2, 3, 4] and ranged["meta"]["total"] == 3
    ef = client.get(f"/v1/jobs/{jid}/structures", params={"formation_energy_max": -4.5}).json()["data"]
    assert [s["sample_index"] for s in ef] == [5]
    hull = client.get(
        f"/v1/jobs/{jid}/structures", params={"e_above_hull_min": 0.15, "e_above_hull_max": 0.35}
    ).json()["data"]
    assert [s["sample_index"] for s in hull] == [2, 3]
    for params, expected in (
        ({"structurally_valid": "true"}, [0, 2, 4]),
        ({"smact_valid": "false"}, [4]),
        ({"valid": "true"}, [0, 2]),
        ({"valid": "false"}, [1, 3, 4, 5]),
        ({"valid": "true", "band_gap_min": 0.5}, [2]),
    ):
        got = client.get(f"/v1/jobs/{jid}/structures", params=params).json()["data"]
        assert [s["sample_index"] for s in got] == expected, params
    element = full["elements"][0]
    with_el = client.get(f"/v1/jobs/{jid}/structures", params={"elements": element}).json()["data"]
    assert all(element in s["elements"] for s in with_el) and with_el


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"fields": "formula,secret"}, "unknown field(s) ['secret']"),
        ({"band_gap_mn": 1}, "unknown query parameter 'band_gap_mn'"),
        ({"band_gap_min": 3, "band_gap_max": 1}, "band_gap_min (3.0) is greater than band_gap_max (1.0)"),
        ({"e_above_hull_min": 0.5, "e_above_hull_max": 0.1}, "greater than"),
        ({"n_sites_min": 9, "n_sites_max": 2}, "n_sites_min (9) is greater than"),
        ({"e_above_hull_mx": 0.1}, "unknown query parameter 'e_above_hull_mx'"),
        ({"elements": "Na,Qq"}, "unknown element symbol(s) ['Qq']"),
    ],
)
def test_structure_listing_bad_queries_are_422_with_a_clear_message(client, queued_job, params, needle):
    r = client.get(f"/v1/jobs/{queued_job.id}/structures", params=params)
    assert r.status_code == 422, r.text
    assert needle in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 5000},
        {"offset": -1},
        {"band_gap_min": "nan"},
        {"space_group": 231},
        {"e_above_hull_max": "inf"},
        {"valid": "maybe"},
    ],
)
def test_structure_listing_out_of_range_query_is_422(client, queued_job, params):
    r = client.get(f"/v1/jobs/{queued_job.id}/structures", params=params)
    assert r.status_code == 422 and r.json()["errors"]


def test_structure_detail_cif_and_dos(client, finished_job):
    row = client.get(f"/v1/jobs/{finished_job.id}/structures", params={"limit": 1}).json()["data"][0]
    body = client.get(f"/v1/structures/{row['id']}").json()
    detail = body["data"]
    structure = Structure.from_dict(detail["structure"])
    assert len(structure) == row["n_sites"]
    assert structure.site_properties["charge"] == pytest.approx(row["charges"])
    assert detail["provenance"]["job_seed"] == 21 and detail["provenance"]["steps"] == 10
    assert detail["predicted"]["band_gap"] == 0.0 and detail["predicted"]["formation_energy_per_atom"] == 0.0
    props = detail["properties"]
    assert props["band_gap"]["value"] == 0.0 and props["band_gap"]["unit"] == "eV"
    assert (
        props["formation_energy_per_atom"]["unit"] == "eV/atom"
        and "CHGNet" in props["e_above_hull"]["method"]
    )
    assert (  # issue 17: the values describe the relaxed crystal unless relaxation was skipped or failed
        "relaxed structure" in props["e_above_hull"]["method"]
        and "reference hull lacks this chemical system" in props["e_above_hull"]["method"]
        and "CHGNet-relaxed structure" in props["formation_energy_per_atom"]["method"]
    )
    assert props["structurally_valid"] == {
        "value": True,
        "unit": None,
        "method": props["structurally_valid"]["method"],
    }
    assert props["status"] in ("computed", "partial") and detail["validity"]["smact_valid"] is True
    assert body["meta"]["predicted_properties"]["status"] == props["status"]

    cif = client.get(f"/v1/structures/{row['id']}.cif")
    assert "_atom_site_bader_charge" in cif.text and "checkpoint sha256" in cif.text
    dos = client.get(f"/v1/structures/{row['id']}/dos").json()["data"]
    assert dos["energy_unit"] == "eV" and dos["sigma"] == 0.3
    assert [s["species"] for s in dos["sites"]] == [str(site.specie) for site in structure]


def test_openapi_documents_units_and_method_of_predicted_properties():
    from app.main import app

    schema = app.openapi()
    predicted = schema["components"]["schemas"]["PredictedOut"]["properties"]
    assert "Predicted energy above hull, eV/atom" in predicted["e_above_hull"]["description"]
    assert "relaxed | generated" in predicted["basis"]["description"]
    assert predicted["band_gap"]["description"].startswith("Predicted band gap, eV.")
    params = {p["name"]: p for p in schema["paths"]["/v1/jobs/{job_id}/structures"]["get"]["parameters"]}
    assert {"e_above_hull_min", "e_above_hull_max", "structurally_valid", "smact_valid", "valid"} <= set(
        params
    )
    assert "CHGNet, relaxed crystal" in params["e_above_hull_max"]["description"]
    assert "properties" in schema["components"]["schemas"]["StructureDetail"]["properties"]
