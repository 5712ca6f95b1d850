"""Per-site descriptor predictor: structure → (Bader net charge per site, atomic DOS per site).

Trained on the DFT-labelled corpus crystals (``models.data.descriptors.store``); labels the rest of the
corpus (``models.data.descriptors.predicted_store``) and serves as the reference the evaluation checks
generated descriptors against. Modules: ``features`` (element features, periodic neighbour graph),
``model`` (the network), ``train`` (fit + assets), ``metrics``, ``predict`` (shipped weights),
``__main__`` (CLI: train / label / metrics).
"""

from models.data.descriptors.predictor.predict import load_model, predict_descriptors

__all__ = ["load_model", "predict_descriptors"]
