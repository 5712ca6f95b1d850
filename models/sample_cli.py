"""Command line of the sampler:

    python -m models.sample --band-gap 3.0 --num-samples 64 --guidance 2 --seed 0 --out DIR \\
        [--formation-energy -1.5] [--model NAME] [--steps N]

writes ``DIR/cif/sample_XXXX.cif``, ``DIR/samples.extxyz`` (per-atom charge and ``dos`` arrays when the
variant has those channels), ``DIR/dos.json`` (energy grid + per-site DOS) and ``DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from models.crystal_io import EXTXYZ_CHARGE_ARRAY, write_extxyz
from models.data.descriptor_spec import CHARGE_UNIT, DOS_BINS, DOS_ENERGIES, DOS_UNIT
from models.registry import list_models
from models.sample import GeneratedCrystal, generate, load_model


def write_outputs(crystals: list[GeneratedCrystal], out: Path, provenance: dict) -> None:
    """CIFs, one extxyz with per-site charges and DOS, DOS JSON and a summary with provenance."""
    (out / "cif").mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(crystals):
        c.structure.to(filename=str(out / "cif" / f"sample_{i:04d}.cif"))
    if crystals:
        with open(out / "samples.extxyz", "w") as fh:
            write_extxyz(
                ((c.structure, c.charges, c.dos, {"sample_index": i}) for i, c in enumerate(crystals)),
                fh,
                charge_array=EXTXYZ_CHARGE_ARRAY,
            )
    dos_records = [
        {"index": i, "formula": c.structure.composition.reduced_formula, "dos": np.round(c.dos, 6).tolist()}
        for i, c in enumerate(crystals)
        if c.dos is not None
    ]
    if dos_records:
        (out / "dos.json").write_text(
            json.dumps(
                {"energies_eV": DOS_ENERGIES.tolist(), "unit": DOS_UNIT, "bins": DOS_BINS, "samples": dos_records}
            )
        )
    summary = {
        **provenance,
        "charge_unit": CHARGE_UNIT,
        "samples": [
            {"index": i, "formula": c.structure.composition.reduced_formula, "n_sites": len(c.structure)}
            for i, c in enumerate(crystals)
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Sample crystals from the joint diffusion model.")
    p.add_argument("--band-gap", type=float, default=None, help="target band gap, eV")
    p.add_argument("--formation-energy", type=float, default=None, help="target formation energy, eV/atom")
    p.add_argument("--num-samples", type=int, default=16)
    p.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale γ")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--model", default="default", help=f"shipped variant: {', '.join(list_models()) or 'none'}")
    p.add_argument("--checkpoint", default=None, help="path to a model.pt instead of a shipped variant")
    p.add_argument("--num-atoms", type=int, nargs=2, metavar=("MIN", "MAX"), default=None)
    p.add_argument("--elements", nargs="+", default=None, help="allowed elements (chemical system)")
    p.add_argument("--required-elements", nargs="+", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 avoids contention on busy machines)"
    )
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    # Thread count is a property of the process, so the entry point sets it, not the library.
    torch.set_num_threads(args.threads)
    model = load_model(args.model, args.checkpoint)
    crystals = generate(
        model,
        args.num_samples,
        band_gap=args.band_gap,
        formation_energy_per_atom=args.formation_energy,
        guidance_scale=args.guidance,
        seed=args.seed,
        steps=args.steps,
        num_atoms=tuple(args.num_atoms) if args.num_atoms else None,
        allowed_elements=args.elements,
        required_elements=args.required_elements,
        batch_size=args.batch_size,
    )
    provenance = {
        "model": model.name,
        "checkpoint": str(model.checkpoint_path),
        "checkpoint_sha256": model.checkpoint_sha256,
        "train_step": model.train_step,
        "band_gap": args.band_gap,
        "formation_energy_per_atom": args.formation_energy,
        "guidance_scale": args.guidance,
        "seed": args.seed,
        "steps": args.steps or model.default_steps,
    }
    write_outputs(crystals, args.out, provenance)
    print(f"wrote {len(crystals)} crystals to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
