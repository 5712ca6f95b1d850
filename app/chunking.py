"""How a job is cut into chunks and which seed each chunk samples with.

Both are pure functions of values stored on the job row (num_samples, chunk_size, seed), so a chunk
re-run after a crash, or the same request submitted again, produces the same structures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SEED_MODULUS = 2**31 - 1


@dataclass(frozen=True)
class ChunkPlan:
    chunk_index: int
    start_index: int
    size: int
    seed: int


def chunk_seed(job_seed: int, chunk_index: int) -> int:
    """A well-mixed 31-bit seed for (job seed, chunk index).

    Hashing (rather than job_seed + chunk_index) keeps neighbouring jobs' chunks from sharing seeds:
    seed 7 chunk 1 and seed 8 chunk 0 would otherwise sample identical crystals. The trailing "/0"
    is part of the hashed text so that stored jobs keep the seeds they were planned with.
    """
    digest = hashlib.sha256(f"mattergen-e/{job_seed}/{chunk_index}/0".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_MODULUS


def plan_chunks(num_samples: int, chunk_size: int, job_seed: int) -> list[ChunkPlan]:
    if num_samples < 1 or chunk_size < 1:
        raise ValueError("num_samples and chunk_size must be positive")
    plans = []
    for index, start in enumerate(range(0, num_samples, chunk_size)):
        plans.append(
            ChunkPlan(index, start, min(chunk_size, num_samples - start), chunk_seed(job_seed, index))
        )
    return plans
