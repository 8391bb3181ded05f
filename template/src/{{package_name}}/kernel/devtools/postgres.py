# Owned by the monocell template: `copier update` replaces this file.
"""A throwaway PostgreSQL server for tests: its own data directory, port and lifetime.

Cells that keep their data in PostgreSQL are tested against a real server, not a
fake or a shared database: `throwaway_postgres` runs `initdb` into a temporary
directory, starts the server on a free port of 127.0.0.1 only, with the durability
settings a test does not need turned off, and stops it when the block ends, even
when the block fails. Nothing outside the temporary directory is touched; the
machine's own PostgreSQL cluster, if any, is never used.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
system user (or `nobody`). A CI with a PostgreSQL service container sets
`<PACKAGE>_TEST_POSTGRES_URL` instead: `external_postgres_url()` returns it.
Only the standard library is used.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

PACKAGE = __package__.partition(".")[0]
EXTERNAL_URL_VARIABLE = f"{PACKAGE.upper()}_TEST_POSTGRES_URL"

# Debian and Ubuntu install the server programs here, off PATH (only the clients
# get wrappers in /usr/bin), one directory per major version.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
UNPRIVILEGED_USERS = ("postgres", "nobody")
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # a bound on the whole start, never a timed assertion
STOP_TIMEOUT = 15.0
PORT_ATTEMPTS = 3  # a free port can be taken by another process before the server binds it
SOCKET_PATH_LIMIT = 100  # bytes; the kernel's limit for a socket path is 107
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Speed over durability: the data is thrown away when the test ends.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "50",
    "shared_buffers": "32MB",
    "checkpoint_timeout": "1d",
    "autovacuum": "off",
    "jit": "off",
    "logging_collector": "off",
    "max_parallel_workers_per_gather": "0",  # no dynamic shared memory (a small /dev/shm)
    "TimeZone": "UTC",
}


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL cannot be started here; the message is one line saying why."""


@dataclass(frozen=True)
class RunAs:
    """The account the server programs run as (None: the current one)."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server: trust authentication, reachable on 127.0.0.1 only."""

    host: str
    port: int
    superuser: str
    directory: Path
    pid: int

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        """A SQLAlchemy URL for `database` on this server (no password: trust authentication)."""
        name = urllib.parse.quote(database, safe="")
        return f"{driver}://{self.superuser}@{self.host}:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create database `name` (lowercase letters, digits, `_`) and return its URL."""
        if not DATABASE_NAME.fullmatch(name):
            raise ValueError(
                f"database name {name!r}: expected lowercase letters, digits and '_', "
                "starting with a letter or '_', at most 63 characters"
            )
        result = subprocess.run(  # noqa: S603 -- a PostgreSQL client, fixed arguments
            [
                str(client_program("createdb")),
                *("--host", self.host, "--port", str(self.port), "--username", self.superuser),
                "--no-password",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=program_env(),
            timeout=STOP_TIMEOUT,
        )
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"createdb {name}: {last_line(result.stderr) or f'exit {result.returncode}'}"
            )
        return self.url(name)


def external_postgres_url() -> str | None:
    """The URL of a server the CI provides (`<PACKAGE>_TEST_POSTGRES_URL`), if set."""
    return os.environ.get(EXTERNAL_URL_VARIABLE) or None


def postgres_available() -> str | None:
    """None when a throwaway server can be started here, else a one-line reason."""
    try:
        server_bin_dir()
        run_as()
    except PostgresUnavailableError as error:
        return str(error)
    return None


