from pymatgen.core import Lattice, Structure

from models.evaluate.validity import check_validity, composition_is_valid, min_interatomic_distance


def test_nacl_is_valid(nacl):
    v = check_validity(nacl)
    assert v.structure_valid and v.composition_valid and v.valid
    assert abs(v.min_distance - 2.82) < 1e-6


def test_overlapping_atoms_are_invalid(overlapping):
    v = check_validity(overlapping)
    assert not v.structure_valid and not v.valid
    assert v.min_distance < 0.5
    assert v.composition_valid  # MgO itself is fine: only the geometry fails


def test_non_neutral_composition_is_invalid(non_neutral):
    v = check_validity(non_neutral)
    assert v.structure_valid
    assert not v.composition_valid and not v.valid


def test_tiny_volume_is_invalid():
    s = Structure(Lattice.cubic(0.4), ["Cu"], [[0, 0, 0]])
    v = check_validity(s)
    assert not v.structure_valid
    assert v.volume < 0.1


def test_self_image_distance_counts():
    # One atom in a 0.45 Å-long cell overlaps its own periodic image.
    s = Structure(Lattice.tetragonal(0.45, 5.0), ["Cu"], [[0, 0, 0]])
    assert min_interatomic_distance(s) < 0.5
    assert not check_validity(s).structure_valid


def test_composition_rules():
    assert composition_is_valid("Fe2O3")
    assert composition_is_valid("Mg3N2")
    assert composition_is_valid("CuZn")  # all metals: alloy rule
    assert composition_is_valid("Si")  # unary
    assert not composition_is_valid("NaCl2")
    assert not composition_is_valid("KF3")
    assert composition_is_valid("CsF")


def test_all_metal_compositions_are_flagged():
    """SMACT passes them by definition, so the flag lets reports show SMACT on the rest."""
    from models.evaluate.validity import composition_is_valid, is_all_metal

    assert is_all_metal("Fe3Al") and composition_is_valid("Fe3Al")
    assert is_all_metal("Si")  # one element: also automatic
    assert not is_all_metal("NaCl") and not is_all_metal("Na2Cl")
    assert not composition_is_valid("Na2Cl")
