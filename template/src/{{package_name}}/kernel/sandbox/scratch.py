# Owned by the monocell template: `copier update` replaces this file.
"""The workers' scratch directories, and sweeping those a killed service left behind.

Each worker gets a directory of its own in the temporary directory, removed
when the worker is killed. A service that is killed itself (SIGKILL, the OOM
killer, a power cut of its container) removes nothing, and nothing else knew
those directories were its: two per sandboxed cell were left in /tmp for
every such death. So a service names its workers' directories after a token
of its own and holds a lock on a file named after it (`flock`, released by
the kernel however the process ends). Before its first worker starts, it
removes the directories of every token whose lock nobody holds.

A lock works where a pid would not: services in different PID namespaces (two
containers sharing /tmp) would each take the other's pids for dead ones.
"""

import atexit
import contextlib
import fcntl
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

PACKAGE = __package__.partition(".")[0]
PREFIX = f"{PACKAGE}-sandbox-"
LOCK_SUFFIX = ".lock"
_TOKEN = re.compile(r"[0-9a-f]{16}")


# Per temporary directory (TMPDIR may change in a process, as tests change it):
# this process's token there, and the descriptor of its lock file, open and
# locked until the process ends.
_owned: dict[Path, tuple[str, int, int]] = {}  # and the pid that made it


def make_scratch(cell: str) -> Path:
    """A new scratch directory for a worker of `cell`; raises OSError (read-only, full)."""
    base = Path(tempfile.gettempdir())
    token = _own_token(base)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{token}-{cell}-", dir=base))


def _own_token(base: Path) -> str:
    """This process's token in `base`, locked; made the first time, after a sweep."""
    if base in _owned:
        return _owned[base][0]
    sweep(base)
    token = secrets.token_hex(8)
    # Locked under a name no sweep reads, then renamed into place: a sweep never
    # finds the file before its lock is held (it would take it for a dead one's).
    path = base / f"{PREFIX}{token}{LOCK_SUFFIX}"
    unready = base / f".{PREFIX}{token}{LOCK_SUFFIX}"
    lock = os.open(unready, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        unready.rename(path)
    except OSError:
        os.close(lock)
        with contextlib.suppress(OSError):
            unready.unlink()
        raise
    if not _owned:
        atexit.register(_release)
    _owned[base] = (token, lock, os.getpid())
    return token


def _release() -> None:
    """At exit: remove the lock files whose directories are all gone (a pool closed
    with its workers); one with directories left stays, unlocked, for a sweep."""
    for base, (token, lock, pid) in list(_owned.items()):
        if pid != os.getpid():  # a forked child's: the file is its parent's
            continue
        if not any(base.glob(f"{PREFIX}{token}-*")):
            with contextlib.suppress(OSError):
                (base / f"{PREFIX}{token}{LOCK_SUFFIX}").unlink()
        os.close(lock)
        del _owned[base]


def sweep(base: Path) -> list[str]:
    """Remove the scratch directories and lock files of services that are gone.

    Returns the tokens swept. Errors are ignored: a directory another user owns,
    or one that vanished meanwhile, is no reason to refuse a worker.
    """
    swept = []
    with contextlib.suppress(OSError):
        for lock_path in base.glob(f"{PREFIX}*{LOCK_SUFFIX}"):
            token = lock_path.name[len(PREFIX) : -len(LOCK_SUFFIX)]
            if _TOKEN.fullmatch(token) and _remove_if_abandoned(base, lock_path, token):
                swept.append(token)
    return swept


def _remove_if_abandoned(base: Path, lock_path: Path, token: str) -> bool:
    try:
        lock = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # its service is alive
        os.close(lock)
        return False
    try:
        for directory in base.glob(f"{PREFIX}{token}-*"):
            if directory.is_dir() and not directory.is_symlink():
                shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            lock_path.unlink()  # while still locked: nobody else sweeps it half-way
    finally:
        os.close(lock)
    return True
