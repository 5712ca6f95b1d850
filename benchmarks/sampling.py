"""Suite ``sampling``: validity, composition statistics, speed, validity vs steps, type leak, throughput.

Per variant: ``samples`` unconditional and ``samples`` guided crystals (band gap 3 eV, γ = 2) at the
model's default step count, scored for structural validity (all distances ≥ 0.5 Å, volume ≥ 0.1 Å³)
and SMACT compositional validity with :mod:`models.evaluate.validity` — the same code the inverse
suite uses. Because all-metal cells pass SMACT by definition, SMACT is also reported on the crystals
that are not all-metal, with the all-metal fraction; next to them the mean number of distinct elements
per cell (training split for reference) and the fraction of as-sampled crystals StructureMatcher
matches to a corpus / MPTS-52 crystal, and the share of P1 cells (no symmetry found at symprec 0.1 Å)
next to the training split's. Speed is the wall time of ``generate`` divided by the number of
crystals (checks excluded). The validity/steps trade-off repeats the guided run at each step count; the
type-leak check (:mod:`benchmarks.type_leak`) runs once per variant; training throughput comes from the
shipped training log.
"""

from __future__ import annotations

import csv
import statistics
import time

from benchmarks.jobs import Job
from benchmarks.settings import SamplingSettings
from benchmarks.variants import VariantInfo

GUIDED_S_PER_CRYSTAL_STEP = 0.003  # rough CPU cost, only used to start the longest jobs first


def sampling_job(
    checkpoint: str,
    sha256: str,
    n: int,
    steps: int | None,
    guidance: float,
    band_gap: float | None,
    seed: int,
    batch_size: int,
    match_known: bool = True,
    charge_balance: bool | None = None,
) -> dict:
    """Generate ``n`` crystals and score their validity; runs inside a worker process."""
    import torch

    from benchmarks.modelcache import model_for
    from models.evaluate.symmetry import p1_count
    from models.evaluate.validity import check_validity
    from models.sample import generate

    model = model_for(checkpoint, sha256)
    steps_used = model.default_steps if steps is None else int(steps)
    t0, c0 = time.perf_counter(), time.process_time()
    crystals = generate(
        model,
        n,
        band_gap=band_gap,
        guidance_scale=guidance if band_gap is not None else 0.0,
        seed=seed,
        steps=steps_used,
        batch_size=batch_size,
        charge_balance=charge_balance,
    )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    checks = [check_validity(c.structure) for c in crystals]
    n_out = len(crystals)
    s_ok = sum(c.structure_valid for c in checks)
    c_ok = sum(c.composition_valid for c in checks)
    both = sum(c.valid for c in checks)
    metal = sum(c.all_metal for c in checks)
    c_ok_not_metal = sum(c.composition_valid for c in checks if not c.all_metal)
    known = known_matches([c.structure for c in crystals]) if match_known else None
    p1, with_group = p1_count(c.structure for c in crystals)
    return {
        "n": n_out,
        "steps": steps_used,
        "guidance": guidance if band_gap is not None else 0.0,
        "band_gap": band_gap,
        "seed": seed,
        "batch_size": batch_size,
        "charge_balance": (
            bool(model.config["sampling"]["charge_balance"]) if charge_balance is None else charge_balance
        ),
        "torch_threads": torch.get_num_threads(),
        "sampling_seconds": round(seconds, 3),
        "seconds_per_structure": round(seconds / max(n_out, 1), 4),
        "sampling_cpu_seconds": round(cpu, 3),
        "cpu_seconds_per_structure": round(cpu / max(n_out, 1), 4),
        "structure_valid": s_ok,
        "composition_valid": c_ok,
        "valid": both,
        "structure_valid_rate": s_ok / n_out if n_out else None,
        "composition_valid_rate": c_ok / n_out if n_out else None,
        "valid_rate": both / n_out if n_out else None,
        "unique_formulas": len({c.structure.composition.reduced_formula for c in crystals}),
        "mean_sites": statistics.fmean(len(c.structure) for c in crystals) if crystals else None,
        "mean_elements": (
            statistics.fmean(len(c.structure.composition.elements) for c in crystals) if crystals else None
        ),
        "all_metal": metal,
        "all_metal_rate": metal / n_out if n_out else None,
        "not_all_metal": n_out - metal,
        "composition_valid_not_all_metal": c_ok_not_metal,
        "composition_valid_not_all_metal_rate": c_ok_not_metal / (n_out - metal) if n_out > metal else None,
        "known_match": known,
        "known_match_rate": known / n_out if known is not None and n_out else None,
        "p1": p1,
        "p1_rate": p1 / with_group if with_group else None,
    }


