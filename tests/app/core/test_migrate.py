"""The schema only changes through migrations: the migrated database matches app/tables.py exactly,
and the migration chain downgrades and upgrades cleanly."""

from __future__ import annotations

import uuid

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app.core.migrate import downgrade, upgrade
from app.tables import Base


def test_migrated_schema_matches_the_orm(services):
    engine = create_engine(services.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_downgrade_and_upgrade_round_trip(services):
    url = make_url(services.database_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True
    ) as c:
        c.execute("DROP DATABASE IF EXISTS migration_roundtrip")
        c.execute("CREATE DATABASE migration_roundtrip")
    scratch = url.set(database="migration_roundtrip").render_as_string(hide_password=False)
    upgrade(scratch)
    engine = create_engine(scratch)
    assert {"jobs", "job_chunks", "structures"} <= set(inspect(engine).get_table_names())
    downgrade(scratch, "base")
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) <= {"alembic_version"}
    assert not [e for e in inspector.get_enums()]  # enum types dropped too
    upgrade(scratch)
    assert "structures" in inspect(engine).get_table_names()
    engine.dispose()


JOB_ID, STRUCTURE_ID = uuid.uuid4(), uuid.uuid4()
PROPERTY_COLUMNS = {
    "e_above_hull_pred",
    "structure_valid",
    "smact_valid",
    "properties_status",
    "properties_errors",
}


def _scratch_db(services, name: str) -> str:
    url = make_url(services.database_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True
    ) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name}")
        c.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


def _insert_job(conn) -> None:
    conn.execute(
        text(
            "INSERT INTO jobs (id, state, num_samples, guidance_scale, seed, model_name, chunk_size, "
            "num_chunks, request, request_fingerprint) VALUES (:j, 'succeeded', 1, 2.0, 1, 'm', 1, 1, "
            "'{}', 'f')"
        ),
        {"j": JOB_ID},
    )


def test_0002_adds_property_columns_keeping_rows_and_downgrades_cleanly(services):
    """Structures stored before 0002 survive it with null predictions; 0002's downgrade removes exactly
    its columns and keeps the rows."""
    scratch = _scratch_db(services, "migration_0002")
    upgrade(scratch, "0001")
    engine = create_engine(scratch)
    with engine.begin() as conn:
        _insert_job(conn)
        conn.execute(
            text(
                "INSERT INTO structures (id, job_id, sample_index, chunk_index, formula, reduced_formula, "
                "elements, n_sites, lattice, volume, structure, cif, band_gap_pred, model_name, "
                "checkpoint_sha256, guidance_scale, seed, steps) VALUES (:s, :j, 0, 0, 'Na1 Cl1', 'NaCl', "
                "'{Na,Cl}', 2, '{}', 40.0, '{}', 'data_x', 4.5, 'm', 'h', 2.0, 1, 10)"
            ),
            {"s": STRUCTURE_ID, "j": JOB_ID},
        )
    assert not PROPERTY_COLUMNS & {c["name"] for c in inspect(engine).get_columns("structures")}

    upgrade(scratch, "0002")
    assert PROPERTY_COLUMNS <= {c["name"] for c in inspect(engine).get_columns("structures")}
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT band_gap_pred, e_above_hull_pred, structure_valid, properties_status FROM structures"
            )
        ).one()
    assert tuple(row) == (4.5, None, None, None)

    downgrade(scratch, "0001")
    columns = {c["name"] for c in inspect(engine).get_columns("structures")}
    assert not PROPERTY_COLUMNS & columns and {"band_gap_pred", "formation_energy_pred"} <= columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM structures")).scalar() == 1
    engine.dispose()


def test_0003_renames_structure_valid_keeping_values_and_downgrades_cleanly(services):
    scratch = _scratch_db(services, "migration_0003")
    upgrade(scratch, "0002")
    engine = create_engine(scratch)
    with engine.begin() as conn:
        _insert_job(conn)
        conn.execute(
            text(
                "INSERT INTO structures (id, job_id, sample_index, chunk_index, formula, reduced_formula, "
                "elements, n_sites, lattice, volume, structure, cif, model_name, checkpoint_sha256, "
                "guidance_scale, seed, steps, structure_valid) VALUES (:s, :j, 0, 0, 'Na1 Cl1', 'NaCl', "
                "'{Na,Cl}', 2, '{}', 40.0, '{}', 'data_x', 'm', 'h', 2.0, 1, 10, false)"
            ),
            {"s": STRUCTURE_ID, "j": JOB_ID},
        )
    upgrade(scratch, "0003")
    columns = {c["name"] for c in inspect(engine).get_columns("structures")}
    assert "structurally_valid" in columns and "structure_valid" not in columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT structurally_valid FROM structures")).scalar() is False
    downgrade(scratch, "0002")
    columns = {c["name"] for c in inspect(engine).get_columns("structures")}
    assert "structure_valid" in columns and "structurally_valid" not in columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT structure_valid FROM structures")).scalar() is False
    engine.dispose()


def test_0004_adds_keys_and_ownership_keeping_jobs_and_downgrades_cleanly(services):
    """Jobs from before 0004 survive with no owner; their queued chunks count as already enqueued (they
    were, at submission); per-owner Idempotency-Keys collapse back to one global key on downgrade."""
    scratch = _scratch_db(services, "migration_0004")
    upgrade(scratch, "0003")
    engine = create_engine(scratch)
    with engine.begin() as conn:
        _insert_job(conn)
        conn.execute(text("UPDATE jobs SET idempotency_key = 'k', state = 'running' WHERE id = :j"), {"j": JOB_ID})
        for index, state in enumerate(("done", "pending")):
            conn.execute(
                text(
                    "INSERT INTO job_chunks (job_id, chunk_index, start_index, size, seed, state, progress, "
                    "attempts) VALUES (:j, :i, :i, 1, 1, :s, 0, 1)"
                ),
                {"j": JOB_ID, "i": index, "s": state},
            )
    upgrade(scratch, "0004")
    assert "api_keys" in inspect(engine).get_table_names()
    with engine.begin() as conn:
        assert conn.execute(text("SELECT owner_key_id FROM jobs")).scalar() is None
        enqueued = dict(conn.execute(text("SELECT state, enqueued_at IS NOT NULL FROM job_chunks")).all())
        assert enqueued == {"done": False, "pending": True}
        # The same Idempotency-Key under another owner is now allowed.
        key_id = uuid.uuid4()
        conn.execute(
            text(
                "INSERT INTO api_keys (id, name, key_hash, prefix, is_admin, read_all) "
                "VALUES (:k, 'n', 'h', 'p', false, false)"
            ),
            {"k": key_id},
        )
        conn.execute(
            text(
                "INSERT INTO jobs (id, state, num_samples, guidance_scale, seed, model_name, chunk_size, "
                "num_chunks, request, request_fingerprint, idempotency_key, owner_key_id) VALUES "
                "(:j, 'queued', 1, 2.0, 1, 'm', 1, 1, '{}', 'f', 'k', :k)"
            ),
            {"j": uuid.uuid4(), "k": key_id},
        )
    downgrade(scratch, "0003")
    assert "api_keys" not in inspect(engine).get_table_names()
    assert "owner_key_id" not in {c["name"] for c in inspect(engine).get_columns("jobs")}
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT idempotency_key FROM jobs ORDER BY created_at, id")).scalars().all()
    assert sorted(keys, key=str) == sorted(["k", None], key=str)  # the duplicate lost its key, not its row
    upgrade(scratch, "0004")
    engine.dispose()
