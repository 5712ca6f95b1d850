"""Former name of :mod:`models.evaluate.band_gap`, kept only for ``models/evaluate/properties.py``'s import
until that module imports the new name; nothing else may use it."""

from models.evaluate.band_gap import load_predictor

__all__ = ["load_predictor"]
