"""A throwaway PostgreSQL server for tests: ``with TemporaryServer() as pg: pg.url``.

The server lives in a temporary directory on a free 127.0.0.1 port, runs with
``fsync=off`` (its data is thrown away, so durability only costs time) and trust
authentication for the user ``test``, and is stopped and deleted when the ``with``
block ends, whatever the block raised.

PostgreSQL refuses to run as root: when the tests run as root, ``initdb`` and
``pg_ctl`` run as the ``postgres`` user through ``runuser`` and the directory is
handed to that user (the Debian package ``postgresql-15`` creates it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = ["TemporaryServer", "find_bindir", "postgres_available", "require_postgres"]

USER = "test"
HOST = "127.0.0.1"
_DEBIAN_BINDIR = Path("/usr/lib/postgresql/15/bin")
_PACKAGE_HINT = (
    "install the Debian package postgresql-15 (apt-get update && apt-get install -y postgresql-15)"
)
# A port picked free can be taken by someone else before the server binds it: retry.
_START_ATTEMPTS = 3


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: PostgreSQL 15's Debian folder, else what
    ``pg_config --bindir`` says; None if neither holds a server."""
    candidates = [_DEBIAN_BINDIR]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            candidates.append(Path(out.stdout.strip()))
    for bindir in candidates:
        if _has_server(bindir):
            return bindir
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def postgres_available() -> bool:
    """Whether a :class:`TemporaryServer` can start here (binaries found and, as root,
    a ``postgres`` user to run them as). Starts nothing."""
    if find_bindir() is None:
        return False
    return not _as_root() or _postgres_user() is not None


def require_postgres() -> None:
    """For a test module's top: skip it where PostgreSQL 15 is not installed, but fail
    under CI (``CI`` set), where ``.ci/run`` installs it and a skip would hide a gap."""
    if postgres_available():
        return
    import pytest  # only test modules call this

    if os.environ.get("CI"):
        pytest.fail("PostgreSQL 15 is not installed (apt-get install postgresql-15)")
    pytest.skip("PostgreSQL 15 is not installed here", allow_module_level=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class TemporaryServer:
    """A PostgreSQL server of its own for the length of a ``with`` block.

    ``url`` connects as ``test`` to the ``postgres`` database;
    :meth:`create_database` makes a fresh one per test.
    """

    def __init__(self, *, bindir: Path | None = None, timeout_s: int = 60) -> None:
        found = bindir if bindir is not None else find_bindir()
        if found is None or not _has_server(found):
            raise RuntimeError(
                f"no PostgreSQL server binaries (initdb, pg_ctl) in {found or _DEBIAN_BINDIR} "
                f"or at pg_config --bindir: {_PACKAGE_HINT}"
            )
        self._bindir = found
        self._timeout_s = timeout_s
        self._base: Path | None = None
        self._port: int | None = None

    # --- what the tests read ------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the TemporaryServer is not running: use it in a with block")
        return self._port

    @property
    def directory(self) -> Path:
        """The temporary directory (data, log and socket); gone after the with block."""
        if self._base is None:
            raise RuntimeError("the TemporaryServer is not running: use it in a with block")
        return self._base

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@{HOST}:{self.port}/{quote(name, safe='')}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE ``name`` (any text: it is quoted); returns its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def terminate_backends(self, dbname: str) -> int:
        """End every other connection to ``dbname`` (as a server restart or a network cut
        would); returns how many. Waits up to 5 s for each to be gone."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchone()
        return 0 if row is None else int(row[0])

    # --- start and stop -----------------------------------------------------------------

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = [str(self._bindir / args[0]), *args[1:]]
        if _as_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=self._timeout_s + 30, check=False
        )

    def _start(self) -> None:
        if self._base is not None:
            raise RuntimeError("this TemporaryServer is already running")
        owner = None
        if _as_root():
            owner = _postgres_user()
            if owner is None:
                raise RuntimeError(
                    f"running as root needs the postgres user to run the server as: {_PACKAGE_HINT}"
                )
        # As root, under /tmp: the postgres user must be able to reach the folder, which a
        # root-only TMPDIR would not let it.
        base = Path(tempfile.mkdtemp(prefix="propcare-pg-", dir="/tmp" if owner else None))
        self._base = base
        try:
            if owner is not None:
                os.chown(base, owner.pw_uid, owner.pw_gid)
            base.chmod(0o700)
            data = base / "data"
            done = self._run(
                [
                    "initdb", "-D", str(data), "-U", USER, "--auth=trust", "--no-sync",
                    "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions",
                ]
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
            self._port = self._start_server(data)
        except BaseException:
            self._stop()
            raise

    def _start_server(self, data: Path) -> int:
        assert self._base is not None
        log = self._base / "log"
        failure = ""
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            options = (
                f"-c listen_addresses={HOST} -p {port} -k {self._base} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._run(
                [
                    "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-s",
                    "-t", str(self._timeout_s), "-o", options, "start",
                ]
            )  # fmt: skip
            if done.returncode == 0:
                return port
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            failure = f"{done.stderr.strip()}\n{tail}".strip()
            if "already in use" not in failure:
                break
        raise RuntimeError(f"the PostgreSQL server did not start: {failure}")

    def _stop(self) -> None:
        base, self._base, self._port = self._base, None, None
        if base is None:
            return
        try:
            data = base / "data"
            if (data / "postmaster.pid").exists():
                done = self._run(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-s", "stop"])
                if done.returncode != 0:
                    self._kill_postmaster(data)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    @staticmethod
    def _kill_postmaster(data: Path) -> None:
        # pg_ctl could not stop it: end the server this object started, by the pid it wrote.
        try:
            pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)

    def __repr__(self) -> str:
        where = "stopped" if self._port is None else f"{HOST}:{self._port}"
        return f"TemporaryServer({where})"
