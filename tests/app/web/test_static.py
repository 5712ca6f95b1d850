"""The web page's files and its capabilities endpoint, in process (no database, no browser)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.web.router import STATIC, capabilities

REFERENCE = re.compile(r"""(?:src|href)="([^"#]+)"|from\s+"([^"]+)"|import\s*\(\s*"([^"]+)"\s*\)""")


@pytest.fixture(scope="module")
def web():
    from app.main import create_app

    with TestClient(create_app()) as client:
        yield client


def test_home_redirects_and_every_local_reference_resolves(web):
    home = web.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/web/"
    page = web.get("/web/")
    assert page.status_code == 200 and "<main id=\"view\"" in page.text
    files = {"index.html": page.text}
    files |= {f"js/{p.name}": p.read_text() for p in (STATIC / "js").glob("*.js")}
    checked = 0
    for name, text in files.items():
        base = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        for match in REFERENCE.finditer(text):
            ref = next(g for g in match.groups() if g)
            # No CDN: everything the page loads comes from this server (links to /docs are same-origin).
            assert not re.match(r"^(https?:)?//", ref), f"{name} loads {ref} from elsewhere"
            if ref.startswith("/"):
                continue
            path = ref[2:] if ref.startswith("./") else ref
            url = f"/web/{base}{path}" if ref.startswith("./") else f"/web/{path}"
            assert web.get(url).status_code == 200, f"{name} refers to missing {ref}"
            checked += 1
    assert checked >= 15  # index's CSS/scripts and every module import were really followed
    licence = web.get("/web/vendor/3dmol/LICENSE")
    assert licence.status_code == 200 and "BSD" in licence.text


def test_capabilities_reflect_this_servers_api(web):
    caps = web.get("/web/capabilities.json").json()
    props = caps["job_schema"]["properties"]
    assert set(caps["form_fields"]) <= set(props) and "num_samples" in props
    assert "$ref" not in str(caps["job_schema"])  # inlined for the page
    from app.schemas.jobs import Target as ApiTarget

    assert props["target"]["properties"]["band_gap"]["description"] == ApiTarget.model_fields["band_gap"].description
    assert {"band_gap_min", "n_sites_min", "formula"} <= set(caps["structure_filters"])
    assert "limit" not in caps["structure_filters"]
    for flag in ("verify", "verification", "symmetrized_cif"):
        assert isinstance(caps[flag], bool)


class Range(BaseModel):
    min: float
    max: float


class Target(BaseModel):
    band_gap: float | Range | None = None


class JobCreate(BaseModel):
    target: Target = Target()
    num_samples: int
    relax: bool = True


def test_capabilities_follow_the_api_as_it_grows():
    """An API with relax, range targets, verification, a symmetrized CIF and an event stream: the
    page is told about each of them (the page then renders relax from its schema)."""
    app = FastAPI()

    @app.post("/v1/jobs")
    def submit(body: JobCreate) -> dict:
        return {}

    @app.get("/v1/jobs/{job_id}/events")
    def events(job_id: str) -> dict:
        return {}

    @app.get("/v1/structures/{structure_id}.cif")
    def cif(structure_id: str, symmetrized: bool = False) -> dict:
        return {}

    @app.post("/v1/structures/{structure_id}/verify")
    def verify(structure_id: str) -> dict:
        return {}

    caps = capabilities(app)
    props = caps["job_schema"]["properties"]
    assert props["relax"]["type"] == "boolean" and props["relax"]["default"] is True
    gap = props["target"]["properties"]["band_gap"]["anyOf"]
    assert any(option.get("properties", {}).keys() == {"min", "max"} for option in gap)
    assert caps["verify"] and caps["symmetrized_cif"] and not caps["verification"]
    assert caps["job_events"] == "/v1/jobs/{job_id}/events"
