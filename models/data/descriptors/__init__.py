"""Per-site electronic descriptors of corpus crystals: the DFT reference path and its batch runner.

Modules (one job each):
- ``settings``    DFTSettings: the single DFT convention, recorded with every result
- ``magnetism``   which crystals are spin-polarized and with what initial moments (and why)
- ``gpaw_path``   one crystal → energy, band edges, Bader charges, atomic DOS (GPAW LCAO, PBE)
- ``bader``       Bader net charges with pybader; ``atomic_dos`` LCAO site projection; ``band_gap``
- ``store``       append-only results store + ``load_dft_descriptors()`` used by the corpus loader
- ``ordering``    cheapest-first, element-spreading run order; ``runner`` / ``one_crystal`` batch runner
- ``dummy``       seeded random descriptors for the control experiment
CLI: ``python -m models.data.descriptors run|status``. Heavy imports (gpaw) happen only inside
functions, so importing the package (e.g. for ``store`` or ``dummy``) needs no DFT extra.
"""
