# Owned by the monocell template: `copier update` replaces this file.
"""The isolation layers a worker applies to itself, in order, before it reads input.

1. process: its own process group (the parent kills the group) and
   PR_SET_PDEATHSIG, so it dies with the parent.
2. namespaces: a new network namespace (no network at all), inside a new user
   namespace unless root; not permitted on Ubuntu 24.04 runners (AppArmor).
   With it a mount namespace of its own, where scratch is a tmpfs of
   `scratch_mb`: a bound on everything written there, which RLIMIT_FSIZE (one
   file at a time) is not.
3. privileges: root ignores RLIMIT_NPROC, so a worker started by root drops to
   its pool's own uid (see `uids`), keeping only the right to read (confined
   by Landlock); `nobody` only when no such uid was free.
4. rlimits: CPU time, address space, file size, open files, processes, no core.
5. landlock: read-only allowlist, one scratch directory, no TCP (ABI >= 4).
6. seccomp: the allowlist of `seccomp` (widened by the cell's `allow_syscalls`),
   built before any layer, installed last.

Each layer reports on/off/unavailable/failed with the exact error; `level_of`
turns the reports into the named level of `policy.LEVELS`.
"""

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from . import landlock, seccomp
from .frames import Layer, Setup
from .linux import (
    CAP_DAC_READ_SEARCH,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUSER,
    IS_LINUX,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    PR_SET_DUMPABLE,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    keep_capabilities,
    mount,
    prctl,
    unshare,
)

if sys.platform != "win32":  # imported before any layer: a dropped user may not read it later
    import resource

from .uids import NOBODY, uid_map

MB = 1024 * 1024


def confine(setup: Setup) -> list[Layer]:
    """Apply every layer this kernel permits; return what each one did."""
    program = None
    if IS_LINUX and seccomp.supported():
        program = seccomp.build_filter(os.getpid(), setup.policy.allow_syscalls)
    layers = [_attempt("process", lambda: _process(setup.parent_pid))]
    layers.append(_attempt("namespaces", lambda: _namespaces(setup)))
    layers.append(_attempt("privileges", lambda: _privileges(setup)))
    if IS_LINUX:  # a change of uid clears the death signal: arm it again
        with contextlib.suppress(OSError):
            die_with_parent(setup.parent_pid)
    layers.append(_attempt("rlimits", lambda: _rlimits(setup)))
    no_new_privs = _attempt("no_new_privs", lambda: _no_new_privs())
    layers.append(no_new_privs)
    if no_new_privs.status == "on":
        layers.append(_attempt("landlock", lambda: _landlock(setup)))
        layers.append(_attempt("seccomp", lambda: _seccomp(program, setup.policy.allow_syscalls)))
    else:
        layers += [Layer(name, "failed", "needs no_new_privs") for name in ("landlock", "seccomp")]
    return layers


def level_of(layers: list[Layer]) -> int:
    """The highest level whose layers are all on (see `policy.LEVELS`)."""
    status = {layer.name: layer.status for layer in layers}
    if status.get("rlimits") != "on" or status.get("privileges") not in ("on", "off"):
        return 0
    if any(status.get(name) != "on" for name in ("process", "no_new_privs", "landlock", "seccomp")):
        return 1
    return 3 if status.get("namespaces") == "on" else 2


class UnavailableLayerError(Exception):
    """This kernel or platform cannot provide the layer (as opposed to a failure)."""


class LayerNotNeededError(Exception):
    """The layer has nothing to do here (for example: dropping root when not root)."""


def _attempt(name: str, apply: Callable[[], str]) -> Layer:
    if not IS_LINUX:
        return Layer(name, "unavailable", "needs Linux")
    try:
        return Layer(name, "on", apply())
    except LayerNotNeededError as error:
        return Layer(name, "off", str(error))
    except UnavailableLayerError as error:
        return Layer(name, "unavailable", str(error))
    except OSError as error:
        return Layer(name, "failed", str(error))
    except Exception as error:  # any other failure: the layer is not on, and this says why
        return Layer(name, "failed", f"{type(error).__name__}: {error}")


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent exits (and exit now if it already has)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _process(parent_pid: int) -> str:
    if os.getpgid(0) != os.getpid():
        os.setpgid(0, 0)
    die_with_parent(parent_pid)
    return "own process group, killed with the parent"


