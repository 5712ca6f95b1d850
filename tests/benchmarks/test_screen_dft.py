"""The DFT stage of the relaxation-cost benchmark: which crystals it verifies, in what order, when it
stops, how it resumes and what it reports (the GPAW run itself is replaced by a stub)."""

from __future__ import annotations

import json

import pytest

from benchmarks import screen_dft
from models.data.descriptors.settings import DFTSettings

CIF = """data_NaCl
_cell_length_a 4.0
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_type_symbol
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na Na0 0 0 0
Cl Cl1 0.5 0.5 0.5
"""


def _c(target: float, index: int, pred: float | None, passed: bool = True) -> dict:
    return {
        "target": target,
        "index": index,
        "passed": passed,
        "band_gap_pred": pred,
        "window": [target - 0.5, target + 0.5],
        "formula": f"X{index}",
        "n_sites": 2,
        "cif": CIF + f"# {target} {index}\n",
    }


def test_candidates_are_screen_passes_with_the_gap_in_the_window_in_a_seeded_order():
    screened = [
        _c(2.0, 0, 2.1),
        _c(2.0, 1, 2.6),  # passed, but the predicted gap is outside 1.5-2.5
        _c(2.0, 2, 1.5),  # on the window's edge: in
        _c(3.0, 0, 3.0, passed=False),
        _c(3.0, 1, None),
        _c(3.0, 2, 2.9),
        _c(3.0, 3, 3.4),
    ]
    got = screen_dft.candidates(screened, seed=5)
    assert sorted((c["target"], c["index"]) for c in got) == [(2.0, 0), (2.0, 2), (3.0, 2), (3.0, 3)]
    assert [c["index"] for c in screen_dft.candidates(list(reversed(screened)), seed=5)] == [
        c["index"] for c in got
    ]
    orders = {
        tuple((c["target"], c["index"]) for c in screen_dft.candidates(screened, seed=s)) for s in range(20)
    }
    assert len(orders) > 1  # the seed changes the order: no size or target preference


def _fake_verify(outcomes: dict[int, tuple[str, float | None]], calls: list):
    def verify(c, settings, cap, memory_gb):
        calls.append((c["index"], cap))
        kind, gap = outcomes[c["index"]]
        base = {
            "id": screen_dft.crystal_id(c),
            "target": c["target"],
            "index": c["index"],
            "formula": c["formula"],
            "n_sites": 2,
            "band_gap_pred": c["band_gap_pred"],
            "window": c["window"],
            "seconds": 10.0,
        }
        if kind != "ok":
            return {**base, "ok": False, "reason": kind, "message": f"{kind} here", "seconds": cap}
        return {
            **base,
            "ok": True,
            "dft_band_gap": gap,
            "gap_error": c["band_gap_pred"] - gap,
            "dft_success": screen_dft.in_window(gap, c["window"]),
        }

    return verify


def test_run_skips_failures_stops_at_n_resumes_and_reports(tmp_path):
    ordered = [_c(2.0, i, 2.0) for i in range(6)]
    results = {
        0: ("ok", 2.2),
        1: ("timeout", None),
        2: ("ok", 0.0),
        3: ("error", None),
        4: ("ok", 1.6),
        5: ("ok", 2.0),
    }
    calls: list = []
    store = tmp_path / "store.jsonl"
    kw = dict(
        n=3,
        store=store,
        dft_settings=DFTSettings(),
        max_seconds=100.0,
        memory_gb=1.0,
        log=lambda *a, **k: None,
    )
    out = screen_dft.run(ordered, verify=_fake_verify(results, calls), **kw)
    assert [i for i, _ in calls] == [0, 1, 2, 3, 4]  # stops once 3 are verified; index 5 is never run
    assert len(store.read_text().splitlines()) == 5
    s = screen_dft.summarize(out, n_candidates=len(ordered), n_wanted=3)
    assert (s["attempted"], s["verified"], s["dft_successes"], s["not_run"]) == (5, 3, 2, 0)
    assert s["failures"] == {"timeout": 1, "error": 1}
    assert s["dft_success_rate"]["k"] == 2 and s["dft_success_rate"]["n"] == 3
    lo, hi = s["dft_success_rate"]["ci95"]
    assert 0 < lo < 2 / 3 < hi < 1  # Wilson interval
    assert s["dft_success_rate_of_attempted"]["n"] == 5
    assert s["seconds_per_verification"]["mean_verified"] == pytest.approx(10.0)
    assert s["gap_error_pred_minus_dft"]["n"] == 3

    again: list = []  # resumed from the store: nothing re-run, same outcomes
    out2 = screen_dft.run(ordered, verify=_fake_verify(results, again), **kw)
    assert again == [] and [o["id"] for o in out2] == [o["id"] for o in out]

    md = "\n".join(screen_dft.render(s, DFTSettings().model_dump(), 100.0))
    assert "verified: 3" in md and "66.7 % (2/3)" in md and "timeout here" in md
    json.dumps(s)  # the summary goes into the results JSON


