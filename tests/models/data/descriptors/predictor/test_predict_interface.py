"""The shipped predictor as the evaluation uses it: ``structure -> (charges, dos)``."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, DOS_NORM
from models.data.descriptors.predictor import load_model, predict_descriptors
from models.evaluate.descriptor_accuracy import descriptor_accuracy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shipped():
    # The weights are committed (predictor_assets/); a checkout without them is broken, not skippable.
    return load_model()


def test_predict_descriptors_on_rock_salt(shipped):
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    q, d = predict_descriptors(s)
    assert q.dtype == np.float64 and q.shape == (8,) and d.shape == (8, DOS_BINS)
    assert abs(q.sum()) < 1e-5
    na = [i for i, site in enumerate(s) if site.specie.symbol == "Na"]
    np.testing.assert_allclose(q[na], q[na[0]], atol=1e-5)  # symmetry-equivalent sites agree
    np.testing.assert_allclose(d[na], d[na[:1]].repeat(len(na), 0), atol=1e-5)
    np.testing.assert_allclose(np.trapezoid(d, DOS_ENERGIES, axis=-1), DOS_NORM, atol=1e-5)


def test_evaluation_accepts_the_predictor(shipped):
    s = Structure(Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    q, d = predict_descriptors(s)
    res = descriptor_accuracy([s], [q], [d], predict_descriptors)
    assert res["charge_mae_e"] == pytest.approx(0.0, abs=1e-9)
    assert res["dos_cosine_mean"] == pytest.approx(1.0, abs=1e-9)
    res = descriptor_accuracy([s], [q + np.array([0.1, -0.1])], [d], predict_descriptors)
    assert res["charge_mae_e"] == pytest.approx(0.1, abs=1e-9)
