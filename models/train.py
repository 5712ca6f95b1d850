"""Train one variant of the joint diffusion model.

    python -m models.train --config models/configs/structure_only.yaml [--max-steps N] [--out-dir DIR]
    python -m models.train --config models/configs/structure_only.yaml --ship   # export, do not train

Resumable: the full training state (weights, EMA, optimizer, data order position, elapsed time, best
validation score) is written atomically to ``<out_dir>/last.pt`` every ``checkpoint_every`` steps.
``out_dir`` defaults to ``~/.cache/mattergen-e/train/<variant>``, outside the work tree, so a run
survives a fresh checkout; rerunning the same command continues from there, and the step budget in the
config is a total, not an increment. If that state is gone but the shipped folder holds a checkpoint of
the same variant that stopped short of its budget, training continues from its weights (the optimizer
moments restart, behind a fresh warmup).

Best-checkpoint selection: at every evaluation the EMA weights are scored on a fixed validation subset
with fixed noise; the EMA weights with the lowest validation *type* loss are kept as ``best.pt`` and
exported as ``<out_dir>/model.pt`` (what sampling loads). Types are the field that over-fits first; the
other fields keep improving. ``training.early_stop_evals`` > 0 stops a run after that many evaluations
without improvement. The shipped folder (``training.ship_dir``) is written only when the budget is
reached or on ``--ship``, so the repository receives a weights-only checkpoint when someone decides to
commit one, not every few minutes.
Logs: ``train_log.csv`` and ``train_log.jsonl`` (train loss per field, validation loss per field,
learning rate, crystals/s).
"""

from __future__ import annotations

import argparse
import copy
import math
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from models.cache_dirs import cache_root
from models.checkpoint_files import append_log, atomic_save, export_model, ship, truncate_logs
from models.diffusion.batch import collate
from models.diffusion.build import build_diffusion, build_network, count_parameters, load_config
from models.diffusion.dataset import attach_descriptors, compute_stats, load_crystals
from models.diffusion.descriptors import descriptor_dim

REPO_ROOT = Path(__file__).resolve().parents[1]
class EMA:
    """Exponential moving average of the parameters; sampling uses these smoother weights."""

    def __init__(self, net: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # warm start: early EMA follows the weights
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)


def default_state_dir(name: str) -> Path:
    """Where a variant's resume state lives: outside the work tree, which a new session lays anew."""
    return cache_root() / "train" / name


def lr_at(step: int, tcfg: dict, max_steps: int, restart_step: int = 0) -> float:
    base, warm = float(tcfg["lr"]), int(tcfg["warmup_steps"])
    if step < warm:
        return base * (step + 1) / warm
    if step - restart_step < warm:  # fresh optimizer moments after a weights-only restart: warm up again
        return lr_at(step, tcfg, max_steps) * (step - restart_step + 1) / warm
    frac = min(1.0, (step - warm) / max(1, max_steps - warm))
    floor = float(tcfg["min_lr_ratio"])
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


@torch.no_grad()
def evaluate(diffusion, net, items: list[dict], batch_size: int, dim: int, seed: int) -> dict[str, float]:
    """Mean per-field loss on ``items`` with a fixed generator: comparable across steps and runs."""
    net.eval()
    sums: dict[str, float] = {}
    count = 0
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        gen = torch.Generator().manual_seed(seed + i)
        losses = diffusion.losses(net, collate(chunk, dim), generator=gen, drop_conditions=False)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(chunk)
        count += len(chunk)
    net.train()
    return {k: v / max(count, 1) for k, v in sums.items()}


def _resolve_dirs(
    cfg: dict, out_dir: Path | str | None, ship_dir: Path | str | None = None
) -> tuple[Path, Path | None]:
    tcfg = cfg["training"]
    if out_dir is not None:
        out = Path(out_dir)
    elif tcfg["out_dir"]:
        out = Path(tcfg["out_dir"]).expanduser()
        out = out if out.is_absolute() else REPO_ROOT / out
    else:
        out = default_state_dir(cfg["name"])
    if ship_dir is not None:
        return out, Path(ship_dir).resolve()
    return out, (REPO_ROOT / tcfg["ship_dir"] if tcfg.get("ship_dir") else None)


