"""Evaluation of generated crystals: validity, stability, uniqueness, novelty, property hits.

Public API::

    from models.evaluate import evaluate_structures, quick_properties
    result = evaluate_structures(structures, {"band_gap": 3.0})   # result.records, result.summary
    props = quick_properties(structure)                           # cheap, for the web worker

CLI: ``python -m models.evaluate DIR_OR_EXTXYZ``. Heavy dependencies (CHGNet, LightGBM, the reference
tables) load lazily on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.evaluate.pipeline import EvaluationResult

__all__ = ["evaluate_structures", "quick_properties", "EvaluationResult"]


def evaluate_structures(*args, **kwargs) -> EvaluationResult:
    from models.evaluate.pipeline import evaluate_structures as _impl

    return _impl(*args, **kwargs)


def quick_properties(*args, **kwargs) -> dict:
    from models.evaluate.properties import quick_properties as _impl

    return _impl(*args, **kwargs)
