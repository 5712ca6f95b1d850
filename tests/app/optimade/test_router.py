"""OPTIMADE over real HTTP: a real uvicorn, PostgreSQL holding structures a real worker generated,
the official validator, filters answered by SQL, and key-based access."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from optimade.models import StructureResource
from pymatgen.core import Composition, Structure
from sqlalchemy import event

from tests.integration.helpers import all_structures, submit, wait_terminal

pytestmark = [pytest.mark.integration]


def make_key(name: str, **scopes) -> str:
    from app.core.db import get_sessionmaker
    from app.services.api_keys import create_key

    with get_sessionmaker()() as session:
        return create_key(session, name, **scopes).secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def world(api_url, worker):
    """Two keys, each with one finished job; an admin key that sees both."""
    keys = {"owner": make_key("optimade-owner"), "other": make_key("optimade-other")}
    keys["admin"] = make_key("optimade-admin", is_admin=True)
    jobs = {}
    for who, body in (
        ("owner", {"target": {"band_gap": 3.0}, "num_samples": 8, "seed": 21}),
        ("other", {"num_samples": 4, "seed": 22}),
    ):
        with httpx.Client(base_url=api_url, headers=bearer(keys[who]), timeout=30) as http:
            job = submit(http, body)
            assert wait_terminal(http, job["id"], timeout=240)["state"] == "succeeded"
            jobs[who] = {"id": job["id"], "rows": all_structures(http, job["id"])}
    # Other tests share this database: filters restrict to these two jobs.
    mine = " OR ".join(f'_mattergene_job_id = "{j["id"]}"' for j in jobs.values())
    return {"url": api_url, "keys": keys, "jobs": jobs, "mine": f"({mine})"}


def get(world, path: str, who: str | None = "admin", **params) -> httpx.Response:
    headers = bearer(world["keys"][who]) if who else {}
    return httpx.get(f"{world['url']}/optimade{path}", params=params, headers=headers, timeout=30)


def test_official_validator_passes(world, capsys):
    validator = Path(sys.executable).with_name("optimade-validator")
    headers = json.dumps(bearer(world["keys"]["admin"]))
    run = subprocess.run(
        [str(validator), f"{world['url']}/optimade/v1", "--headers", headers, "--page_limit", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = [line for line in run.stdout.splitlines() if "Passed" in line]
    with capsys.disabled():
        print("\n[optimade-validator] " + " / ".join(summary))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert summary and "Passed" in summary[0]


def test_entries_match_the_native_api_and_validate(world):
    body = get(world, "/v1/structures", page_limit=50, filter=world["mine"]).json()
    native = {r["id"]: r for job in world["jobs"].values() for r in job["rows"]}
    assert body["meta"]["data_returned"] == len(body["data"]) == len(native) == 12
    for entry in body["data"]:
        StructureResource(**entry)  # the reference pydantic model accepts every served entry
        row, a = native[entry["id"]], entry["attributes"]
        comp = Composition(row["formula"]).reduced_composition
        expected = "".join(f"{el}{'' if n == 1 else int(n)}" for el, n in sorted(comp.as_dict().items()))
        assert a["chemical_formula_reduced"] == expected
        assert a["elements"] == row["elements"] and a["nsites"] == row["n_sites"] == len(a["species_at_sites"])
        assert a["_mattergene_bader_charges"] == row["charges"]
        assert a["_mattergene_band_gap"] == row["predicted"]["band_gap"]
        assert a["_mattergene_valid"] == row["validity"]["valid"]
        assert a["_mattergene_job_id"] in {j["id"] for j in world["jobs"].values()}
        assert a["_mattergene_optimization_type"] == "unrelaxed"
    detail = httpx.get(
        f"{world['url']}/v1/structures/{body['data'][0]['id']}", headers=bearer(world["keys"]["admin"])
    ).json()["data"]
    pmg = Structure.from_dict(detail["structure"])
    one = get(world, f"/v1/structures/{body['data'][0]['id']}").json()["data"]["attributes"]
    assert np.allclose(one["cartesian_site_positions"], pmg.cart_coords)
    assert np.allclose(one["lattice_vectors"], pmg.lattice.matrix)
    assert one["_mattergene_target_band_gap"] in (3.0, None)


def test_correlated_site_filter_on_charges(world):
    """Sites of one element with a charge below a threshold: species and charges zipped in SQL."""
    entries = get(world, "/v1/structures", page_limit=50, filter=world["mine"]).json()["data"]
    sites = [
        (e["id"], el, q)
        for e in entries
        for el, q in zip(e["attributes"]["species_at_sites"], e["attributes"]["_mattergene_bader_charges"], strict=True)
    ]
    element = max({el for _, el, _ in sites}, key=lambda el: sum(s[1] == el for s in sites))
    charges = sorted(q for _, el, q in sites if el == element)
    threshold = charges[len(charges) // 2]
    expected = {i for i, el, q in sites if el == element and q < threshold}
    query = f'{world["mine"]} AND species_at_sites:_mattergene_bader_charges HAS "{element}":<{threshold!r}'
    found = {e["id"] for e in get(world, "/v1/structures", page_limit=50, filter=query).json()["data"]}
    assert found == expected and expected


def test_info_describes_provider_fields_with_units(world):
    info = get(world, "/v1/info").json()
    assert info["meta"]["provider"]["prefix"] == "mattergene"
    assert info["data"]["attributes"]["entry_types_by_format"] == {"json": ["structures"]}
    props = get(world, "/v1/info/structures").json()["data"]["properties"]
    assert props["_mattergene_bader_charges"]["unit"] == "[e]" and props["_mattergene_band_gap"]["unit"] == "eV"
    assert props["_mattergene_e_above_hull"]["unit"] == "eV/{atom}" and props["nsites"]["sortable"] is True
    versions = httpx.get(f"{world['url']}/optimade/versions")
    assert versions.text.splitlines() == ["version", "1"] and "header=present" in versions.headers["content-type"]


def test_filter_is_answered_by_sql(world, client):
    """The filter is in the statement PostgreSQL runs, and only the matching rows come back from it."""
    from app.core.db import get_engine

    rows = [r for job in world["jobs"].values() for r in job["rows"]]
    element = max({e for r in rows for e in r["elements"]}, key=lambda e: sum(e in r["elements"] for r in rows))
    nsites = sorted(r["n_sites"] for r in rows)[len(rows) // 2]
    expected = {r["id"] for r in rows if element in r["elements"] and r["n_sites"] >= nsites}
    assert 0 < len(expected) < len(rows)

    seen: list[tuple[str, int]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, cursor.rowcount))

    engine = get_engine()
    event.listen(engine, "after_cursor_execute", record)
    try:
        r = client.get(
            "/optimade/v1/structures",
            params={
                "filter": f'elements HAS "{element}" AND nsites >= {nsites} AND {world["mine"]}',
                "response_fields": "nsites",
            },
            headers=bearer(world["keys"]["admin"]),
        )
    finally:
        event.remove(engine, "after_cursor_execute", record)
    assert r.status_code == 200, r.text
    assert {e["id"] for e in r.json()["data"]} == expected and r.json()["meta"]["data_returned"] == len(expected)
    page = [(s, n) for s, n in seen if "LIMIT" in s and "structures.elements @>" in s]
    assert len(page) == 1 and "structures.n_sites >=" in page[0][0]
    assert page[0][1] == len(expected)  # rows PostgreSQL returned: the matches only, no Python filtering


def test_access_follows_keys(world):
    own = get(world, "/v1/structures", who="owner", page_limit=50).json()
    assert {e["attributes"]["_mattergene_job_id"] for e in own["data"]} == {world["jobs"]["owner"]["id"]}
    assert own["meta"]["data_available"] == 8
    other_id = world["jobs"]["other"]["rows"][0]["id"]
    assert get(world, f"/v1/structures/{other_id}", who="owner").status_code == 404
    anonymous = get(world, "/v1/structures", who=None)
    assert anonymous.status_code == 401 and anonymous.json()["errors"][0]["status"] == "401"


def test_pagination_sort_and_parameters(world):
    mine = world["mine"]
    first = get(world, "/v1/structures", page_limit=5, sort="-nsites,id", response_fields="nsites", filter=mine).json()
    ids = [e["id"] for e in first["data"]]
    url = first["links"]["next"]
    while url:
        page = httpx.get(url, headers=bearer(world["keys"]["admin"])).json()
        ids += [e["id"] for e in page["data"]]
        url = page["links"]["next"]
    assert len(ids) == len(set(ids)) == 12
    by_size = get(world, "/v1/structures", sort="-nsites", page_limit=50, filter=mine).json()["data"]
    sizes = [e["attributes"]["nsites"] for e in by_size]
    assert sizes == sorted(sizes, reverse=True)
    assert set(first["data"][0]["attributes"]) == {"nsites"}
    for params, status in (
        ({"colour": "red"}, 400),
        ({"page_limit": 100_000}, 403),
        ({"sort": "lattice_vectors"}, 400),
        ({"response_fields": "bogus"}, 400),
        ({"filter": "nsites <"}, 400),
        ({"filter": "nsites > 99999999999999999999"}, 400),
        ({"filter": "lattice_vectors HAS 1.0"}, 501),
        ({"page_cursor": "x"}, 501),
    ):
        r = get(world, "/v1/structures", **params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["errors"][0]["status"] == str(status) and r.json()["meta"]["api_version"] == "1.2.0"
    warned = get(world, "/v1/structures", _otherdb_flag="1", page_limit=1).json()
    assert warned["meta"]["warnings"][0]["type"] == "warning"
    assert get(world, "/v2/info").status_code == 553 and get(world, "/v1/nothing").status_code == 404