def server_bin_dir() -> Path:
    """The directory of initdb, pg_ctl and postgres: initdb's on PATH, else Debian's newest."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)  # /usr/local/bin/initdb may be a link
    versions = [path for path in DEBIAN_ROOT.glob("*/bin") if path.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda path: int(path.parent.name), reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in SERVER_PROGRAMS):
            return directory
    raise PostgresUnavailableError(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found on PATH or in "
        f"{DEBIAN_ROOT}/*/bin: install PostgreSQL (Debian: apt-get install postgresql)"
    )


def client_program(name: str) -> Path:
    """A client program (psql, createdb, pg_isready) of the same installation as the server."""
    beside = server_bin_dir() / name
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise PostgresUnavailableError(f"PostgreSQL client program {name} not found")
    return Path(found)


def run_as() -> RunAs | None:
    """Who runs the server: None (this user), or an unprivileged account when this is root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(name, entry.pw_uid, entry.pw_gid)
    raise PostgresUnavailableError(
        "PostgreSQL refuses to run as root and there is no 'postgres' or 'nobody' user to run it"
    )


@contextmanager
def shareable_temp_dir(prefix: str = "postgres-") -> Iterator[Path]:
    """A fresh base directory for `throwaway_postgres` that the server's user can reach.

    pytest's `tmp_path` lives under /tmp/pytest-of-<user>/, which is mode 0700: when
    the tests run as root, the unprivileged user the server runs as cannot traverse
    it. A new directory straight in the system temporary directory (/tmp, which
    every user may traverse), opened to 0755, can be reached; it is removed after.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def throwaway_postgres(base_dir: Path) -> Iterator[PostgresServer]:
    """Start a new PostgreSQL server in a temporary directory under `base_dir`; stop it after."""
    bin_dir = server_bin_dir()
    account = run_as()
    check_base_dir(base_dir, account)
    directory = Path(tempfile.mkdtemp(prefix="pg-", dir=base_dir))
    try:
        if account is not None:
            os.chown(directory, account.uid, account.gid)
        data = directory / "data"
        initdb(bin_dir, data, account)
        with start(bin_dir, directory, account) as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check_base_dir(base_dir: Path, account: RunAs | None) -> None:
    """Refuse, in one line, a base directory the server's user could not reach."""
    if not base_dir.is_dir():
        raise PostgresUnavailableError(f"base directory {base_dir}: not an existing directory")
    if account is None:
        return
    resolved = base_dir.resolve()
    for directory in (*reversed(resolved.parents), resolved):
        if not traversable(directory, account):
            mode = stat.S_IMODE(directory.stat().st_mode)
            raise PostgresUnavailableError(
                f"base directory {base_dir}: user {account.name!r}, who runs the server as "
                f"this is root, cannot traverse {directory} (mode {mode:04o}); use a directory "
                "every user can reach, e.g. shareable_temp_dir()"
            )


def traversable(directory: Path, account: RunAs) -> bool:
    status = directory.stat()
    if status.st_uid == account.uid:
        return bool(status.st_mode & stat.S_IXUSR)
    if status.st_gid == account.gid:
        return bool(status.st_mode & stat.S_IXGRP)
    return bool(status.st_mode & stat.S_IXOTH)


def initdb(bin_dir: Path, data: Path, account: RunAs | None) -> None:
    command = [
        str(bin_dir / "initdb"),
        *("--pgdata", str(data), "--username", SUPERUSER, "--auth", "trust"),
        *("--encoding", "UTF8", "--locale", "C"),
        "--no-sync",  # nothing to make durable
    ]
    result = subprocess.run(  # noqa: S603 -- PostgreSQL's own program, fixed arguments
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=data.parent,
        env=program_env(),
        timeout=START_TIMEOUT,
        **as_account(account),
    )
    if result.returncode != 0:
        raise PostgresUnavailableError(
            f"initdb failed ({result.returncode}): {last_line(result.stderr + result.stdout)}"
        )


@contextmanager
def start(bin_dir: Path, directory: Path, account: RunAs | None) -> Iterator[PostgresServer]:
    """Run the server as a child of this process (so it is always reaped) until the block ends."""
    process, port = start_on_a_free_port(bin_dir, directory, account)
    try:
        yield PostgresServer(HOST, port, SUPERUSER, directory, process.pid)
    finally:
        stop(bin_dir, directory / "data", process, account)