def _namespaces(setup: Setup) -> str:
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:  # root needs no user namespace to get a network one, and drops to nobody next
        flags = _unshare_with_mounts(CLONE_NEWNET)
        return "new network namespace (no network)" + _bounded_scratch(setup, flags)
    flags = _unshare_with_mounts(CLONE_NEWUSER | CLONE_NEWNET)
    maps = (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1"))
    for name, content in maps:  # refused where a policy (AppArmor) takes the new namespace's rights
        try:
            with open(f"/proc/self/{name}", "w") as file:  # noqa: PTH123 - proc files, one write
                file.write(content)
        except OSError as error:
            raise UnavailableLayerError(f"writing /proc/self/{name}: {error}") from None
    scratch = _bounded_scratch(setup, flags)  # while the namespace's capabilities last
    keep_capabilities()  # the new namespace granted them all; keep none
    return "new user and network namespace (no network), no capabilities" + scratch


def _unshare_with_mounts(flags: int) -> int:
    """Enter new namespaces, with a mount namespace when the kernel allows; the flags used."""
    failure: OSError | None = None
    for attempt in (flags | CLONE_NEWNS, flags):
        try:
            unshare(attempt)
            return attempt
        except OSError as error:
            failure = error
    names = "CLONE_NEWUSER|CLONE_NEWNET" if flags & CLONE_NEWUSER else "CLONE_NEWNET"
    raise UnavailableLayerError(f"unshare({names}): {failure}") from None


def _bounded_scratch(setup: Setup, flags: int) -> str:
    """Mount a tmpfs of `scratch_mb` on scratch, seen by this worker alone."""
    size = setup.policy.scratch_mb
    if not flags & CLONE_NEWNS:
        return "; scratch not bounded in total (no mount namespace)"
    try:
        mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back out
        options = MS_NOSUID | MS_NODEV | MS_NOEXEC
        mount("tmpfs", setup.scratch, "tmpfs", options, f"size={size}m,mode=0700")
        os.chdir(setup.scratch)  # the working directory was the directory now covered
    except OSError as error:
        return f"; scratch not bounded in total (mount: {error})"
    return f"; scratch a {size} MB tmpfs of its own"


def _privileges(setup: Setup) -> str:
    if os.geteuid() != 0:
        raise LayerNotNeededError("not running as root")
    outside = _namespace_root_outside()
    if outside is not None:  # `unshare -r` and rootless containers: nobody is not mapped
        keep_capabilities()  # the namespace's root keeps none of its capabilities
        raise LayerNotNeededError(
            f"root only inside a user namespace (uid {outside} outside, which "
            "RLIMIT_NPROC counts): no capabilities kept"
        )
    # The kernel skips RLIMIT_NPROC for uid 0 even inside a user namespace: only
    # another uid makes the process limit hold.
    uid = setup.uid  # its pool's (see `uids`)
    os.chown(setup.scratch, uid, uid)
    if setup.data_dir:  # the cell's database: the worker writes it as its uid (and
        # SQLite, run as root in the parent, gives the files it creates to the file's owner)
        for path in [Path(setup.data_dir), *Path(setup.data_dir).iterdir()]:
            os.chown(path, uid, uid)
    # Python and the project may live where only root can read (/root/...). With
    # Landlock, reading is confined to the allowlist whatever the permissions, so
    # the worker keeps CAP_DAC_READ_SEARCH to import them (seccomp refuses
    # open_by_handle_at, the call that capability would otherwise open up).
    # Without Landlock it keeps nothing: the files must be readable by nobody.
    try:
        landlock.abi_version()
        keep: tuple[int, ...] = (CAP_DAC_READ_SEARCH,)
    except OSError:
        keep = ()
    prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    keep_capabilities(*keep)
    prctl(PR_SET_KEEPCAPS, 0)
    kept = ", keeping only CAP_DAC_READ_SEARCH (reads stay in the allowlist)" if keep else ""
    own = "its pool's own" if uid != NOBODY else "nobody: no free uid of its own"
    return f"dropped root to uid/gid {uid} ({own}){kept}"


def _namespace_root_outside() -> int | None:
    """The outer uid of this root, when it is root of a user namespace that does not
    map `nobody` (so there is no one to drop to); None for the machine's own root."""
    ranges = uid_map()
    if ranges == [(0, 0, 4294967295)]:
        return None
    if any(inside <= NOBODY < inside + count for inside, _, count in ranges):
        return None
    return next((outer for inside, outer, _ in ranges if inside == 0), None)


def _rlimits(setup: Setup) -> str:
    policy = setup.policy
    limits = {
        resource.RLIMIT_CPU: (policy.cpu_seconds, policy.cpu_seconds + 1),
        resource.RLIMIT_AS: (policy.memory_mb * MB,) * 2,
        resource.RLIMIT_FSIZE: (policy.file_size_mb * MB,) * 2,
        resource.RLIMIT_NOFILE: (policy.open_files,) * 2,
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_NPROC: (policy.processes,) * 2,
    }
    for which, (soft, hard) in limits.items():
        resource.setrlimit(which, (soft, hard))
    return (
        f"cpu {policy.cpu_seconds} s, memory {policy.memory_mb} MB, "
        f"files {policy.file_size_mb} MB, {policy.open_files} open files, "
        f"{policy.processes} processes, no core dumps"
    )


def _no_new_privs() -> str:
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    # Not dumpable: no core, no ptrace, /proc/<pid> owned by root. Set only now:
    # a worker that is not root must write its own /proc/self/uid_map first.
    prctl(PR_SET_DUMPABLE, 0)
    return "set; not dumpable"


def _landlock(setup: Setup) -> str:
    try:
        abi = landlock.abi_version()
    except OSError as error:
        raise UnavailableLayerError(f"landlock_create_ruleset: {error}") from None
    writable = [setup.scratch, *([setup.data_dir] if setup.data_dir else [])]
    return landlock.restrict(setup.read_only, writable, abi)


def _seccomp(program: bytes | None, widened: tuple[str, ...]) -> str:
    if program is None:
        raise UnavailableLayerError(f"no system call table for {os.uname().machine}")
    seccomp.install(program)
    also = f", also allowing {', '.join(widened)}" if widened else ""
    return f"allowlist filter of {len(program) // 8} instructions{also}"
