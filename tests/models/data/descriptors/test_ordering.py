import pandas as pd

from models.data.descriptors.ordering import order_for_labelling, valence_electrons


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
