"""The schema only changes through migrations: the migrated database matches app/tables.py exactly,
and the migration chain downgrades and upgrades cleanly."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
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
