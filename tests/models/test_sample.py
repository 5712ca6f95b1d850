"""The sampling interface the service calls: determinism, guidance, element control, progress, cancel, I/O."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import models.registry as registry
from models.crystal_io import EXTXYZ_CHARGE_ARRAY, EXTXYZ_DOS_ARRAY
from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES
from models.registry import list_models
from models.sample import GenerationCancelled, RequiredElementsError, generate, load_model
from models.sample_cli import main

STEPS = 8


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Sampling on one thread, as the CLI and the worker do (two threads on two busy cores crawl)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(tiny_checkpoint: Path):
    return load_model(checkpoint=tiny_checkpoint)


def _key(crystals):
    return [(c.structure.formula, np.round(c.structure.frac_coords, 6).tolist(), np.round(c.structure.lattice.matrix, 6).tolist()) for c in crystals]


def test_same_seed_same_crystals_and_different_seed_differs(model):
    a = generate(model, 4, band_gap=2.0, seed=3, steps=STEPS, batch_size=3)
    b = generate(model, 4, band_gap=2.0, seed=3, steps=STEPS, batch_size=3)
    c = generate(model, 4, band_gap=2.0, seed=4, steps=STEPS, batch_size=3)
    assert _key(a) == _key(b)
    assert all(np.array_equal(x.charges, y.charges) and np.array_equal(x.dos, y.dos) for x, y in zip(a, b, strict=True))
    assert _key(a) != _key(c)


def test_guidance_zero_equals_unconditional(model):
    cond0 = generate(model, 3, band_gap=4.0, formation_energy_per_atom=-1.0, guidance_scale=0.0, seed=1, steps=STEPS)
    uncond = generate(model, 3, seed=1, steps=STEPS)
    guided = generate(model, 3, band_gap=4.0, formation_energy_per_atom=-1.0, guidance_scale=2.0, seed=1, steps=STEPS)
    assert _key(cond0) == _key(uncond)
    assert _key(guided) != _key(uncond)


def test_outputs_have_per_site_charges_and_normalized_dos(model):
    crystals = generate(model, 3, seed=0, steps=STEPS)
    for c in crystals:
        n = len(c.structure)
        assert c.charges.shape == (n,) and np.isfinite(c.charges).all()
        assert c.dos.shape == (n, DOS_BINS) and (c.dos >= 0).all()
        assert np.allclose(np.trapezoid(c.dos, DOS_ENERGIES, axis=1), 1.0, atol=1e-6)


def test_num_atoms_and_allowed_elements(model):
    crystals = generate(model, 4, seed=2, steps=STEPS, num_atoms=(3, 5), allowed_elements=["O", "Mg", "Si"])
    for c in crystals:
        assert 3 <= len(c.structure) <= 5
        assert {el.symbol for el in c.structure.composition.elements} <= {"O", "Mg", "Si"}


def test_required_elements_are_present_or_fail_clearly(model):
    crystals = generate(model, 2, seed=0, steps=STEPS, allowed_elements=["Li", "O"], required_elements=["Li", "O"])
    for c in crystals:
        assert {el.symbol for el in c.structure.composition.elements} == {"Li", "O"}
    with pytest.raises(ValueError, match="not in allowed_elements"):
        generate(model, 1, steps=STEPS, allowed_elements=["O"], required_elements=["Li"])
    with pytest.raises(ValueError, match="cannot fit"):
        generate(model, 1, steps=STEPS, num_atoms=(2, 2), required_elements=["Li", "O", "Fe"])
    with pytest.raises(ValueError, match="unknown element"):
        generate(model, 1, steps=STEPS, allowed_elements=["Xx"])
    assert issubclass(RequiredElementsError, ValueError)


def test_progress_moves_during_steps_and_cancel_returns_finished(model):
    seen: list[float] = []
    generate(model, 4, seed=0, steps=STEPS, batch_size=2, progress=seen.append)
    assert len(seen) >= 2 * STEPS and seen == sorted(seen) and seen[-1] == 1.0
    assert 0 < seen[0] < 0.1

    calls = {"n": 0}

    def stop_in_second_batch() -> bool:
        calls["n"] += 1
        return calls["n"] > STEPS + 3

    with pytest.raises(GenerationCancelled) as info:
        generate(model, 4, seed=0, steps=STEPS, batch_size=2, should_stop=stop_in_second_batch)
    assert len(info.value.completed) == 2


def test_bad_arguments_are_rejected(model):
    with pytest.raises(ValueError, match="band_gap must be a finite number"):
        generate(model, 1, band_gap=float("nan"))
    with pytest.raises(ValueError, match="num_atoms range must satisfy"):
        generate(model, 1, num_atoms=(5, 2))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        generate(model, 1, steps=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        generate(model, 1, batch_size=0)
    with pytest.raises(ValueError, match="unknown model 'no-such-variant'; available: default"):
        load_model("no-such-variant")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_model(checkpoint="/nonexistent/model.pt")


def test_cli_writes_cifs_extxyz_and_dos_json(tiny_checkpoint: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert main(["--checkpoint", str(tiny_checkpoint), "--band-gap", "3.0", "--num-samples", "3", "--guidance", "2",
                 "--seed", "0", "--steps", str(STEPS), "--out", str(out)]) == 0
    assert len(list((out / "cif").glob("*.cif"))) == 3
    from ase.io import read

    frames = read(out / "samples.extxyz", index=":")
    assert len(frames) == 3
    # the same per-site arrays as the web archive
    assert frames[0].arrays[EXTXYZ_CHARGE_ARRAY].shape == (len(frames[0]),)
    assert frames[0].arrays[EXTXYZ_DOS_ARRAY].shape == (len(frames[0]), DOS_BINS)
    dos = json.loads((out / "dos.json").read_text())
    assert len(dos["energies_eV"]) == DOS_BINS and len(dos["samples"]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 0 and summary["guidance_scale"] == 2.0 and len(summary["checkpoint_sha256"]) == 64


def test_default_name_resolves_to_first_shipped_variant(tiny_checkpoint: Path, tmp_path: Path, monkeypatch):
    for variant in ("dummy", "structure_only"):
        (tmp_path / variant).mkdir()
        shutil.copyfile(tiny_checkpoint, tmp_path / variant / "model.pt")
    monkeypatch.setattr(registry, "CHECKPOINT_ROOT", tmp_path)
    assert list_models() == ["default", "dummy", "structure-only"]
    default = load_model("default")
    assert default.name == "structure-only"  # charge_dos not shipped: next in the documented order
    assert default.checkpoint_path == (tmp_path / "structure_only" / "model.pt").resolve()
    assert load_model("dummy").name == "dummy"
    (tmp_path / "charge_dos").mkdir()
    shutil.copyfile(tiny_checkpoint, tmp_path / "charge_dos" / "model.pt")
    assert load_model("default").name == "charge-dos"


def test_shipped_variants_are_listed_and_resolved_without_torch():
    """The registry reads the checkpoint folders, not the weights: every shipped variant maps to its
    own model.pt and back to its public name."""
    names = list_models()
    assert names[0] == "default" and "charge-dos" in names
    for name in names[1:]:
        path = registry.checkpoint_path(name)
        assert path.is_file() and registry.public_name(path.parent.name) == name
        assert registry.variant_dir_name(name) == path.parent.name
    assert registry.checkpoint_path("default").parent.name == "charge_dos"


def test_python_dash_m_models_sample_still_runs_the_cli():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "models.sample", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--band-gap" in proc.stdout
