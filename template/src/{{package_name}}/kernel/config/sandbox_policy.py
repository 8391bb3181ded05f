# Owned by the monocell template: `copier update` replaces this file.
"""What a sandboxed cell needs: the minimum isolation level, its limits, its pool.

Configured per cell in topology.toml, every key optional:

    [cells.calculator]
    placement = "sandbox"

    [cells.calculator.sandbox]
    min_level = 2          # refuse to start below this level (see LEVELS)
    timeout = 2.0          # wall-clock seconds per call; then the worker is killed
    cpu_seconds = 5        # CPU time per worker (RLIMIT_CPU)
    memory_mb = 512        # address space per worker (RLIMIT_AS)
    file_size_mb = 16      # largest file a worker may write (RLIMIT_FSIZE)
    scratch_mb = 64        # all a worker may hold in its scratch directory, where
                           # namespaces are on (a tmpfs of its own; see docs/sandbox.md)
    open_files = 64        # RLIMIT_NOFILE
    processes = 8          # processes and threads of the worker's user (RLIMIT_NPROC)
    pool_size = 2          # pre-forked workers, so at most this many calls at once
    recycle_after = 1000   # calls before a worker is replaced by a fresh one
    fresh_worker_per_call = true  # no worker serves two calls; default: true for risk "high"
    read_paths = []        # more absolute paths the cell may read (data files, models)
    allow_syscalls = []    # system calls to add to the seccomp allowlist for this cell
                           # (names; see kernel/config/syscalls.py and docs/sandbox.md)
"""

from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from .syscalls import widening_problem

AbsolutePath = Annotated[str, msgspec.Meta(pattern=r"^/", max_length=4096)]

# The named isolation levels, highest first. A level includes every level below it.
LEVELS: dict[int, str] = {
    3: "namespaced",  # level 2, inside a new network (and, unless root, user) namespace
    2: "self-restricted",  # level 1 + Landlock filesystem allowlist + seccomp-bpf filter
    1: "rlimits only",  # CPU, memory, file size, files, processes, no core dumps
    0: "none",
}


def level_name(level: int) -> str:
    """`2 (self-restricted)`: a level as people read it in errors and reports."""
    return f"{level} ({LEVELS.get(level, 'unknown')})"


class SandboxPolicy(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The `[cells.<name>.sandbox]` table: limits of one sandboxed cell."""

    min_level: Annotated[int, msgspec.Meta(ge=0, le=3)] = 2
    timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    cpu_seconds: Annotated[int, msgspec.Meta(ge=1, le=86400)] = 10
    memory_mb: Annotated[int, msgspec.Meta(ge=64, le=1 << 20)] = 512
    file_size_mb: Annotated[int, msgspec.Meta(ge=0, le=1 << 20)] = 16
    scratch_mb: Annotated[int, msgspec.Meta(ge=1, le=1 << 20)] = 64
    open_files: Annotated[int, msgspec.Meta(ge=16, le=65536)] = 64
    processes: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 8
    pool_size: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    recycle_after: Annotated[int, msgspec.Meta(ge=1)] = 1000
    # True: each call gets a worker no earlier call ran in, and the worker is killed
    # after it, so a worker compromised by one input never sees another caller's.
    # Unset: decided by the cell's risk (`for_risk`).
    fresh_worker_per_call: bool | UnsetType = UNSET
    read_paths: tuple[AbsolutePath, ...] = ()
    # Added to the seccomp allowlist for this cell's workers only: names of the
    # system call table, none of those refused to every cell.
    allow_syscalls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = widening_problem(self.allow_syscalls)
        if problem is not None:  # `key: what`, as the topology reports it
            raise ValueError(f"allow_syscalls: {problem}")


def for_risk(policy: SandboxPolicy, high_risk: bool) -> SandboxPolicy:
    """`policy` with its unset choices made for the cell's risk: a high-risk cell
    gets a fresh worker per call unless its table says otherwise."""
    if policy.fresh_worker_per_call is UNSET:
        return msgspec.structs.replace(policy, fresh_worker_per_call=high_risk)
    return policy
