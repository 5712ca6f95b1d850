"""End to end: a folder of CIFs / an extxyz through the CLI and the importable API (few CHGNet steps)."""

import json

import numpy as np
import pytest
from ase.io import write as ase_write
from pymatgen.io.ase import AseAtomsAdaptor

from models.data.corpus import corpus_frame
from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES
from models.evaluate import evaluate_structures, quick_properties
from models.evaluate.__main__ import main
from models.evaluate.inputs import load_generated
from models.evaluate.reference_crystals import parse_cif


@pytest.fixture
def sample_dir(tmp_path, nacl, overlapping, non_neutral):
    d = tmp_path / "samples" / "cif"
    d.mkdir(parents=True)
    known = parse_cif(corpus_frame().set_index("material_id").loc["mp-10009", "cif"])  # GaTe
    stretched = known.copy()
    stretched.apply_strain([0.0, 0.0, 0.5])
    for name, s in [
        ("a_nacl", nacl),
        ("b_overlap", overlapping),
        ("c_nacl2", non_neutral),
        ("d_gate_known", known),
        ("e_gate_stretched", stretched),
    ]:
        s.to(filename=str(d / f"{name}.cif"))
    (tmp_path / "samples" / "summary.json").write_text(
        json.dumps({"band_gap": 3.0, "formation_energy_per_atom": None})
    )
    return tmp_path / "samples"


def test_cli_on_cif_folder(sample_dir, tmp_path):
    out = tmp_path / "eval"
    assert main([str(sample_dir), "--relax-steps", "3", "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "metrics.json").read_text())
    recs = {r["name"]: r for r in data["records"]}
    assert data["summary"]["n"] == 5
    assert data["summary"]["target"] == {"band_gap": 3.0}  # read from summary.json
    assert recs["a_nacl"]["valid"] and recs["a_nacl"]["e_above_hull"] is not None
    assert recs["a_nacl"]["formation_energy_per_atom"] < -1.5  # NaCl: MP -2.1 eV/atom
    assert not recs["b_overlap"]["valid"] and not recs["b_overlap"]["stable"]
    assert recs["b_overlap"]["e_above_hull"] is None
    assert recs["c_nacl2"]["structure_valid"] and not recs["c_nacl2"]["composition_valid"]
    assert recs["d_gate_known"]["novel"] is False and recs["d_gate_known"]["matched_material_id"] is not None
    assert not recs["d_gate_known"]["success"]
    for r in recs.values():
        assert set(r["target_errors"]) == {"band_gap"}
    md = (out / "metrics.md").read_text()
    assert "VSUN" in md and "d_gate_known" in md
    assert (out / "relaxed" / "a_nacl.cif").exists()


def test_cli_reports_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--quiet"]) == 2
    assert "no crystals found" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), "--quiet"]) == 2


def test_extxyz_with_charges_and_dos(tmp_path, nacl):
    frames = []
    for i in range(2):
        atoms = AseAtomsAdaptor.get_atoms(nacl)
        atoms.set_array("charges", np.where(atoms.numbers == 11, 0.8, -0.8) + 0.01 * i)
        atoms.info["sample_index"] = i
        frames.append(atoms)
    ase_write(str(tmp_path / "samples.extxyz"), frames, format="extxyz")
    dos = np.full((len(nacl), DOS_BINS), 1.0 / (DOS_ENERGIES[-1] - DOS_ENERGIES[0]))
    (tmp_path / "dos.json").write_text(json.dumps({"samples": [{"index": 1, "dos": dos.tolist()}]}))
    gen = load_generated(tmp_path)
    assert gen.names == ["sample_0000", "sample_0001"]
    assert gen.charges[0] is not None and gen.charges[0].shape == (len(nacl),)
    assert gen.dos[0] is None and gen.dos[1].shape == (len(nacl), DOS_BINS)

    def predictor(structure):
        q = np.array([0.87 if site.specie.symbol == "Na" else -0.87 for site in structure])
        return q, dos

    res = evaluate_structures(
        gen.structures,
        None,
        names=gen.names,
        charges=gen.charges,
        dos=gen.dos,
        relax_steps=0,
        check_novelty=False,
        descriptor_predictor=predictor,
    )
    da = res.summary["descriptor_accuracy"]
    assert da["n_crystals"] == 2
    assert da["by_element"]["Na"]["charge_mae_e"] == pytest.approx(0.07 - 0.005, abs=1e-9)
    assert da["dos_cosine_mean"] == pytest.approx(1.0)
    # the two frames are the same crystal: the second is a duplicate
    assert [r["unique"] for r in res.records] == [True, False]


def test_quick_properties(nacl, overlapping):
    p = quick_properties(nacl)
    assert p["valid"] and p["relaxed"] is False
    assert p["band_gap"] is not None and p["band_gap"] > 0
    assert -3.0 < p["formation_energy_per_atom"] < -1.5
    assert p["e_above_hull"] is not None and p["e_above_hull"] < 0.2
    bad = quick_properties(overlapping)
    assert bad["valid"] is False and bad["band_gap"] is not None


def test_reads_what_models_sample_writes(tmp_path, nacl, non_neutral):
    """Contract with the sampler: its real writer's files load with charges and DOS attached."""
    from models import sample
    rng = np.random.default_rng(0)
    crystals = [
        sample.GeneratedCrystal(nacl, rng.normal(0, 0.5, len(nacl)), rng.random((len(nacl), DOS_BINS))),
        sample.GeneratedCrystal(
            non_neutral, rng.normal(0, 0.5, len(non_neutral)), rng.random((len(non_neutral), DOS_BINS))
        ),
    ]
    sample.write_outputs(crystals, tmp_path, {"band_gap": 2.0, "formation_energy_per_atom": None})
    gen = load_generated(tmp_path)
    assert len(gen) == 2
    for c, s, q, d in zip(crystals, gen.structures, gen.charges, gen.dos, strict=True):
        assert s.composition == c.structure.composition
        np.testing.assert_allclose(q, c.charges, atol=1e-6)
        np.testing.assert_allclose(d, c.dos, atol=1e-5)


def test_cli_descriptor_predictor_flag(tmp_path, nacl, capsys):
    d = tmp_path / "s"
    d.mkdir()
    atoms = AseAtomsAdaptor.get_atoms(nacl)
    atoms.set_array("charges", np.where(atoms.numbers == 11, 1.0, -1.0))
    ase_write(str(d / "samples.extxyz"), [atoms], format="extxyz")
    assert main([str(d), "--descriptor-predictor", "nosuchmodule:f", "--quiet"]) == 2
    assert "cannot load descriptor predictor" in capsys.readouterr().err
