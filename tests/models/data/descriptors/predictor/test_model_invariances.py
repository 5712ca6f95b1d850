"""Symmetry and convention guarantees of the predictor network.

The output heads are zero-initialized in a fresh model (it starts at the per-element baseline), which
would make most of these checks trivially true; ``_random_model`` therefore randomizes the heads and
element embeddings so a broken invariance shows up.
"""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, DOS_NORM
from models.data.descriptors.predictor.features import crystal_graph, element_features
from models.data.descriptors.predictor.model import DescriptorNet, ModelConfig, predict_batch

torch.set_num_threads(1)


def _random_model(seed: int = 0) -> DescriptorNet:
    torch.manual_seed(seed)
    model = DescriptorNet(ModelConfig(hidden=16, layers=2, n_rbf=16))
    with torch.no_grad():
        for head in (model.charge_head, model.dos_head):
            head[-1].weight.normal_(0, 0.5)
            head[-1].bias.normal_(0, 0.5)
        model.embed_element.weight.normal_(0, 0.5)
    return model.eval()


def _crystal() -> Structure:
    lat = Lattice.from_parameters(4.1, 4.4, 4.9, 82, 97, 104)
    return Structure(
        lat,
        ["Ba", "Li", "P", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.1], [0.25, 0.7, 0.55], [0.8, 0.3, 0.4], [0.1, 0.9, 0.75]],
    )


def _predict(model: DescriptorNet, s: Structure) -> tuple[np.ndarray, np.ndarray]:
    return predict_batch(model, [crystal_graph(s)])[0]


def test_permutation_equivariance():
    model, s = _random_model(), _crystal()
    q, d = _predict(model, s)
    perm = [3, 0, 4, 2, 1]
    sp = Structure(s.lattice, [s[i].species for i in perm], [s[i].frac_coords for i in perm])
    qp, dp = _predict(model, sp)
    np.testing.assert_allclose(qp, q[perm], atol=1e-5)
    np.testing.assert_allclose(dp, d[perm], atol=1e-5)
    assert np.ptp(q) > 1e-3, "random model should give distinct charges, else the test proves nothing"


def test_rotation_translation_and_supercell_invariance():
    model, s = _random_model(1), _crystal()
    q, d = _predict(model, s)
    rot = Structure.from_dict(s.as_dict())
    theta = 0.7
    r = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    r = r @ np.array([[1, 0, 0], [0, np.cos(1.1), -np.sin(1.1)], [0, np.sin(1.1), np.cos(1.1)]])
    rot = Structure(Lattice(s.lattice.matrix @ r.T), s.species, s.frac_coords + 0.37)
    qr, dr = _predict(model, rot)
    np.testing.assert_allclose(qr, q, atol=1e-5)
    np.testing.assert_allclose(dr, d, atol=1e-5)
    sc = s.copy()
    sc.make_supercell([2, 1, 1])  # pymatgen keeps the images of a site together
    qs, ds = _predict(model, sc)
    np.testing.assert_allclose(qs, np.repeat(q, 2), atol=1e-5)
    np.testing.assert_allclose(ds, np.repeat(d, 2, axis=0), atol=1e-5)


def test_charges_neutral_and_dos_normalized_in_a_batch():
    model = _random_model(2)
    structures = [
        _crystal(),
        Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(Lattice.cubic(3.0), ["Fe"], [[0, 0, 0]]),
    ]
    for (q, d), s in zip(
        predict_batch(model, [crystal_graph(x) for x in structures]), structures, strict=True
    ):
        assert q.shape == (len(s),) and d.shape == (len(s), DOS_BINS)
        assert abs(q.sum()) < 1e-5
        assert (d >= 0).all()
        np.testing.assert_allclose(np.trapezoid(d, DOS_ENERGIES, axis=-1), DOS_NORM, atol=1e-5)


def test_sparse_structure_still_gets_neighbours():
    s = Structure(Lattice.cubic(7.5), ["Xe"], [[0, 0, 0]])
    g = crystal_graph(s)
    assert g.src.size > 0 and g.cutoff > 7.5


def test_bad_structures_are_rejected():
    disordered = Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="ordered"):
        crystal_graph(disordered)


def test_element_features_are_finite_and_separate_chemistry():
    f = {z: np.array(element_features(z)) for z in (1, 2, 8, 11, 17, 26, 63, 92)}
    assert all(np.isfinite(v).all() for v in f.values())
    assert np.linalg.norm(f[11] - f[17]) > 1.0  # Na vs Cl: very different
    assert f[2][-1] == 1.0 and f[8][-1] == 0.0  # missing-electronegativity flag (He)


def test_formal_oxidation_states_balance_ionic_cells_and_are_zero_for_metals() -> None:
    from pymatgen.core import Lattice, Structure

    from models.data.descriptors.predictor.features import formal_oxidation_states

    rock_salt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    ox = formal_oxidation_states(rock_salt)
    assert ox.shape == (len(rock_salt),)
    assert set(ox.tolist()) == {1.0, -1.0}
    assert abs(float(ox.sum())) < 1e-6
    copper = Structure(
        Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    )
    assert not formal_oxidation_states(copper).any()
