"""Benchmarks of the shipped joint-diffusion checkpoints (sampling and inverse design), run by ``make bench``.

``python -m benchmarks.run [--suite sampling|inverse|all] [--quick] [--variants ...] [--samples N]``
writes ``<out>/<suite>.json`` (everything, with provenance), ``<out>/<suite>.md`` (the tables a person
reads) and PNG plots. Suites:

* ``sampling`` — validity (structural, SMACT), sampling speed, the validity/steps trade-off, training
  throughput and parameter count per variant (:mod:`benchmarks.sampling`);
* ``inverse`` — success / VSUN rates against band-gap and formation-energy targets per variant, plus a
  guidance-scale sweep (:mod:`benchmarks.inverse`).

Work is split into jobs (one sampling run or one evaluated cell each) that run in worker processes and
are cached as they finish (``~/.cache/mattergen-e/bench/full/``, outside the work tree; ``--quick``:
``var/bench/quick/``), so an interrupted run resumes where it stopped, also in a later session.
"""
