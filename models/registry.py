"""Which model variants are shipped, what they are called, and where their checkpoints live.

Deliberately free of torch: the API lists and validates model names with this module alone, so it
runs without the model's dependencies. Loading weights is :func:`models.sample.load_model`'s job.

A variant lives in ``models/checkpoints/<variant>/`` (``model.pt``, ``config.yaml``, ``manifest.json``);
its directory name uses underscores (``charge_dos``), its public name hyphens (``charge-dos``).
"""

from __future__ import annotations

from pathlib import Path

CHECKPOINT_ROOT = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_NAME = "default"
# "default" is the charge+DOS variant; until it is shipped the first shipped variant in this order
# stands in, and the loaded model's name says which one it really is.
DEFAULT_ORDER = ["charge_dos", "structure_only", "dummy", "charge", "dos"]
CHECKPOINT_FILE = "model.pt"


def public_name(variant: str) -> str:
    """Directory name → API name (``charge_dos`` → ``charge-dos``)."""
    return variant.replace("_", "-")


def variant_dir_name(name: str) -> str:
    """API name → directory name (``charge-dos`` → ``charge_dos``); the inverse of :func:`public_name`."""
    return name.replace("-", "_")


def shipped_variants(root: Path | None = None) -> list[str]:
    """Directory names of the variants whose checkpoint file is present, sorted."""
    root = CHECKPOINT_ROOT if root is None else root
    if not root.exists():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{CHECKPOINT_FILE}"))


def list_models(root: Path | None = None) -> list[str]:
    """Names accepted by ``load_model``: ``default`` (if anything is shipped) then every shipped variant."""
    shipped = shipped_variants(root)
    return ([DEFAULT_NAME] if shipped else []) + [public_name(v) for v in shipped]


def checkpoint_path(name: str, root: Path | None = None) -> Path:
    """The ``model.pt`` a model name refers to; ValueError for a name that is not shipped."""
    root = CHECKPOINT_ROOT if root is None else root
    shipped = shipped_variants(root)
    if name == DEFAULT_NAME:
        for variant in DEFAULT_ORDER:
            if variant in shipped:
                return root / variant / CHECKPOINT_FILE
        raise ValueError(f"no shipped model checkpoints under {root}")
    variant = variant_dir_name(name)
    if variant not in shipped:
        available = ", ".join(list_models(root)) or "none"
        raise ValueError(f"unknown model {name!r}; available: {available}")
    return root / variant / CHECKPOINT_FILE
