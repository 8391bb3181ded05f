# Owned by the monocell template: `copier update` replaces this file.
"""A uid of its own for each pool of workers that root starts.

Root ignores RLIMIT_NPROC, so a worker started by root drops to another uid,
and the limit counts every process of that uid. `nobody` is shared with the
whole host (unrelated `nobody` processes used up a worker's limit); instead each
pool takes one of the uids systemd reserves for its DynamicUser services, which
own nothing, choosing one that no account and no running process has. The
workers of one pool share it: they share the cell's database files too.
"""

import secrets
from pathlib import Path

NOBODY = 65534
DYNAMIC_UIDS = range(61184, 65520)
_given: set[int] = set()  # to this process's pools: two pools never share a uid


def pool_uid() -> int:
    """A free uid for a new pool (`NOBODY` when none is free); `release` it at the end."""
    import pwd  # POSIX only, as the sandbox is; here so the module imports anywhere

    busy = _uids_running() | _given
    mapped = _mapped_uids()
    start = secrets.randbelow(len(DYNAMIC_UIDS))  # services starting together look apart
    for offset in range(len(DYNAMIC_UIDS)):
        uid = DYNAMIC_UIDS[(start + offset) % len(DYNAMIC_UIDS)]
        if uid in busy or not any(uid in ids for ids in mapped):
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:  # no account: it owns nothing
            _given.add(uid)
            return uid
    return NOBODY


def release(uid: int) -> None:
    """The pool that had `uid` is closed: another may take it."""
    _given.discard(uid)


def _uids_running() -> set[int]:
    """The owners of the processes running now (those /proc shows)."""
    owners = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                owners.add(entry.stat().st_uid)
            except OSError:  # it ended meanwhile
                continue
    return owners


def uid_map() -> list[tuple[int, int, int]]:
    """This user namespace's uid map: (first uid inside, first outside, how many)."""
    try:
        lines = Path("/proc/self/uid_map").read_text(encoding="ascii").splitlines()
        return [(int(f[0]), int(f[1]), int(f[2])) for f in (line.split() for line in lines)]
    except (OSError, ValueError, IndexError):
        return [(0, 0, 2**32 - 1)]  # no map to read: every uid is this machine's own


def _mapped_uids() -> list[range]:
    """The uids this user namespace maps (all of them outside any container)."""
    return [range(inside, inside + count) for inside, _, count in uid_map()]
