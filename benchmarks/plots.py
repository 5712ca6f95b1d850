"""PNG plots of the benchmark results (matplotlib, Agg backend: no display on a server)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.settings import target_grid, target_key, target_label  # noqa: E402

PROPERTY_RANGE = {"band_gap": (0.0, 8.0), "formation_energy_per_atom": (-4.5, 1.0)}
PROPERTY_LABEL = {"band_gap": "band gap (eV, predictor)", "formation_energy_per_atom": "E_form (eV/atom, CHGNet)"}
METAL_GAP = 0.1  # eV, the evaluation's metal / non-metal threshold
TOLERANCE = {"band_gap": 0.5, "formation_energy_per_atom": 0.2}


def stamp_text(provenance: dict) -> str:
    """Date, commit, command and core-hours of the run, printed on every figure so a PNG seen on its own
    still says where it came from."""
    commit = (provenance.get("git") or {}).get("commit") or "?"
    hours = (provenance.get("job_cpu_seconds") or 0.0) / 3600
    return f"{provenance.get('date_start')} · commit {commit[:12]} · {provenance.get('command')} · {hours:.2f} core-hours"


def save(fig, path: Path, stamp: str = "") -> Path:
    if stamp:
        fig.text(0.005, 0.002, stamp, fontsize=6, color="0.4", ha="left", va="bottom")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _values(cell: dict, prop: str) -> np.ndarray:
    """The property of the structurally valid crystals (only those were relaxed and scored)."""
    v = [r.get(prop) for r in cell["records"] if r.get("structure_valid")]
    return np.array([x for x in v if x is not None], dtype=float)


def _shown(values: np.ndarray, prop: str) -> tuple[np.ndarray, str]:
    """Values to histogram and a legend note. Band gaps: metals (< 0.1 eV, ~70 % of the corpus) would
    be one bar dwarfing everything, so the histogram shows non-metals and the legend the metal share."""
    lo, hi = PROPERTY_RANGE[prop]
    n = values.size
    if prop == "band_gap":
        metal = values < METAL_GAP
        share = f"{100 * metal.mean():.0f} %" if n else "–"
        return np.clip(values[~metal], lo, hi), f" (n={n}, metals {share})"
    return np.clip(values, lo, hi), f" (n={n})"


def _grid_cells(result: dict) -> dict[tuple[str, str], dict]:
    out = {}
    for r in result["grid"]["rows"]:
        key = next(k for k in result["grid"]["cells"] if k.startswith(f"inverse__{r['variant']}__{r['target_key']}__"))
        out[(r["variant"], r["target_key"])] = result["grid"]["cells"][key]
    return out


def property_distributions(result: dict, training: dict[str, np.ndarray], path: Path, stamp: str = "") -> Path:
    variants = list(dict.fromkeys(r["variant"] for r in result["grid"]["rows"]))
    cells = _grid_cells(result)
    targets = target_grid()
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    for ax, target in zip(axes.flat, targets, strict=True):
        prop = next(iter(target)) if target else "formation_energy_per_atom"
        lo, hi = PROPERTY_RANGE[prop]
        bins = np.linspace(lo, hi, 41)
        train = _shown(training[prop], prop)
        ax.hist(train[0], bins=bins, density=True, color="0.8", label=f"training, train split{train[1]}")
        for v in variants:
            cell = cells.get((v, target_key(target)))
            if cell is None:
                continue
            vals, note = _shown(_values(cell, prop), prop)
            if vals.size:
                ax.hist(vals, bins=bins, density=True, histtype="step", linewidth=1.8, label=f"{v}{note}")
        if target:
            t = target[prop]
            ax.axvspan(t - TOLERANCE[prop], t + TOLERANCE[prop], color="tab:green", alpha=0.15)
            ax.axvline(t, color="tab:green", linestyle="--")
        ax.set_title(f"target: {target_label(target)}")
        ax.set_xlabel(PROPERTY_LABEL[prop])
        ax.legend(fontsize=7)
    fig.suptitle(
        "Generated property per target (structurally valid crystals) vs training; band-gap panels show "
        "non-metals (density), metal share in the legend"
    )
    fig.tight_layout()
    return save(fig, path, stamp)


def success_by_variant(result: dict, path: Path, stamp: str = "") -> Path:
    rows = result["grid"]["rows"]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    targets = [target_key(t) for t in target_grid()]
    labels = [target_label(t).replace(" eV/atom", "").replace(" eV", "") for t in target_grid()]
    width = 0.8 / max(len(variants), 1)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    x = np.arange(len(targets))
    for i, v in enumerate(variants):
        by_t = {r["target_key"]: r for r in rows if r["variant"] == v}
        ys = [100 * (by_t[t]["success_rate"] or 0.0) if t in by_t else 0.0 for t in targets]
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, ys, width, label=v)
    n = sorted({r["n"] for r in rows})
    ax.set_xticks(x, labels, rotation=20)
    ax.set_ylabel("success rate (%)")
    ax.set_title(f"Success rate per variant and target (n = {', '.join(map(str, n))} per cell; unconditional = VSUN)")
    ax.legend()
    fig.tight_layout()
    return save(fig, path, stamp)


def guidance_sweep(result: dict, path: Path, stamp: str = "") -> Path:
    rows = result["sweep"]["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for t in dict.fromkeys(r["target"] for r in rows):
        pts = sorted((r["gamma_value"], r) for r in rows if r["target"] == t)
        if len(pts) < 3:
            continue  # only γ = 0 and 2 for this target: no curve
        g = [p[0] for p in pts]
        axes[0].plot(g, [100 * (p[1]["success_rate"] or 0) for p in pts], marker="o", label=t)
        axes[1].plot(g, [100 * (p[1]["valid_rate"] or 0) for p in pts], marker="o", label=t)
    for ax, what in zip(axes, ("success rate (%)", "valid rate (%)"), strict=True):
        ax.set_xlabel("guidance scale γ")
        ax.set_ylabel(what)
        ax.legend(fontsize=8)
    fig.suptitle(f"Guidance sweep, variant {result['sweep']['variant']}")
    fig.tight_layout()
    return save(fig, path, stamp)


def validity_vs_steps(result: dict, path: Path, stamp: str = "") -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for v in result["variants"]:
        pts = sorted(v["steps_tradeoff"], key=lambda r: r["steps"])
        steps = [r["steps"] for r in pts]
        ax.plot(steps, [100 * (r["structure_valid_rate"] or 0) for r in pts], marker="o", label=f"{v['variant']} structural")
        ax.plot(steps, [100 * (r["composition_valid_rate"] or 0) for r in pts], marker="s", linestyle="--",
                label=f"{v['variant']} SMACT")
    ax.set_xscale("log")
    ax.set_xlabel("denoising steps")
    ax.set_ylabel("valid (%)")
    ax.set_title("Validity vs denoising steps (guided)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path, stamp)


def training_distribution() -> dict[str, np.ndarray]:
    """Band gap and formation energy of the corpus train split (the distribution the model learned)."""
    from models.data.corpus import corpus_frame

    df = corpus_frame()
    train = df[df["split"] == "train"]
    return {
        "band_gap": train["band_gap"].dropna().to_numpy(dtype=float),
        "formation_energy_per_atom": train["formation_energy_per_atom"].dropna().to_numpy(dtype=float),
    }


def formation_energy_errors(result: dict, path: Path, stamp: str = "") -> Path:
    """Histogram of (generated − target) formation energy per E_form target and variant: the mean error
    hides a bimodal distribution (crystals on target plus a mode far from it)."""
    cells = _grid_cells(result)
    variants = list(dict.fromkeys(r["variant"] for r in result["grid"]["rows"]))
    targets = [t for t in target_grid() if t and "formation_energy_per_atom" in t]
    fig, axes = plt.subplots(1, max(len(targets), 1), figsize=(6 * max(len(targets), 1), 4.5), squeeze=False)
    bins = np.linspace(-3.0, 3.0, 61)
    for ax, target in zip(axes.flat, targets, strict=False):
        for v in variants:
            cell = cells.get((v, target_key(target)))
            if cell is None:
                continue
            e = np.array([r["target_errors"]["formation_energy_per_atom"] for r in cell["records"]
                          if (r.get("target_errors") or {}).get("formation_energy_per_atom") is not None])
            if e.size:
                ax.hist(np.clip(e, bins[0], bins[-1]), bins=bins, histtype="step", linewidth=1.8,
                        label=f"{v} (n={e.size})")
        tol = TOLERANCE["formation_energy_per_atom"]
        ax.axvspan(-tol, tol, color="tab:green", alpha=0.15)
        ax.set_title(f"target: {target_label(target)}")
        ax.set_xlabel("E_form generated − target (eV/atom, CHGNet; clipped to ±3)")
        ax.set_ylabel("crystals")
        ax.legend(fontsize=7)
    fig.suptitle("Guided formation-energy error distribution (green: ±0.2 eV/atom success band)")
    fig.tight_layout()
    return save(fig, path, stamp)
