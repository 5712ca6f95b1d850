"""The database tables (SQLAlchemy 2 typed ORM). The schema changes only through Alembic migrations.

Four tables: ``jobs`` (one generation request, owned by the API key that submitted it),
``job_chunks`` (the unit of work a Celery task owns; its row carries the claim token, heartbeat,
in-chunk progress and when it was put on the queue), ``structures`` (one generated crystal with its
per-site charges and DOS) and ``api_keys`` (hashed keys with their scopes and quotas). ``structures``
is unique on (job_id, sample_index), which is what makes re-running a chunk harmless.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class ChunkState(enum.StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class ApiKey(Base):
    """An API key. Only the SHA-256 of the key is stored: keys are 256-bit random tokens, so a fast hash
    is enough (no password-style stretching needed) and lookup stays one indexed query."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters of the key, to recognise it
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    read_all: Mapped[bool] = mapped_column(Boolean, default=False)
    # Null: the service-wide default (settings).
    max_active_jobs: Mapped[int | None] = mapped_column(Integer)
    max_queued_samples: Mapped[int | None] = mapped_column(Integer)
    # HMAC-SHA256 key of this key's webhooks (migration 0006). Stored in clear, unlike the API key: the
    # server must recompute signatures with it, and receivers hold the same value, so a hash is useless.
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(Base):
    __tablename__ = "jobs"
    # An Idempotency-Key is scoped to the API key that sent it: two clients never see each other's job.
    __table_args__ = (
        UniqueConstraint("owner_key_id", "idempotency_key", name="uq_jobs_owner_idempotency"),
        # A key's active jobs (quota checks, listings) without scanning everyone's.
        Index("ix_jobs_owner_state", "owner_key_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, name="job_state", values_callable=lambda e: [m.value for m in e]),
        default=JobState.queued,
        index=True,
    )
    # Request (as accepted; `seed` and `chunk_size` are always concrete so the job is reproducible).
    target_band_gap: Mapped[float | None] = mapped_column(Double)
    target_formation_energy_per_atom: Mapped[float | None] = mapped_column(Double)
    num_samples: Mapped[int] = mapped_column(Integer)
    guidance_scale: Mapped[float] = mapped_column(Double)
    seed: Mapped[int] = mapped_column(BigInteger)
    steps: Mapped[int | None] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(128))
    num_atoms_min: Mapped[int | None] = mapped_column(Integer)
    num_atoms_max: Mapped[int | None] = mapped_column(Integer)
    allowed_elements: Mapped[list[str] | None] = mapped_column(ARRAY(String(3)))
    required_elements: Mapped[list[str] | None] = mapped_column(ARRAY(String(3)))
    # Charge-balance closing of the sampler (migration 0007; null: a job from before it, sampled without).
    charge_balance: Mapped[bool | None] = mapped_column(Boolean)
    chunk_size: Mapped[int] = mapped_column(Integer)
    num_chunks: Mapped[int] = mapped_column(Integer)
    # The Celery queue the job's chunks go to (CELERY_QUEUE of the API that accepted it); the reaper of a
    # worker only re-sends chunks of its own queue's jobs. Null for jobs from before migration 0004.
    queue: Mapped[str | None] = mapped_column(String(128))
    request: Mapped[dict] = mapped_column(JSONB)
    # Issue 17 (migration 0005). relax: CHGNet-relax every crystal (null: a job from before 0005, not
    # relaxed). screen: the normalised screen spec (null: plain sampling of num_samples crystals); for a
    # screened job num_samples is the number of passing crystals wanted and max_generated the budget.
    relax: Mapped[bool | None] = mapped_column(Boolean)
    screen: Mapped[dict | None] = mapped_column(JSONB)
    max_generated: Mapped[int | None] = mapped_column(Integer)
    screen_stopped: Mapped[str | None] = mapped_column(String(16))  # "count" | "budget"
    # Webhook target (migration 0006): a trigger creates a webhook_deliveries row when the job ends.
    callback_url: Mapped[str | None] = mapped_column(Text)
    # Idempotency: the key is unique; the fingerprint tells a retry from a different request.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # Null for jobs submitted before API keys existed (migration 0004); only admin/read-all keys see them.
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    # Filled by the worker.
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_structure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    chunks: Mapped[list[JobChunk]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobChunk.chunk_index"
    )


