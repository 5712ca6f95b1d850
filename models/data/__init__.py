"""Crystal corpus and per-site electronic descriptors (DFT, predicted, dummy)."""
