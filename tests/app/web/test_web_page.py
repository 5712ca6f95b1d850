"""The web page in a real browser against the real server: uvicorn, PostgreSQL, Redis and a Celery
worker sampling with the tiny model. Design → watch → inspect → one crystal's 3D view and DOS plot."""

from __future__ import annotations

import re

import pytest

from tests.app.web.conftest import pixel_stats
from tests.integration.helpers import submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

UUID = r"[0-9a-f-]{36}"


def _column(page, index: int) -> list[str]:
    return page.locator(f"#structures-table tbody tr td:nth-child({index})").all_inner_texts()


def test_design_watch_inspect_in_a_browser(api_url, worker, api_key, http, browser, screenshots):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())  # the cancel confirmation
    page.set_default_timeout(30_000)

    # / leads to the page; a wrong key shows the API's own message.
    page.goto(f"{api_url}/")
    assert page.url.endswith("/web/")
    page.fill("#api-key", "mge_not-a-real-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("401: invalid or revoked API key")
    page.fill("#api-key", api_key.secret)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-status")).to_have_text("key accepted")

    # Design. The model list comes from /v1/models; an inconsistent request is refused with the API's message.
    page.goto(f"{api_url}/web/#/design")
    expect(page.locator("#model option")).to_have_count(len(http.get("/v1/models").json()["data"]))
    # Options the design form has no own control for (relax, screen, budget…) come from the API's schema.
    caps = http.get("/web/capabilities.json").json()
    extras = [p for p in caps["job_schema"]["properties"] if p not in caps["form_fields"]]
    for name in extras:
        expect(page.locator(f"#extra-options [name^='{name}']").first).to_be_attached()
    if not extras:
        expect(page.locator("#no-extra-options")).to_be_visible()
    if page.locator("#formation_energy_per_atom-mode option[value=range]").count():  # range targets
        page.select_option("#formation_energy_per_atom-mode", "range")
        expect(page.locator("#formation_energy_per_atom-min")).to_be_visible()
        page.select_option("#formation_energy_per_atom-mode", "none")
        expect(page.locator("#formation_energy_per_atom-min")).to_be_hidden()
    page.select_option("#band_gap-mode", "value")
    page.fill("#band_gap-value", "2.5")
    page.fill("#num_samples", "3")
    page.fill("#guidance_scale", "1.5")
    page.fill("#seed", "7")
    page.fill("#allowed_elements", "Li O")
    page.fill("#required_elements", "Fe")
    page.click("text=Generate crystals")
    expect(page.locator("#messages")).to_contain_text("required_elements ['Fe'] are not in allowed_elements")
    page.fill("#allowed_elements", "")
    page.fill("#required_elements", "")
    page.fill("#atoms_min", "2")
    page.fill("#atoms_max", "8")
    page.screenshot(path=screenshots / "web-design.png", full_page=True)
    # Submitted from the keyboard (Enter in a field). A mouse click here can be lost in headless
    # Chromium: when the focused number input blurs, the page scrolls by ~120 px between mousedown and
    # mouseup (no layout change; seen once the form grew below the 900 px viewport).
    page.press("#atoms_max", "Enter")

    # The job page follows its progress; the body the form sent is what the API stored.
    page.wait_for_url(re.compile(rf"#/jobs/{UUID}$"))
    job_id = page.url.rsplit("/", 1)[-1]
    job = http.get(f"/v1/jobs/{job_id}").json()["data"]
    assert job["target"] == {"band_gap": 2.5, "formation_energy_per_atom": None}
    assert (job["num_samples"], job["seed"], job["guidance_scale"]) == (3, 7, 1.5)
    assert job["num_atoms"] == {"min": 2, "max": 8} and job["allowed_elements"] is None
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=120_000)
    assert job["charge_balance"] is True  # the schema-rendered option's default
    expect(page.locator("#job-card dt", has_text="Charge-balance closing")).to_have_count(1)
    expect(page.locator("#job-card")).to_contain_text("on: each crystal completed on a charge-balanced composition")
    rows = page.locator("#structures-table tbody tr")
    expect(rows).to_have_count(3)

    # Sorting by predicted gap, both ways (unknown values would sort last).
    gaps = lambda: [float(t) for t in _column(page, 5) if t != "–"]  # noqa: E731
    # (the API may sort: wait for the redrawn heading before reading the column)
    page.click("button[data-sort=band_gap]")
    expect(page.locator("th[aria-sort=ascending] button[data-sort=band_gap]")).to_be_visible()
    assert gaps() == sorted(gaps()) and len(gaps()) == 3
    page.click("button[data-sort=band_gap]")
    expect(page.locator("th[aria-sort=descending] button[data-sort=band_gap]")).to_be_visible()
    assert gaps() == sorted(gaps(), reverse=True)
    where = "across all pages" if "band_gap" in caps["structure_sort_keys"] else "within this page"
    expect(page.locator("#structures-status")).to_contain_text(f"sorted {where}")
    # Filtering goes to the API: a gap range that excludes everything, then an inverted one (API's 422).
    page.fill("#band_gap_min", str(max(gaps()) + 1))
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(0)
    page.fill("#band_gap_max", "0")
    page.click("#filters button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("422: band_gap_min")
    page.click("#filters button[type=reset]")
    expect(rows).to_have_count(3)
    # The API's other filters (declared in its OpenAPI schema) sit under "More filters".
    page.click("#filters summary")
    page.fill("#f-n_sites_min", "99")
    page.press("#f-n_sites_min", "Enter")
    expect(rows).to_have_count(0)
    page.click("#filters button[type=reset]")
    expect(rows).to_have_count(3)
    page.screenshot(path=screenshots / "web-inspect.png", full_page=True)

    screened = None
    if "screen" in extras:  # a screened job through the schema-rendered controls (every crystal passes)
        page.click("nav >> text=Design")
        page.fill("#num_samples", "2")
        page.fill("#seed", "5")
        page.select_option("[name='screen.valid']", "false")
        page.fill("[name='max_generated']", "4")
        page.click("text=Generate crystals")
        page.wait_for_url(re.compile(rf"#/jobs/{UUID}$"))
        screened = page.url.rsplit("/", 1)[-1]
        expect(page.locator("#job-state")).to_have_text("succeeded", timeout=120_000)
        done = http.get(f"/v1/jobs/{screened}").json()["data"]
        assert done["screen"]["spec"]["valid"] is False and done["screen"]["max_generated"] == 4
        assert done["screen"]["passed"] >= 2, done["screen"]
        expect(page.locator("#job-screen")).to_contain_text(f"{done['screen']['passed']} passed of {done['screen']['generated']} generated")
        expect(page.locator("#structures-table thead")).to_contain_text("Screen")

    # Watch: a second, slow job is listed with live progress and cancelled from the page.
    slow = submit(http, {"num_samples": 8, "seed": 3, "steps": 2000})
    page.click("nav >> text=Watch jobs")
    expect(page.locator(f"tr[data-job='{job_id}'] .state")).to_have_text("succeeded")
    slow_row = page.locator(f"tr[data-job='{slow['id']}']")
    expect(slow_row.locator(".state")).to_have_text(re.compile("queued|running"))
    # Its progress arrives over the job's event stream (SSE): the stream handler marks the row and
    # counts the events it drew (a change after the first event means the stream, not the list, moved it).
    assert caps["job_events"] == "/v1/jobs/{job_id}/events"
    expect(slow_row).to_have_attribute("data-live", "sse")
    expect(slow_row).to_have_attribute("data-sse-events", re.compile(r"^(?:[2-9]|\d{2,})$"))
    expect(slow_row.locator(".live")).to_have_text("● live")
    if screened:  # generated / passed counts of the screened job
        done = http.get(f"/v1/jobs/{screened}").json()["data"]["screen"]
        row = page.locator(f"tr[data-job='{screened}']")
        expect(row).to_contain_text(f"{done['generated']} (budget 4)")
        expect(row).to_contain_text(f"{done['passed']} (wanted 2)")
    page.screenshot(path=screenshots / "web-watch.png", full_page=True)
    slow_row.locator("button", has_text="Cancel").click()
    expect(slow_row.locator(".state")).to_have_text("cancelled", timeout=20_000)
    assert wait_for(http, slow["id"], lambda j: j["state"] == "cancelled")["state"] == "cancelled"

    # One crystal: 3D view coloured by charge, DOS plot with one line per site.
    page.goto(f"{api_url}/web/#/jobs/{job_id}")
    page.locator("#structures-table tbody tr a").first.click()
    page.wait_for_url(re.compile(rf"#/structures/{UUID}$"))
    structure_id = page.url.rsplit("/", 1)[-1]
    detail = http.get(f"/v1/structures/{structure_id}").json()["data"]
    n_sites = detail["n_sites"]
    canvas = page.locator("#viewer canvas")
    expect(canvas).to_be_visible()
    expect(page.locator("#dos-plot polyline")).to_have_count(n_sites)
    expect(page.locator("#sites tbody tr")).to_have_count(n_sites)
    expect(page.locator("#properties")).to_contain_text("LightGBM")
    expect(page.locator("#properties")).to_contain_text("eV/atom")
    page.wait_for_timeout(500)  # let the WebGL frame reach the compositor
    inked, colours = pixel_stats(canvas.screenshot())
    assert inked > 0.01 and colours >= 3, (inked, colours)  # atoms and cell edges, not a blank canvas
    dos_inked, dos_colours = pixel_stats(page.locator("#dos-plot").screenshot())
    assert dos_inked > 0.01 and dos_colours >= 2, (dos_inked, dos_colours)

    # Keyboard: a view control turns the crystal; selecting a site highlights its DOS line.
    before = canvas.screenshot()
    page.get_by_title("rotate right").focus()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert canvas.screenshot() != before
    page.select_option("#dos-site", "0")
    expect(page.locator("#dos-plot polyline[data-site='0']").first).to_have_attribute("stroke-width", "2.5")
    page.select_option("#dos-site", "")
    page.screenshot(path=screenshots / "web-structure.png")  # the first screen: 3D view and DOS

    if caps["verify"]:  # DFT verification (issue 17): request it from the page, see it queued, cancel it
        expect(page.locator("#verification")).to_contain_text("Not verified yet")
        page.click("#verify")
        expect(page.locator("#verification-state")).to_have_text(re.compile("queued|running"))
        page.click("#cancel-verification")
        expect(page.locator("#verification-state")).to_have_text("cancelled")
    if detail.get("relaxed", {}).get("structure"):  # the relaxed cell, with the predictor's charges
        page.select_option("#cell-choice", "relaxed")
        expect(page.locator("#viewer")).to_have_attribute("aria-label", re.compile("relaxed"))
        page.wait_for_timeout(300)
        assert pixel_stats(page.locator("#viewer canvas").screenshot())[0] > 0.01
        page.select_option("#cell-choice", "generated")
        expect(page.locator("#relaxation")).to_contain_text("RMSD")

    # A download carries the key and gets the CIF with the charge column.
    with page.expect_download() as info:
        page.click("#downloads button:has-text('CIF (P1, with charges)')")
    cif = open(info.value.path()).read()
    assert "_atom_site_bader_charge" in cif and info.value.suggested_filename.endswith(".cif")
    assert page_errors == []
