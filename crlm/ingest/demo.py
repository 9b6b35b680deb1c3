"""The synthetic demo cohort: a multi-centre CRLM series simulated from a causal story.

Every patient is drawn from one data-generating process (documented in
``docs/data.md``): centre and era -> primary tumour -> molecular profile (with
tests not done) -> liver disease burden -> a board's treatment choice ->
RECIST response (driven by biology and treatment) -> conversion to hepatectomy
-> progression and death under proportional hazards, with administrative
censoring at a data cut-off and loss to follow-up. Nothing downstream is
written in: the scores, hazard ratios and model performances the app shows are
what this process produces.

Two latent variables carry the anti-EGFR story:

* ``genomic_signal`` - EGFR-ligand dependence of the tumour. It raises EREG and
  AREG expression (and a few other genes) and favours response and longer
  progression-free survival under anti-EGFR only.
* ``imaging_signal`` - a morphological phenotype (rim enhancement, texture,
  sharp margins, desmoplastic growth) partly shared with the genomic signal.

The baseline CT's ``imaging_phenotype`` is drawn from pre-treatment biology only
(the imaging signal, RAS and HER2 status, sidedness), before any treatment is
chosen. It is stored with the cohort's baseline images (``images.metadata``) and
the radiomic features and the rendered lesion crops both come from it
(``crlm.ingest.demo_images``); it is returned in ``DemoChunk.latent`` with the
genomic signal, which is never stored. Every column follows the causal order
biology -> pre-treatment findings and images -> treatment -> response ->
surgery and pathology -> outcomes: nothing is drawn from a later step.

Generation is vectorised and streamed: patients are drawn in fixed blocks of
``BLOCK_SIZE`` from independent child seeds (``SeedSequence.spawn``), so the
cohort depends only on ``(n_patients, seed)`` and not on ``chunk_size``. The later
contract columns (N category, resection margin, pathological response, recurrence-free
survival: ``crlm.ingest.demo_resection``) come from a second stream per block, spawned
from ``(seed, LATER_STREAM)``, so that they left every earlier column as it was.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from crlm.ingest.demo_block import CENTRES, EXTERNAL_CENTRES, simulate_block
from crlm.ingest.demo_chunks import PATIENT_DTYPES, DemoChunk, concat_chunks, slice_chunk
from crlm.ingest.demo_features import GENOMIC_FEATURES, RADIOMIC_FEATURES

MIN_PATIENTS = 10
MAX_PATIENTS = 5_000_000
BLOCK_SIZE = 50_000
LATER_STREAM = 0x4C415445  # the second stream's key, next to the seed


def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo:,} and {hi:,}" if hi is not None else f">= {lo:,}"
        raise ValueError(f"{name} must be {bound}, got {value:,}")
    return int(value)


def generate_cohort(n_patients: int, seed: int, chunk_size: int = 100_000) -> Iterator[DemoChunk]:
    """Stream the synthetic cohort of ``n_patients`` in chunks of at most ``chunk_size`` patients.

    Deterministic for ``(n_patients, seed)``: the same bytes whatever ``chunk_size``.
    """
    n_patients = _check_int("n_patients", n_patients, MIN_PATIENTS, MAX_PATIENTS)
    seed = _check_int("seed", seed, 0)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    n_blocks = -(-n_patients // BLOCK_SIZE)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    later = np.random.SeedSequence([seed, LATER_STREAM]).spawn(n_blocks)
    carry: DemoChunk | None = None
    for b, child in enumerate(children):
        first = b * BLOCK_SIZE
        block = simulate_block(np.random.default_rng(child),
                               min(BLOCK_SIZE, n_patients - first), first,
                               np.random.default_rng(later[b]))
        current = block if carry is None else concat_chunks([carry, block])
        total = len(current.patients)
        start = 0
        while total - start >= chunk_size:
            yield current if (start == 0 and chunk_size == total) else slice_chunk(
                current, start, start + chunk_size)
            start += chunk_size
        carry = None
        if start < total:
            carry = current if start == 0 else slice_chunk(current, start, total)
    if carry is not None:
        yield carry


def generate_cohort_frames(n_patients: int, seed: int) -> DemoChunk:
    """The whole cohort as one ``DemoChunk`` (patients, features, latent)."""
    return concat_chunks(list(generate_cohort(n_patients, seed, chunk_size=BLOCK_SIZE)))


__all__ = ["DemoChunk", "generate_cohort", "generate_cohort_frames", "PATIENT_DTYPES",
           "GENOMIC_FEATURES", "RADIOMIC_FEATURES", "CENTRES", "EXTERNAL_CENTRES"]