class JobChunk(Base):
    __tablename__ = "job_chunks"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_index: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[ChunkState] = mapped_column(
        Enum(ChunkState, name="chunk_state", values_callable=lambda e: [m.value for m in e]),
        default=ChunkState.pending,
        index=True,
    )
    progress: Mapped[float] = mapped_column(Double, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the chunk's task was (last) sent to the broker; null: not yet scheduled (app/core/scheduling.py).
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sampling_seconds: Mapped[float | None] = mapped_column(Double)
    # Fraction of the chunk's crystals relaxed and post-processed (0005); null for chunks from before.
    relax_progress: Mapped[float | None] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job] = relationship(back_populates="chunks")


class Structure(Base):
    __tablename__ = "structures"
    __table_args__ = (
        UniqueConstraint("job_id", "sample_index", name="uq_structures_job_sample"),
        Index("ix_structures_elements", "elements", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    # No separate job_id index: the (job_id, sample_index) unique index serves job lookups.
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    sample_index: Mapped[int] = mapped_column(Integer)
    chunk_index: Mapped[int] = mapped_column(Integer)
    formula: Mapped[str] = mapped_column(String(255))
    reduced_formula: Mapped[str] = mapped_column(String(255), index=True)
    elements: Mapped[list[str]] = mapped_column(ARRAY(String(3)))
    n_sites: Mapped[int] = mapped_column(Integer)
    lattice: Mapped[dict] = mapped_column(JSONB)  # {matrix, a, b, c, alpha, beta, gamma, volume}
    volume: Mapped[float] = mapped_column(Double)
    density: Mapped[float | None] = mapped_column(Double)
    space_group_symbol: Mapped[str | None] = mapped_column(String(32))
    space_group_number: Mapped[int | None] = mapped_column(Integer, index=True)
    structure: Mapped[dict] = mapped_column(JSONB)  # pymatgen Structure.as_dict() incl. site `charge`
    cif: Mapped[str] = mapped_column(Text)
    charges: Mapped[list[float] | None] = mapped_column(ARRAY(Double))  # (n_sites,), e
    dos: Mapped[list[list[float]] | None] = mapped_column(ARRAY(Double, dimensions=2))  # (n_sites, DOS_BINS)
    # Predicted properties (models.evaluate.quick_properties, computed by the worker before the chunk is
    # stored; migration 0002). Nullable by design: prediction can be disabled, unavailable (no `eval`
    # extra) or fail for one crystal, and the structure is stored anyway.
    band_gap_pred: Mapped[float | None] = mapped_column(Double, index=True)  # eV, LightGBM predictor
    formation_energy_pred: Mapped[float | None] = mapped_column(Double, index=True)  # eV/atom, CHGNet static
    e_above_hull_pred: Mapped[float | None] = mapped_column(Double)  # eV/atom, CHGNet static (unrelaxed)
    structurally_valid: Mapped[bool | None] = mapped_column(Boolean)  # distances ≥ 0.5 Å, volume ≥ 0.1 Å³
    smact_valid: Mapped[bool | None] = mapped_column(Boolean)  # SMACT charge neutrality + Pauling test
    # How the row's properties were obtained: computed | partial | failed | disabled | unavailable
    # (null for rows stored before migration 0002), and per-property reasons for missing values.
    properties_status: Mapped[str | None] = mapped_column(String(16))
    properties_errors: Mapped[dict | None] = mapped_column(JSONB)
    # Relaxation and symmetry (migration 0005; worker/relaxation.py). The predicted properties above are
    # of the relaxed structure when properties_basis is "relaxed"; `structure`, `cif`, `charges`, `dos`
    # and space_group_* stay those of the crystal as generated.
    relax_status: Mapped[str | None] = mapped_column(String(16))  # relaxed|failed|skipped|disabled
    relax_error: Mapped[str | None] = mapped_column(Text)
    relaxed_structure: Mapped[dict | None] = mapped_column(JSONB)
    relaxed_cif: Mapped[str | None] = mapped_column(Text)
    symmetrized_cif: Mapped[str | None] = mapped_column(Text)
    relaxed_space_group_symbol: Mapped[str | None] = mapped_column(String(32))
    relaxed_space_group_number: Mapped[int | None] = mapped_column(Integer, index=True)
    relax_rmsd: Mapped[float | None] = mapped_column(Double)  # Å, generated vs relaxed sites
    relaxed_energy_per_atom: Mapped[float | None] = mapped_column(Double)  # eV/atom, CHGNet
    relax_converged: Mapped[bool | None] = mapped_column(Boolean)
    relax_steps: Mapped[int | None] = mapped_column(Integer)
    relax_seconds: Mapped[float | None] = mapped_column(Double)
    properties_basis: Mapped[str | None] = mapped_column(String(16))  # relaxed | generated
    # Descriptor predictor on the relaxed cell, and the self-consistency of the generated descriptors
    # (generated vs predictor on the generated cell).
    pred_charges_relaxed: Mapped[list[float] | None] = mapped_column(ARRAY(Double))
    pred_dos_relaxed: Mapped[list[list[float]] | None] = mapped_column(ARRAY(Double, dimensions=2))
    consistency_charge_mae: Mapped[float | None] = mapped_column(Double, index=True)  # e
    consistency_dos_cosine: Mapped[float | None] = mapped_column(Double, index=True)
    descriptor_predictor_sha256: Mapped[str | None] = mapped_column(String(64))
    # Screening (null: the job has no screen): passed, and each check's outcome.
    screen_passed: Mapped[bool | None] = mapped_column(Boolean)
    screen_checks: Mapped[dict | None] = mapped_column(JSONB)
    # Provenance.
    model_name: Mapped[str] = mapped_column(String(128))
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    guidance_scale: Mapped[float] = mapped_column(Double)
    seed: Mapped[int] = mapped_column(BigInteger)  # the chunk seed that produced this sample
    steps: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Verification(Base):
    """One DFT verification of one structure (issue 17): the GPAW path on its relaxed cell, run by the
    `dft` queue's worker. One per structure unless forced (the API returns the latest otherwise)."""

    __tablename__ = "verifications"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    structure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16))  # queued|running|succeeded|failed|cancelled
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict] = mapped_column(JSONB)  # DFTSettings, verbatim
    max_seconds: Mapped[float] = mapped_column(Double)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wall_seconds: Mapped[float | None] = mapped_column(Double)
    failure_reason: Mapped[str | None] = mapped_column(String(32))  # timeout|memory|error|cancelled|...
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSONB)  # the GPAW path's record
    comparison: Mapped[dict | None] = mapped_column(JSONB)  # DFT vs generated and predicted