def test_run_stops_starting_crystals_when_the_budget_is_spent(tmp_path):
    ordered = [_c(3.0, i, 3.0) for i in range(3)]
    calls: list = []
    out = screen_dft.run(
        ordered,
        n=10,
        store=tmp_path / "s.jsonl",
        dft_settings=DFTSettings(),
        max_seconds=600.0,
        memory_gb=1.0,
        budget_seconds=30.0,  # less than a minute left: nothing is started
        verify=_fake_verify({i: ("ok", 3.0) for i in range(3)}, calls),
        log=lambda *a, **k: None,
    )
    assert calls == [] and [o["reason"] for o in out] == ["not run"] * 3
    s = screen_dft.summarize(out, 3, 10)
    assert s["attempted"] == 0 and s["not_run"] == 3 and s["dft_success_rate"]["rate"] is None


def test_verify_one_uses_the_service_dft_path_and_judges_the_window(monkeypatch):
    import worker.dft_run
    from worker.dft_run import DftOutcome

    seen = {}

    def fake_run_dft(cif, settings, max_seconds, memory_gb, keep_going, poll=1.0):
        seen.update(cif=cif, settings=settings, cap=max_seconds)
        # the child returns its sites in the CIF's order
        rec = {
            "band_gap": 2.7,
            "charges": [0.8, -0.8],
            "dos": [[0.0] * 64, [0.0] * 64],
            "species": ["Na", "Cl"],
        }
        return DftOutcome(True, 12.0, record=rec)

    monkeypatch.setattr(worker.dft_run, "run_dft", fake_run_dft)
    c = _c(2.0, 0, 2.2)
    out = screen_dft.verify_one(c, DFTSettings(kpt_length=3.0), 50.0, 1.0)
    assert out["ok"] and out["dft_band_gap"] == 2.7 and out["dft_success"] is False  # 2.7 > 2.5
    assert out["gap_error"] == pytest.approx(2.2 - 2.7) and out["seconds"] == 12.0
    assert seen["cap"] == 50.0 and seen["settings"].kpt_length == 3.0 and "_atom_site_fract_x" in seen["cif"]
    c3 = _c(3.0, 1, 3.2)
    assert screen_dft.verify_one(c3, DFTSettings(), 50.0, 1.0)["dft_success"] is True

    monkeypatch.setattr(
        worker.dft_run, "run_dft", lambda *a, **k: DftOutcome(False, 50.0, reason="timeout", message="killed")
    )
    bad = screen_dft.verify_one(c, DFTSettings(), 50.0, 1.0)
    assert not bad["ok"] and bad["reason"] == "timeout" and bad["message"] == "killed"


def test_two_workers_verify_exactly_n_and_replace_a_failure(tmp_path):
    import threading
    import time

    ordered = [_c(4.0, i, 4.0) for i in range(8)]
    results = {i: ("ok", 4.1) for i in range(8)}
    results[1] = ("memory", None)
    calls: list = []
    running, peak = [0], [0]
    lock = threading.Lock()
    inner = _fake_verify(results, calls)

    def verify(*a):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return inner(*a)

    out = screen_dft.run(
        ordered,
        n=3,
        store=tmp_path / "s.jsonl",
        dft_settings=DFTSettings(),
        max_seconds=100.0,
        memory_gb=1.0,
        workers=2,
        verify=verify,
        log=lambda *a, **k: None,
    )
    s = screen_dft.summarize(out, 8, 3)
    assert s["verified"] == 3 and s["failures"] == {"memory": 1} and len(calls) == 4 and peak[0] == 2
    assert [o["index"] for o in out] == sorted(o["index"] for o in out)