def known_matches(structures) -> int:
    """How many as-sampled crystals StructureMatcher matches to a corpus / MPTS-52 crystal."""
    from models.evaluate.novelty import known_crystals

    known = known_crystals()
    return sum(known.match(s) is not None for s in structures)


def _default_steps(info: VariantInfo) -> int:
    import torch

    payload = torch.load(info.snapshot, map_location="cpu", weights_only=False)
    return int(payload["config"]["sampling"]["steps"])


def jobs(variants: list[VariantInfo], s: SamplingSettings) -> list[Job]:
    out: list[Job] = []
    for v in variants:
        base = {"checkpoint": str(v.snapshot), "sha256": v.sha256, "seed": s.seed, "batch_size": s.batch_size}
        default = _default_steps(v)
        out.append(
            Job(f"sampling__{v.name}__uncond", "benchmarks.sampling:sampling_job",
                {**base, "n": s.samples, "steps": default, "guidance": 0.0, "band_gap": None},
                cost=s.samples * default * 0.5 * GUIDED_S_PER_CRYSTAL_STEP)
        )
        out.append(
            Job(f"sampling__{v.name}__guided", "benchmarks.sampling:sampling_job",
                {**base, "n": s.samples, "steps": default, "guidance": s.guidance, "band_gap": s.guided_band_gap},
                cost=s.samples * default * GUIDED_S_PER_CRYSTAL_STEP)
        )
        for steps in s.steps_sweep:
            if steps == default:
                continue  # the guided run above is this point of the trade-off
            out.append(
                Job(f"sampling__{v.name}__guided__steps{steps}", "benchmarks.sampling:sampling_job",
                    {**base, "n": s.sweep_samples, "steps": steps, "guidance": s.guidance,
                     "band_gap": s.guided_band_gap, "match_known": False},
                    cost=s.sweep_samples * steps * GUIDED_S_PER_CRYSTAL_STEP)
            )
        out.append(
            Job(f"sampling__{v.name}__type_leak", "benchmarks.type_leak:type_leak_job",
                {"checkpoint": str(v.snapshot), "sha256": v.sha256, "n_crystals": s.leak_crystals,
                 "t": s.leak_t, "seed": s.leak_seed},
                cost=10.0)
        )
    return out


def training_mean_elements() -> float:
    """Mean number of distinct elements per crystal of the corpus train split (what the model learned)."""
    from models.data.corpus import corpus_frame

    df = corpus_frame()
    return float(df.loc[df["split"] == "train", "elements"].str.split().str.len().mean())


def training_p1_rate(n: int = 1000, seed: int = 0) -> dict:
    """Share of P1 cells among ``n`` random training crystals (what the generated share compares with)."""
    from models.data.corpus import corpus_frame, structures_for
    from models.evaluate.symmetry import SYMPREC, p1_count

    train = corpus_frame().query("split == 'train'")
    rows = train.sample(n=min(n, len(train)), random_state=seed)
    by_id = structures_for(rows)
    structures = [by_id[mid] for mid in rows["material_id"]]
    p1, analysed = p1_count(structures)
    return {"p1": p1, "analysed": analysed, "rate": p1 / analysed if analysed else None, "symprec": SYMPREC,
            "seed": seed}


