import gzip

import numpy as np
import pytest

from models.data.descriptor_spec import DOS_BINS
from models.data.descriptors.store import (
    ResultWriter,
    check_site_order,
    iter_failures,
    load_dft_descriptors,
)


def _record(mid: str, n: int, energy: float = -1.0) -> dict:
    rng = np.random.default_rng(0)
    return {
        "material_id": mid,
        "species": ["Na", "Cl"][:n] if n <= 2 else ["O"] * n,
        "charges": list(rng.normal(size=n)),
        "dos": rng.random((n, DOS_BINS)).tolist(),
        "band_gap": 1.5,
        "is_metal": False,
        "energy_ev": energy,
        "seconds": 12.0,
        "settings": {"basis": "dzp"},
        "charge_residual": 1e-6,
        "spin_polarized": False,
    }


def test_round_trip_and_newest_wins(tmp_path):
    w = ResultWriter(tmp_path)
    w.add_result(_record("mp-1", 2, energy=-1.0))
    w.add_result(_record("mp-2", 3))
    w.add_result(_record("mp-1", 2, energy=-2.0))
    w.add_failure({"material_id": "mp-3", "reason": "timeout", "seconds": 600})
    got = load_dft_descriptors(tmp_path)
    assert set(got) == {"mp-1", "mp-2"}
    assert got["mp-1"].energy == -2.0
    assert got["mp-2"].charges.shape == (3,) and got["mp-2"].dos.shape == (3, DOS_BINS)
    assert got["mp-1"].species == ("Na", "Cl")
    assert [f["material_id"] for f in iter_failures(tmp_path)] == ["mp-3"]
    # each record is its own gzip member; the file is ordinary gzip
    assert gzip.decompress(w.results_path.read_bytes()).count(b"\n") == 3


def test_truncated_tail_is_dropped(tmp_path):
    w = ResultWriter(tmp_path)
    w.add_result(_record("mp-1", 2))
    w.add_result(_record("mp-2", 2))
    data = w.results_path.read_bytes()
    w.results_path.write_bytes(data[:-20])  # a kill in the middle of the last append
    assert set(load_dft_descriptors(tmp_path)) == {"mp-1"}


def test_check_site_order(tmp_path):
    w = ResultWriter(tmp_path)
    w.add_result(_record("mp-1", 2))
    d = load_dft_descriptors(tmp_path)["mp-1"]
    check_site_order(d, ["Na", "Cl"])
    with pytest.raises(ValueError, match="species"):
        check_site_order(d, ["Cl", "Na"])


@pytest.mark.filterwarnings("ignore:Issues encountered while parsing CIF")
def test_committed_results_match_corpus_site_order():
    """Every stored DFT result must have the corpus CIF's species in the corpus site order."""
    from pymatgen.core import Structure

    from models.data.descriptors.runner import load_corpus_table

    stored = load_dft_descriptors()
    assert stored, "the committed DFT results (models/data/descriptors/dft_results/) are missing"
    df = load_corpus_table().set_index("material_id")
    for mid in sorted(stored)[:25]:
        s = Structure.from_str(df.at[mid, "cif"], fmt="cif")
        check_site_order(stored[mid], [site.specie.symbol for site in s])