def _shipped_restart(ship_dir: Path | None, cfg: dict) -> dict | None:
    """A shipped weights-only checkpoint of this variant that stopped short of its budget, if any."""
    if ship_dir is None or not (ship_dir / "model.pt").exists():
        return None
    payload = torch.load(ship_dir / "model.pt", map_location="cpu", weights_only=False)
    # Defaults fill the keys an older snapshot's config lacks, so a new optional key is not a mismatch.
    same = payload.get("config", {}).get("name") == cfg["name"] and load_config(payload["config"])["network"] == cfg["network"]
    if not same or int(payload["step"]) >= int(cfg["training"]["max_steps"]) or "selected_step" not in payload:
        return None
    return payload


def train(
    config: dict | str | Path,
    out_dir: Path | str | None = None,
    max_steps: int | None = None,
    ship_only: bool = False,
    ship_dir: Path | str | None = None,
) -> Path:
    """Train (or resume) the variant described by ``config``; return the path of the exported model.pt."""
    cfg = load_config(config)
    tcfg = cfg["training"]
    # The config keeps the variant's budget; an override only says where this invocation stops.
    total_steps = int(max_steps) if max_steps is not None else int(tcfg["max_steps"])
    out, ship_dir = _resolve_dirs(cfg, out_dir, ship_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(int(cfg["seed"]))

    last = out / "last.pt"
    resume = torch.load(last, weights_only=False) if last.exists() else None
    if ship_only:
        if resume is None:
            raise FileNotFoundError(f"no training state at {last}")
        if ship_dir is None:
            raise ValueError("training.ship_dir is not set for this variant")
        ship(out, ship_dir, resume)
        return ship_dir / "model.pt"
    restart = None if resume or max_steps is not None else _shipped_restart(ship_dir, cfg)

    dcfg = cfg["data"]
    channels = cfg["fields"]["descriptors"]
    dim = descriptor_dim(channels)
    train_items = load_crystals(dcfg["train_split"], dcfg["descriptors"], dcfg["limit"])
    if not train_items:
        raise ValueError("no training crystals selected")
    val_items = []
    if dcfg["val_split"] and int(dcfg["val_limit"]) > 0:
        val_items = load_crystals(dcfg["val_split"], dcfg["descriptors"], int(dcfg["val_limit"]))

    previous = resume or restart
    stats = previous["stats"] if previous else compute_stats(train_items, channels)
    attach_descriptors(train_items, channels, stats)
    attach_descriptors(val_items, channels, stats)

    net = build_network(cfg, stats)
    diffusion = build_diffusion(cfg, stats)
    opt = torch.optim.AdamW(net.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    ema = EMA(net, float(tcfg["ema_decay"]))
    state = {
        "config": cfg,
        "stats": stats,
        "step": 0,
        "epoch": 0,
        "position": 0,
        "train_seconds": 0.0,
        "wall_seconds": 0.0,
        "crystals_seen": 0,
        "param_count": count_parameters(net),
        "best": None,
        "evals_since_best": 0,
        "restart_step": 0,
        "stopped_early": False,
    }
    if resume:
        net.load_state_dict(resume["model"])
        ema.shadow = resume["ema"]
        opt.load_state_dict(resume["optimizer"])
        for k in ("step", "epoch", "position", "train_seconds", "crystals_seen"):
            state[k] = resume[k]
        for k in ("best", "evals_since_best", "restart_step", "stopped_early"):
            state[k] = resume.get(k, state[k])
        state["wall_seconds"] = resume.get("wall_seconds", resume["train_seconds"])
        torch.set_rng_state(resume["torch_rng"])
        truncate_logs(out, int(resume["step"]))
    elif restart:
        weights = restart["state_dict"]
        net.load_state_dict(weights)
        ema.shadow = {k: v.detach().clone() for k, v in weights.items()}
        for k in ("step", "epoch", "train_seconds", "wall_seconds", "crystals_seen"):
            state[k] = restart[k]
        state["restart_step"] = int(restart["step"])
        if restart.get("selected_val_types") is not None:
            state["best"] = {"step": restart["selected_step"], "val_types": restart["selected_val_types"],
                             "ema": restart["state_dict"]}
        if ship_dir is not None and (ship_dir / "train_log.csv").exists():
            shutil.copyfile(ship_dir / "train_log.csv", out / "train_log.csv")
            truncate_logs(out, int(restart["step"]))
    bs = int(tcfg["batch_size"])
    n_train = len(train_items)

    def epoch_order(epoch: int) -> torch.Tensor:
        return torch.randperm(
            n_train, generator=torch.Generator().manual_seed(int(cfg["seed"]) * 100003 + epoch)
        )

    def save_state() -> Path:
        state["epoch_float"] = state["epoch"] + state["position"] / n_train
        state["ema"] = ema.shadow
        atomic_save(
            {
                **{k: v for k, v in state.items() if k != "ema"},
                "model": net.state_dict(),
                "ema": ema.shadow,
                "optimizer": opt.state_dict(),
                "torch_rng": torch.get_rng_state(),
            },
            last,
        )
        return export_model(state, out)

    order = epoch_order(state["epoch"])
    running: dict[str, float] = {}
    running_n = 0
    window_start, window_crystals = time.perf_counter(), 0
    net.train()
    bar = tqdm(
        total=total_steps,
        initial=state["step"],
        desc=f"train {cfg['name']}",
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 60.0,
        dynamic_ncols=True,
    )
    patience = int(tcfg["early_stop_evals"])
    wall_mark = time.perf_counter()
    while state["step"] < total_steps and not state["stopped_early"]:
        if state["position"] + bs > n_train and state["position"] > 0:
            state["epoch"] += 1
            state["position"] = 0
            order = epoch_order(state["epoch"])
        idx = order[state["position"] : state["position"] + bs].tolist()
        state["position"] += len(idx)
        batch = collate([train_items[i] for i in idx], dim)
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(state["step"], tcfg, total_steps, int(state["restart_step"]))
        losses = diffusion.losses(net, batch)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), float(tcfg["grad_clip"]))
        opt.step()
        ema.update(net, state["step"])
        state["train_seconds"] += time.perf_counter() - t0
        state["step"] += 1
        state["crystals_seen"] += len(idx)
        window_crystals += len(idx)
        for k, v in losses.items():
            running[k] = running.get(k, 0.0) + float(v.detach())
        running_n += 1
        bar.update(1)
        step = state["step"]
        do_eval = val_items and (step % int(tcfg["eval_every"]) == 0 or step == total_steps)
        if step % int(tcfg["log_every"]) == 0 or do_eval or step == total_steps:
            now = time.perf_counter()
            row = {
                "step": step,
                "epoch": round(state["epoch"] + state["position"] / n_train, 4),
                "elapsed_s": round(state["train_seconds"], 1),
                "lr": opt.param_groups[0]["lr"],
                "crystals_per_s": round(window_crystals / max(now - window_start, 1e-9), 2),
            }
            row.update({f"train_{k}": round(v / running_n, 5) for k, v in running.items()})
            if do_eval:
                ema_net = copy.deepcopy(net)
                ema_net.load_state_dict(ema.shadow)
                val = evaluate(diffusion, ema_net, val_items, bs, dim, seed=12345)
                row.update({f"val_{k}": round(v, 5) for k, v in val.items()})
                best = state["best"]
                if best is None or val["types"] < best["val_types"]:
                    state["best"] = {"step": step, "val_types": float(val["types"]),
                                     "ema": {k: v.clone() for k, v in ema.shadow.items()}}
                    state["evals_since_best"] = 0
                else:
                    state["evals_since_best"] += 1
                    state["stopped_early"] = 0 < patience <= state["evals_since_best"]
            append_log(out, row)
            bar.set_postfix(loss=row.get("train_total"), val=row.get("val_total", "-"))
            running, running_n = {}, 0
            window_start, window_crystals = time.perf_counter(), 0
        state["wall_seconds"] += time.perf_counter() - wall_mark
        wall_mark = time.perf_counter()
        if step % int(tcfg["checkpoint_every"]) == 0 or step == total_steps or state["stopped_early"]:
            save_state()
    bar.close()
    model_path = save_state()
    # A --max-steps override is a trial, never the variant's budget: it must not replace the shipped files.
    if ship_dir is not None and max_steps is None and (state["step"] >= total_steps or state["stopped_early"]):
        ship(out, ship_dir, state)
    return model_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", required=True, help="variant config, e.g. models/configs/structure_only.yaml"
    )
    parser.add_argument(
        "--out-dir", default=None, help="training state folder (default: ~/.cache/mattergen-e/train/<variant>)"
    )
    parser.add_argument("--max-steps", type=int, default=None, help="override training.max_steps (total)")
    parser.add_argument(
        "--ship", action="store_true",
        help="copy the current selected weights, config, log and manifest to training.ship_dir; no training",
    )
    parser.add_argument(
        "--ship-dir", default=None,
        help="folder to ship to and to restart from (default: training.ship_dir), e.g. for a partial run",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads or int(load_config(args.config)["training"]["num_threads"]))
    path = train(args.config, args.out_dir, args.max_steps, ship_only=args.ship, ship_dir=args.ship_dir)
    print(f"model: {path}")


if __name__ == "__main__":
    main()