def training_throughput(info: VariantInfo) -> dict:
    """Crystals/s from the shipped training log (median over logged intervals) and the manifest."""
    log_path = info.checkpoint.parent / "train_log.csv"
    out: dict = {"source": str(log_path), "param_count_manifest": info.manifest.get("param_count")}
    if log_path.exists():
        with open(log_path) as f:
            rates = [float(r["crystals_per_s"]) for r in csv.DictReader(f) if r.get("crystals_per_s")]
        if rates:
            out["crystals_per_s_median"] = statistics.median(rates)
            out["crystals_per_s_p10_p90"] = [
                statistics.quantiles(rates, n=10)[0], statistics.quantiles(rates, n=10)[-1]
            ] if len(rates) >= 10 else None
            out["log_intervals"] = len(rates)
    seen, hours = info.manifest.get("crystals_seen"), info.manifest.get("train_hours")
    if seen and hours:
        out["crystals_per_s_overall"] = seen / (hours * 3600.0)  # includes validation/checkpoint time
    out["threads"] = None
    cfg = info.checkpoint.parent / "config.yaml"
    if cfg.exists():
        import yaml

        out["threads"] = (yaml.safe_load(cfg.read_text()).get("training") or {}).get("num_threads")
    return out


def parameter_count(info: VariantInfo) -> int:
    """Counted from the loaded network, not copied from the manifest."""
    from models.sample import load_model

    net = load_model(checkpoint=info.snapshot).network
    return int(sum(p.numel() for p in net.parameters()))


def assemble(variants: list[VariantInfo], s: SamplingSettings, results: dict[str, dict]) -> dict:
    per_variant = []
    for v in variants:
        uncond = results[f"sampling__{v.name}__uncond"]
        guided = results[f"sampling__{v.name}__guided"]
        # The configured step counts plus the model's default (the guided run), whatever it is.
        tradeoff = [guided]
        for steps in s.steps_sweep:
            r = results.get(f"sampling__{v.name}__guided__steps{steps}")
            if r is not None and r["steps"] != guided["steps"]:
                tradeoff.append(r)
        tradeoff.sort(key=lambda r: -r["steps"])
        per_variant.append(
            {
                **v.as_dict(),
                "param_count": parameter_count(v),
                "training_throughput": training_throughput(v),
                "unconditional": uncond,
                "guided": guided,
                "steps_tradeoff": tradeoff,
                "type_leak": results.get(f"sampling__{v.name}__type_leak"),
            }
        )
    return {"variants": per_variant, "training_mean_elements": training_mean_elements(),
            "training_p1": training_p1_rate()}


if __name__ == "__main__":
    # Score any checkpoint the way the suite scores a shipped one (how the model card's short-budget
    # ablations are measured): python -m benchmarks.sampling model.pt [...] --samples 1000 --seed 11
    import argparse
    import json

    import torch

    from models.hashing import sha256_file

    p = argparse.ArgumentParser(prog="python -m benchmarks.sampling", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("checkpoints", nargs="+", help="model.pt files")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--band-gap", type=float, default=None, help="guided target in eV (default: unconditional)")
    p.add_argument("--guidance", type=float, default=2.0, help="γ for a guided target")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--charge-balance", action=argparse.BooleanOptionalAction, default=None,
                   help="charge-balance closing of each crystal's last element (default: the model's setting)")
    p.add_argument("--no-known", action="store_true", help="skip the StructureMatcher check against known crystals")
    a = p.parse_args()
    if a.samples < 1 or a.batch_size < 1:
        p.error("--samples and --batch-size must be >= 1")
    torch.set_num_threads(1)
    for ck in a.checkpoints:
        out = sampling_job(ck, sha256_file(ck), a.samples, a.steps, a.guidance, a.band_gap, a.seed, a.batch_size,
                           match_known=not a.no_known, charge_balance=a.charge_balance)
        print(json.dumps({"checkpoint": ck, **out}), flush=True)
