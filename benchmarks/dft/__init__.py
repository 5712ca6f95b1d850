"""DFT checks of generated crystals: ``python -m benchmarks.dft reference|verify``.

``selection`` picks crystals from the inverse suite's job cache, ``run`` runs the corpus GPAW + Bader
path on them into a resumable ``store``, ``compare`` scores descriptors and gaps against DFT, ``report``
writes JSON + markdown. ``reference``: generated descriptors on stable as-sampled crystals;
``verify``: the cheap judges' band-gap successes on their CHGNet-relaxed cells, per variant.
"""
