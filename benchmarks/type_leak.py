"""How much of a masked site's element can the network read off its descriptor input?

The joint model denoises element types and per-site descriptors together. If the noisy descriptor of
a masked site still identifies its element, the type head learns to read the element from that input
instead of from the structure, and at sampling time — where descriptors start as pure noise — that
shortcut is gone. The check: on fixed validation crystals at one fixed diffusion time, corrupt every
field exactly as training does (``JointDiffusion.losses``) and score the type logits on masked sites
(unweighted cross-entropy in nats, top-1 accuracy) twice:

* ``own``: with the model's own corrupted descriptors (what training sees);
* ``noise``: with the descriptor input replaced by standard normal noise, present flag kept (what the
  sampler's start looks like).

A low ``own`` CE with a high ``noise`` CE means the type head leans on the descriptor. A model
without descriptor channels has one number (both are the same input).
"""

from __future__ import annotations

import time

import torch

from models.diffusion.batch import collate

LEAK_T = 0.2
LEAK_CRYSTALS = 256
LEAK_SEED = 1234


def _scores(net, diffusion, batch, types_t, masked, x_t, lat_t, t, desc, present, conds) -> dict:
    out = net(types_t, x_t, lat_t, batch.num_atoms, desc, present, t, conds)
    logits = out.type_logits
    ce = diffusion.types.masked_cross_entropy(logits, batch.atom_types, masked)
    top1 = (logits[masked].argmax(-1) == batch.atom_types[masked]).float().mean()
    return {"cross_entropy_nats": round(float(ce), 4), "top1_accuracy": round(float(top1), 4)}


@torch.no_grad()
def type_leak(model, n_crystals: int = LEAK_CRYSTALS, t_value: float = LEAK_T, seed: int = LEAK_SEED) -> dict:
    """Type cross-entropy / accuracy on masked validation sites at fixed ``t``, own vs noise descriptors.

    ``model`` is a ``models.sample.LoadedModel``; the corruption replicates ``JointDiffusion.losses``
    (types, coords, lattice, descriptors corrupted at the same t, conditions not dropped)."""
    from models.diffusion.dataset import attach_descriptors, load_crystals

    t0 = time.process_time()
    cfg, diffusion, net = model.config, model.diffusion, model.network
    channels = cfg["fields"]["descriptors"]
    items = load_crystals("val", cfg["data"]["descriptors"], n_crystals)
    attach_descriptors(items, channels, model.stats)
    batch = collate(items, diffusion.descriptor_dim)
    gen = torch.Generator().manual_seed(seed)
    t = torch.full((batch.num_crystals,), float(t_value))
    t_site = t[batch.batch_idx]
    n_site = batch.num_atoms[batch.batch_idx]
    types_t, masked = diffusion.types.corrupt(batch.atom_types, t_site, gen)
    x_t, _ = diffusion.coords.corrupt(batch.frac_coords, t_site, n_site, gen)
    lat_t, _ = diffusion.lattice.corrupt(batch.lattice, batch.num_atoms, t, gen)
    if diffusion.descriptors is not None:
        d_t, _ = diffusion.descriptors.corrupt(batch.descriptors, batch.descriptor_mask, t_site, gen)
    else:
        d_t = batch.frac_coords.new_zeros(batch.frac_coords.shape[0], 0)
    noise = torch.randn(d_t.shape, generator=gen, dtype=d_t.dtype)
    conds = diffusion.training_conditions(batch, gen, drop=False)
    net.eval()
    args = (net, diffusion, batch, types_t, masked, x_t, lat_t, t)
    own = _scores(*args, d_t, batch.descriptor_mask, conds)
    result = {
        "t": t_value,
        "seed": seed,
        "crystals": batch.num_crystals,
        "sites": int(batch.atom_types.shape[0]),
        "masked_sites": int(masked.sum()),
        "descriptor_channels": channels,
        "descriptor_source": cfg["data"]["descriptors"],
        "sites_with_descriptor": int(batch.descriptor_mask.sum()),
        "own": own,
    }
    # Without descriptor channels the "noise" input is the same empty tensor: one measurement.
    result["noise"] = own if d_t.shape[1] == 0 else _scores(*args, noise, batch.descriptor_mask, conds)
    result["cpu_seconds"] = round(time.process_time() - t0, 2)
    return result


def type_leak_job(checkpoint: str, sha256: str, n_crystals: int, t: float, seed: int) -> dict:
    """Worker entry point of the sampling suite."""
    from benchmarks.modelcache import model_for

    return type_leak(model_for(checkpoint, sha256), n_crystals, t, seed)


if __name__ == "__main__":
    import argparse
    import json

    from models.sample import load_model

    p = argparse.ArgumentParser(prog="python -m benchmarks.type_leak", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="model.pt files")
    p.add_argument("--crystals", type=int, default=LEAK_CRYSTALS)
    p.add_argument("--t", type=float, default=LEAK_T)
    p.add_argument("--seed", type=int, default=LEAK_SEED)
    a = p.parse_args()
    torch.set_num_threads(1)
    for ck in a.checkpoints:
        print(json.dumps({"checkpoint": ck, **type_leak(load_model(checkpoint=ck), a.crystals, a.t, a.seed)}))