def start_on_a_free_port(
    bin_dir: Path, directory: Path, account: RunAs | None
) -> tuple[subprocess.Popen[bytes], int]:
    """A server that accepts connections, and its port; a failed attempt is stopped."""
    data = directory / "data"
    log = directory / "server.log"
    log.touch()
    for attempt in range(1, PORT_ATTEMPTS + 1):
        offset = log.stat().st_size
        port = free_port()
        process = launch(bin_dir, directory, account, port)
        ready = exited = False
        try:
            ready = wait_until_ready(process, data, port)
            exited = process.poll() is not None
        finally:
            if not ready:
                stop(bin_dir, data, process, account)
        if ready:
            return process, port
        output = log.read_bytes()[offset:].decode(errors="replace")
        if "Address already in use" in output and attempt < PORT_ATTEMPTS:
            continue
        if not exited or not output.strip():
            raise PostgresUnavailableError(
                f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s; see {log}"
            )
        raise PostgresUnavailableError(f"PostgreSQL did not start: {reason(output)}")
    raise PostgresUnavailableError(f"PostgreSQL found no free port in {PORT_ATTEMPTS} attempts")


def launch(
    bin_dir: Path, directory: Path, account: RunAs | None, port: int
) -> subprocess.Popen[bytes]:
    # A Unix socket path is limited to 107 bytes: a longer directory goes without one
    # (clients here connect over TCP anyway).
    sockets = str(directory) if len(str(directory)) <= SOCKET_PATH_LIMIT else ""
    command = [
        str(bin_dir / "postgres"),
        *("-D", str(directory / "data"), "-p", str(port)),
        *("-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={sockets}"),
        *(arg for key, value in TEST_SETTINGS.items() for arg in ("-c", f"{key}={value}")),
    ]
    with (directory / "server.log").open("ab") as output:  # the child keeps its own copy
        return subprocess.Popen(  # noqa: S603 -- PostgreSQL's own program
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            cwd=directory,
            env=program_env(),
            **as_account(account),
        )


def wait_until_ready(process: subprocess.Popen[bytes], data: Path, port: int) -> bool:
    """True once the server accepts connections; False when it exited or the wait ran out.

    The server writes its state into postmaster.pid: the eighth line says `ready`
    once it accepts connections (what `pg_ctl start --wait` waits for).
    """
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            lines = (data / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            lines = []
        if len(lines) >= 8 and lines[3].strip() == str(port) and lines[7].strip() == "ready":
            return True
        time.sleep(0.05)
    return False


def stop(
    bin_dir: Path, data: Path, process: subprocess.Popen[bytes], account: RunAs | None
) -> None:
    """Immediate shutdown (nothing to keep), then SIGKILL if it did not end in time."""
    if process.poll() is None:
        try:
            subprocess.run(  # noqa: S603 -- PostgreSQL's own program, fixed arguments
                [
                    str(bin_dir / "pg_ctl"),
                    *("stop", "--pgdata", str(data), "--mode", "immediate"),
                    *("--timeout", str(int(STOP_TIMEOUT))),
                ],
                capture_output=True,
                check=False,
                cwd=data.parent,
                env=program_env(),
                timeout=STOP_TIMEOUT,
                **as_account(account),
            )
        except (OSError, subprocess.TimeoutExpired):
            process.send_signal(signal.SIGQUIT)  # what `--mode immediate` sends
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class AccountArguments(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def as_account(account: RunAs | None) -> AccountArguments:
    """subprocess arguments that run a program as `account`, root's groups dropped."""
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def program_env() -> dict[str, str]:
    """This environment without PG* variables, which would point the programs elsewhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def reason(log: str) -> str:
    """The line of a server log that says why it stopped (its first FATAL, else its last)."""
    fatal = [line for line in log.splitlines() if "FATAL:" in line]
    return (fatal[0].split("FATAL:", 1)[1].strip() if fatal else last_line(log)) or "no output"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