def test_follow_takes_targets_as_they_finish_round_robin_until_done(tmp_path):
    import threading
    import time

    def cache(target, n):
        return {"band_gap": target, "screened": [_c(target, i, target) for i in range(n)]}

    a, b = tmp_path / "target_a.json", tmp_path / "target_b.json"
    a.write_text(json.dumps(cache(1.0, 3)))
    calls: list = []
    results = {i: ("ok", 1.0) for i in range(3)}

    def verify(c, settings, cap, mem):
        calls.append((c["target"], c["index"]))
        if len(calls) == 1:  # the second target finishes while the first crystal runs
            b.write_text(json.dumps(cache(4.0, 1)))
        return _fake_verify(results, [])(c, settings, cap, mem)

    def follow(paths, store, seconds_left):
        return screen_dft.follow(
            paths,
            store=tmp_path / store,
            dft_settings=DFTSettings(),
            max_seconds=100.0,
            memory_gb=1.0,
            seed=3,
            deadline=time.time() + seconds_left,
            poll=0.05,
            verify=verify,
            log=lambda *a, **k: None,
        )

    t = threading.Timer(5.0, lambda: None)  # nothing left to wait for: follow must return by itself
    t.start()
    n = follow([a, b], "s.jsonl", 3600)
    t.cancel()
    assert n == 4 and calls[1] == (4.0, 0)  # the new target's crystal comes next (fewest taken)
    assert sorted(calls) == [(1.0, 0), (1.0, 1), (1.0, 2), (4.0, 0)]
    store = screen_dft.load_store(tmp_path / "s.jsonl")
    assert len(store) == 4 and all("finished_utc" in r for r in store.values())
    # resumed: nothing is run twice; and a deadline under a minute away starts nothing
    assert follow([a, b], "s.jsonl", 3600) == 0
    c = tmp_path / "target_c.json"
    c.write_text(json.dumps(cache(2.0, 2)))
    assert follow([c], "t.jsonl", 30) == 0


def test_merge_batches_pools_counts_and_drops_passes_repeated_across_batches():
    from benchmarks.relax_cost import merge_batches

    def batch(n, passes, rmsd):
        return {
            "band_gap": 2.0,
            "n": n,
            "seconds_per_crystal": {
                "sampling": 1.0 * n,
                "relaxation": 10.0,
                "properties": 0.1,
                "descriptors": 0.1,
                "screen": 0.1,
            },
            "relaxation": {
                "relaxed": n,
                "failed": 0,
                "converged": n - 1,
                "seconds": {"mean": 5.0},
                "rmsd_values": rmsd,
                "steps_values": [10] * n,
            },
            "screen": {
                "spec": {"band_gap_range": [1.5, 2.5]},
                "passed": len(passes),
                "pass_rate": None,
                "failed_check": {"valid": 1, "e_above_hull": 0, "within_target": 2, "novel": 0, "unique": 0},
            },
            "screened": passes,
        }

    other = CIF.replace("4.0", "4.4").replace("Cl", "Br")
    a = batch(4, [_c(2.0, 1, 2.1)], [0.1, 0.2, 0.3, 0.4])
    b = batch(2, [_c(2.0, 0, 2.0), {**_c(2.0, 1, 2.2), "cif": other}], [0.5, 0.6])
    m = merge_batches([a, b])
    assert m["n"] == 6 and m["screen"]["passed"] == 2  # b's first pass is a's crystal again
    assert m["screen"]["failed_check"]["unique"] == 1 and m["screen"]["failed_check"]["within_target"] == 4
    ids = [screen_dft.crystal_id(c) for c in m["screened"]]
    assert [c["index"] for c in m["screened"]] == [1, 1] and len(set(ids)) == 2  # batch indices, distinct ids
    assert m["seconds_per_crystal"]["sampling"] == pytest.approx((4 * 4 + 2 * 2) / 6)
    assert m["relaxation"]["rmsd_angstrom"]["n"] == 6 and m["relaxation"]["converged"] == 4
    assert m["screen"]["pass_rate"]["k"] == 2 and m["screen"]["pass_rate"]["n"] == 6
