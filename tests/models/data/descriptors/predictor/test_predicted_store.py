"""Predicted-store round trip, and labelling a slice of the real corpus with a freshly trained model."""

import numpy as np
import pytest
import torch

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, DOS_NORM, normalize_dos
from models.data.descriptors.predicted_store import load_predicted_descriptors, write_predicted
from models.data.descriptors.predictor.predict import label_corpus, load_model
from models.data.descriptors.store import load_dft_descriptors

torch.set_num_threads(1)


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = [2, 5]
    q = [rng.normal(size=k) for k in n]
    q = [x - x.mean() for x in q]
    d = [normalize_dos(rng.random((k, DOS_BINS))) for k in n]
    z = [np.array([11, 17]), np.array([8, 8, 26, 26, 3])]
    path = write_predicted(["mp-a", "mp-b"], z, q, d, "ab" * 32, tmp_path / "p.npz")
    got = load_predicted_descriptors(path)
    assert set(got) == {"mp-a", "mp-b"}
    b = got["mp-b"]
    assert b.model_sha256 == "ab" * 32
    np.testing.assert_array_equal(b.z, z[1])
    np.testing.assert_allclose(b.charges, q[1], atol=1e-6)
    assert abs(b.charges.sum()) < 1e-5
    np.testing.assert_allclose(b.dos, d[1], rtol=2e-3, atol=2e-4)  # float16 storage
    np.testing.assert_allclose(np.trapezoid(b.dos, DOS_ENERGIES, axis=-1), DOS_NORM, atol=1e-9)


def test_missing_file_is_empty_and_bad_shapes_raise(tmp_path):
    assert load_predicted_descriptors(tmp_path / "none.npz") == {}
    with pytest.raises(ValueError, match="inconsistent"):
        write_predicted(
            ["x"], [np.array([1, 1])], [np.zeros(2)], [np.zeros((3, DOS_BINS))], "0", tmp_path / "p.npz"
        )


def test_label_corpus_slice(tmp_path):
    """Label the first 30 corpus rows with the shipped predictor; DFT-labelled crystals are skipped."""
    _, sha = load_model()  # the committed weights; missing ones fail the test
    out = tmp_path / "predicted.npz"
    summary = label_corpus(out_path=out, limit=30)
    got = load_predicted_descriptors(out)
    dft = load_dft_descriptors()
    assert summary["n_labelled"] == len(got) > 0
    assert not set(got) & set(dft)
    for rec in got.values():
        assert rec.model_sha256 == sha
        assert abs(rec.charges.sum()) < 1e-5
        assert rec.dos.shape == (len(rec.charges), DOS_BINS)