class DftCrystal(Base):
    """A DFT-labelled crystal from a verification, with its provenance: material the descriptor
    predictor can learn from (nothing retrains automatically)."""

    __tablename__ = "dft_crystals"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    verification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verifications.id", ondelete="CASCADE"), unique=True
    )
    structure_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("structures.id", ondelete="SET NULL"))
    formula: Mapped[str] = mapped_column(String(255))
    n_sites: Mapped[int] = mapped_column(Integer)
    structure: Mapped[dict] = mapped_column(JSONB)  # the cell DFT ran on (pymatgen dict, site order kept)
    charges: Mapped[list[float]] = mapped_column(ARRAY(Double))  # Bader net charges, e
    dos: Mapped[list[list[float]]] = mapped_column(ARRAY(Double, dimensions=2))  # states/eV
    band_gap: Mapped[float] = mapped_column(Double)  # eV, PBE
    energy_per_atom: Mapped[float] = mapped_column(Double)  # eV/atom, GPAW
    settings: Mapped[dict] = mapped_column(JSONB)
    provenance: Mapped[dict] = mapped_column(JSONB)  # job, sample, model, checkpoint, relaxation, code
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """The webhook of one job event (``job.succeeded`` / ``job.failed`` / ``job.cancelled``), created by
    the ``jobs_webhook_on_terminal`` trigger (migration 0006) and sent by the worker's webhook task.

    state: pending (an attempt is due at ``next_attempt_at``) | sending (claimed by a task, see
    ``claim_token``) | delivered (a 2xx answer) | failed (WEBHOOK_MAX_ATTEMPTS used up)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("job_id", "event", name="uq_webhook_deliveries_job_event"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)  # the job's callback_url when the event happened
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last task sent
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # One entry per attempt: {at, status_code, error, seconds}.
    history: Mapped[list[dict] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
