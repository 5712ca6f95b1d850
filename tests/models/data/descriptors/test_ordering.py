import numpy as np
import pandas as pd

from models.data.descriptors.ordering import cell_from_cif, order_for_labelling, valence_electrons
from models.data.descriptors.runner import measured_seconds


def test_valence_counts():
    assert valence_electrons("Na") == 1
    assert valence_electrons("O") == 6
    assert valence_electrons("Ga") == 13  # 3d10 4s2 4p1 outside [Ar]


def test_cheapest_first_but_new_elements_early():
    df = pd.DataFrame(
        {
            "material_id": ["a", "b", "c", "d", "e"],
            "formula": ["NaCl", "NaCl", "KCl", "Na3Cl3", "Fe2O3"],
            "n_sites": [2, 2, 2, 6, 10],
            "elements": ["Cl Na", "Cl Na", "Cl K", "Cl Na", "Fe O"],
            "band_gap": [5.0, 5.0, 5.0, 5.0, 2.0],
        }
    )
    order = order_for_labelling(df)
    assert sorted(order) == list("abcde")
    assert order.index("d") > order.index("a")  # bigger cell of the same elements later
    assert order.index("c") < order.index("b")  # KCl brings K in before a second NaCl


def test_sparse_cells_go_later():
    cif = "data_X\n_cell_volume   {v}\n"
    df = pd.DataFrame(
        {
            "material_id": ["dense", "vacuum"],
            "formula": ["Cu", "Cu"],
            "n_sites": [1, 1],
            "elements": ["Cu", "Cu"],
            "band_gap": [0.0, 0.0],
            "cif": [cif.format(v=12.0), cif.format(v=603.5)],
        }
    )
    assert order_for_labelling(df) == ["dense", "vacuum"]
    assert order_for_labelling(df.iloc[::-1].reset_index(drop=True)) == ["dense", "vacuum"]


def _cif(a: float) -> str:
    return (f"data_X\n_cell_length_a {a}\n_cell_length_b {a}\n_cell_length_c {a}\n_cell_angle_alpha 90\n"
            f"_cell_angle_beta 90\n_cell_angle_gamma 90\n_cell_volume {a**3}\n")


def test_fitted_cost_learns_from_measured_seconds():
    """Forty measured crystals where metals cost 10× insulators: the fitted model must queue the
    unmeasured insulator before the unmeasured metal, although the hand-set cost would put the metal
    (two sites, few electrons) ahead of the insulator (four sites, many electrons)."""
    rng = np.random.default_rng(0)
    metals = [("NaK", "K Na"), ("CuZn", "Cu Zn"), ("AgCd", "Ag Cd"), ("LiMg", "Li Mg")]
    insulators = [("NaCl", "Cl Na"), ("ZnS", "S Zn"), ("LiF", "F Li"), ("CuBr", "Br Cu")]
    rows, seconds = [], {}
    for i in range(40):  # formulas, cell sizes and cells vary so only the metal flag explains the cost
        metal = i % 2 == 0
        formula, elements = (metals if metal else insulators)[(i // 2) % 4]
        n_sites = 2 if (i // 8) % 2 == 0 else 4
        rows.append((f"m{i}", formula, n_sites, elements, 0.0 if metal else 5.0, _cif(float(rng.uniform(3.5, 5.0)))))
        seconds[f"m{i}"] = (200.0 if metal else 20.0) * float(rng.uniform(0.9, 1.1))
    rows += [("metal", "AlMg", 2, "Al Mg", 0.0, _cif(4.0)), ("insulator", "K2Se2", 4, "K Se", 2.0, _cif(5.0))]
    df = pd.DataFrame(rows, columns=["material_id", "formula", "n_sites", "elements", "band_gap", "cif"])
    unmeasured = [m for m in order_for_labelling(df) if m in ("metal", "insulator")]
    assert unmeasured == ["metal", "insulator"]  # hand-set cost: Mg/Al metal first
    order = order_for_labelling(df, seconds)
    assert order[:40] == [f"m{i}" for i in range(40)]  # measured ones first, in their given order
    assert order[40:] == ["insulator", "metal"]


def test_measured_seconds_keeps_timeouts_at_cap_and_drops_errors():
    stored = {"a": {"seconds": 12.5}}
    failures = [{"material_id": "b", "reason": "timeout", "max_seconds": 600.0},
                {"material_id": "c", "reason": "error", "max_seconds": 600.0}]
    assert measured_seconds(stored, failures) == {"a": 12.5, "b": 600.0}


def test_cell_from_cif_matches_parameters():
    lat = cell_from_cif(_cif(4.2))
    assert lat is not None and abs(lat.volume - 4.2**3) < 1e-6
    assert cell_from_cif("data_X\n_cell_volume 10\n") is None
