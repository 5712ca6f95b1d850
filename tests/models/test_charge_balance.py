"""Charge-balance closing: the element completing a crystal is drawn from p(element | valid composition)."""

from pathlib import Path

import pytest
import torch
from pymatgen.core import Element
from scipy.stats import binomtest

from models.charge_balance import ChargeBalanceClosing
from models.diffusion.batch import MASK_INDEX, NUM_ELEMENTS
from models.diffusion.build import load_config
from models.diffusion.joint import SamplerSettings
from models.evaluate.validity import composition_is_valid, counts_are_valid
from models.sample import generate, load_model

M = MASK_INDEX


def z(symbol: str) -> int:
    return Element(symbol).Z - 1


def log_probs_for(rows: list[dict[str, float]]) -> torch.Tensor:
    """One row per site: the given element probabilities, every other element impossible."""
    out = torch.full((len(rows), NUM_ELEMENTS), float("-inf"))
    for i, row in enumerate(rows):
        for symbol, p in row.items():
            out[i, z(symbol)] = torch.log(torch.tensor(p))
    return out


def step(closing: ChargeBalanceClosing, before: list, after: list, rows: list[dict], batch: list[int], seed: int = 0):
    return closing(
        torch.tensor([x if x == M else z(x) for x in before]),
        torch.tensor([x if x == M else z(x) for x in after]),
        log_probs_for(rows),
        torch.tensor(batch),
        torch.Generator().manual_seed(seed),
    )


def test_counts_are_valid_agrees_with_composition_is_valid():
    for counts in ({"Na": 2, "O": 1}, {"Na": 2, "Cl": 1}, {"Na": 4, "O": 2}, {"Fe": 1, "Ni": 3}, {"Cs": 1, "Ar": 1}):
        formula = "".join(f"{s}{n}" for s, n in counts.items())
        assert counts_are_valid(counts) == composition_is_valid(formula), formula
    assert not counts_are_valid({})


def test_an_unbalanced_closing_element_is_redrawn_in_proportion_among_the_balancing_ones():
    rows = [{"Na": 1.0}, {"Na": 1.0}, {"Cl": 0.7, "O": 0.2, "S": 0.1}]
    closing = ChargeBalanceClosing()
    drawn = [int(step(closing, ["Na", "Na", M], ["Na", "Na", "Cl"], rows, [0, 0, 0], seed)[2]) for seed in range(600)]
    assert set(drawn) <= {z("O"), z("S")}  # Na2Cl cannot be balanced; Na2O and Na2S can
    n_oxygen = drawn.count(z("O"))
    # p(O | balanced) = 0.2 / (0.2 + 0.1)
    assert binomtest(n_oxygen, len(drawn), 2 / 3).pvalue > 1e-3
    assert closing.stats() == {"closed": 600, "redrawn": 600, "unbalanceable": 0}


def test_a_balanced_draw_and_a_crystal_still_open_are_left_alone():
    rows = [{"Na": 1.0}, {"Na": 1.0}, {"O": 0.5, "Cl": 0.5}, {"K": 1.0}, {"Cl": 0.9, "O": 0.1}]
    closing = ChargeBalanceClosing()
    # crystal 0 closes with Na2O (balanced); crystal 1 (K, Cl, and a site still masked) is not complete yet
    out = step(closing, ["Na", "Na", M, M, M], ["Na", "Na", "O", "K", M], rows, [0, 0, 0, 1, 1])
    assert out.tolist() == [z("Na"), z("Na"), z("O"), z("K"), M]
    assert closing.stats() == {"closed": 1, "redrawn": 0, "unbalanceable": 0}


def test_the_least_confident_site_of_the_closing_step_is_redrawn():
    rows = [{"Cl": 1.0}, {"Ca": 0.99, "Cl": 0.01}, {"Ca": 0.6, "Cl": 0.4}]
    closing = ChargeBalanceClosing()
    out = step(closing, ["Cl", M, M], ["Cl", "Ca", "Ca"], rows, [0, 0, 0])
    # Ca2Cl is unbalanced; site 2 (p = 0.6) is less sure than site 1 (0.99), and Cl there gives CaCl2
    assert out.tolist() == [z("Cl"), z("Ca"), z("Cl")]


def test_when_no_candidate_balances_the_draw_is_kept_and_counted():
    rows = [{"Na": 1.0}, {"Cl": 1.0}, {"Cl": 0.6, "Ar": 0.4}]
    closing = ChargeBalanceClosing()
    out = step(closing, ["Na", "Cl", M], ["Na", "Cl", "Ar"], rows, [0, 0, 0])
    assert out.tolist() == [z("Na"), z("Cl"), z("Ar")]
    assert closing.stats() == {"closed": 1, "redrawn": 0, "unbalanceable": 1}
    with pytest.raises(ValueError):
        ChargeBalanceClosing(candidates=0)


def test_the_sampler_applies_the_constraint_and_every_crystal_closes_once(tiny_checkpoint: Path):
    model = load_model(checkpoint=tiny_checkpoint)
    num_atoms = torch.tensor([3, 5, 4, 6, 2, 7])
    closing = ChargeBalanceClosing()
    torch.set_num_threads(1)
    fields = model.diffusion.sample(
        model.network, num_atoms, SamplerSettings(steps=12), None, None, torch.Generator().manual_seed(5),
        type_constraint=closing,
    )
    assert closing.stats()["closed"] == len(num_atoms)
    starts = torch.cumsum(num_atoms, 0) - num_atoms
    invalid = 0
    for s, n in zip(starts.tolist(), num_atoms.tolist(), strict=True):
        symbols = [Element.from_Z(int(t) + 1).symbol for t in fields.atom_types[s : s + n]]
        invalid += not counts_are_valid({x: symbols.count(x) for x in set(symbols)})
    # every crystal is balanced unless no candidate element could balance it
    assert invalid <= closing.stats()["unbalanceable"]


def test_generate_follows_the_model_setting_unless_told(tiny_checkpoint: Path):
    model = load_model(checkpoint=tiny_checkpoint)
    assert model.config["sampling"]["charge_balance"]  # on by default, also for configs written before it
    assert load_config({"sampling": {"steps": 10}})["sampling"]["charge_balance"]
    default = generate(model, 8, seed=2, steps=10)
    on = generate(model, 8, seed=2, steps=10, charge_balance=True)
    off = generate(model, 8, seed=2, steps=10, charge_balance=False)
    assert [c.structure.formula for c in default] == [c.structure.formula for c in on]
    assert [c.structure.formula for c in on] != [c.structure.formula for c in off]
    assert sum(composition_is_valid(c.structure.composition) for c in on) > sum(
        composition_is_valid(c.structure.composition) for c in off
    )
