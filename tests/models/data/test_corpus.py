"""The corpus loads in one call, its split is deterministic, and its manifest matches its bytes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from models.data import corpus
from models.data.build_corpus import CORPUS_FILE, MANIFEST_FILE, split_of


def test_manifest_matches_file() -> None:
    manifest = json.loads(MANIFEST_FILE.read_text())
    assert manifest["sha256"] == hashlib.sha256(CORPUS_FILE.read_bytes()).hexdigest()
    df = corpus.corpus_frame()
    assert manifest["rows"] == len(df)
    assert manifest["counts"]["by_split"] == df["split"].value_counts().sort_index().to_dict()


def test_frame_contents() -> None:
    df = corpus.corpus_frame()
    assert df["material_id"].is_unique
    assert df["n_sites"].between(1, 20).all()
    assert set(df["source"]) == {"mp20", "mpts52"}
    # MPTS-52 has no band gap: its rows carry a missing label, never a made-up 0.
    assert df.loc[df["source"] == "mpts52", "band_gap"].isna().all()
    assert df.loc[df["source"] == "mp20", "band_gap"].notna().all()


def test_split_is_a_function_of_the_id() -> None:
    df = corpus.corpus_frame()
    sample = df.sample(200, random_state=0)
    assert all(split_of(m) == s for m, s in zip(sample["material_id"], sample["split"], strict=True))
    frac = df["split"].value_counts(normalize=True)
    assert 0.75 < frac["train"] < 0.85 and 0.07 < frac["val"] < 0.13 and 0.07 < frac["test"] < 0.13


def test_load_corpus_returns_structures_and_labels() -> None:
    entries = corpus.load_corpus(split="val", descriptors="none", limit=25)
    assert len(entries) == 25
    for e in entries:
        assert e.split == "val"
        assert len(e.structure) == e.n_sites >= 1
        assert e.structure.volume > 0
        assert e.formation_energy_per_atom is not None and np.isfinite(e.formation_energy_per_atom)
        assert e.charges is None and e.descriptor_source is None


def test_load_by_id_and_unknown_split() -> None:
    mid = corpus.corpus_frame()["material_id"].iloc[3]
    (e,) = corpus.load_corpus(material_ids=[mid], descriptors="none")
    assert e.material_id == mid
    with pytest.raises(ValueError, match="unknown split"):
        corpus.load_corpus(split="training")  # type: ignore[arg-type]


def test_descriptor_counts_cover_the_corpus() -> None:
    counts = corpus.descriptor_counts()
    assert sum(counts.values()) == len(corpus.corpus_frame())
    assert set(counts) == {"dft", "predicted", "none"}
