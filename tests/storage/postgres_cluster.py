"""A throwaway PostgreSQL cluster for the tests: initdb and pg_ctl in a temporary folder, reached
only through a Unix socket there, so nothing on the machine (another server, a port) is touched.

Nothing stands in for the server: the tests talk to a real PostgreSQL. initdb refuses to run as
root (CI runs as root), so then the server runs as the ``postgres`` system user that Debian's
package creates (or ``nobody`` where there is none), through ``runuser``; the folder is handed
to that user. pytest-postgresql starts clusters the same way but calls pg_ctl directly, which
is what root may not do, hence these few lines of our own.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

# Fast and throwaway: nothing here needs to survive a power cut.
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses=''"
SUPERUSER = "postgres"
# Everyone logs in without a password (trust), except members of this role: they must give
# theirs (SCRAM), so the tests of saved passwords log in for real.
PASSWORD_GROUP = "faceapp_password_login"
PORT = 5432  # only names the socket file: the server listens on no TCP port


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def server_user() -> str | None:
    """Whom to run the server as: None for ourselves, unless we are root, whom initdb refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")


class PostgresCluster:
    """One running cluster; :meth:`url` names a database in it (as the superuser)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="faceapp-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o755)  # we (root) connect through the socket in it; the server owns it
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                  "--no-locale", "--no-sync")
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"local all +{PASSWORD_GROUP} scram-sha-256\n" + hba.read_text())
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", f"-k {self.socket_dir} -p {PORT} {SERVER_OPTIONS}", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """A libpq URL for ``dbname`` through the cluster's socket."""
        return f"postgresql://{user}@/{dbname}?host={self.socket_dir}&port={PORT}"

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass  # already stopped; the folder goes anyway
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# One cluster per test session, started on first use; a fresh database per test.

TEMPLATE = "faceapp_template"
NO_SERVER = ("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install Debian's "
             "postgresql package (.ci/run does) to run the PostgreSQL tests")
_shared: PostgresCluster | None = None
_counter = iter(range(1, 1_000_000))


def shared_cluster() -> PostgresCluster:
    """The session's cluster, started on first use, with a template database holding an
    empty gallery at the current schema; pytest.skip where PostgreSQL is not installed."""
    global _shared
    if _shared is None:
        import pytest
        import psycopg

        from faceapp.storage import open_store

        bindir = find_bindir()
        if bindir is None:
            pytest.skip(NO_SERVER)
        cluster = PostgresCluster(bindir)
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
            conn.execute(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
        open_store(cluster.url(TEMPLATE)).close()  # the schema, made once and copied for every test
        _shared = cluster
    return _shared


def fresh_database(cluster: PostgresCluster, empty: bool = False) -> str:
    """A new database's URL: a copy of the template gallery, or with ``empty`` none at all."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + ("" if empty else f" TEMPLATE {TEMPLATE}"))
    return cluster.url(name)


def drop_database(cluster: PostgresCluster, url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(conninfo_to_dict(url)["dbname"])))


def stop_shared_cluster() -> None:
    global _shared
    if _shared is not None:
        _shared.destroy()
        _shared = None
