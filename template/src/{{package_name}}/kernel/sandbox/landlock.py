# Owned by the monocell template: `copier update` replaces this file.
"""Landlock: a filesystem allowlist (and, from ABI 4, no TCP) the worker puts on itself.

Read-only: what Python needs to import (its prefixes, the virtual environment,
the project's sources, the system libraries). Read-write: one private scratch
directory. Everything else, including /etc, the project's .env and /proc, is
refused by the kernel with EACCES. From ABI 4 no TCP bind or connect; from
ABI 6 no signals to, and no abstract sockets of, processes outside the sandbox.
The calls are made by number (see `linux`): there is no binding in `os`.
"""

import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

from .linux import syscall

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # same numbers on every arch
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
WRITABLE = (
    WRITE_FILE | READ_FILE | READ_DIR | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG
    | REFER | TRUNCATE
)  # fmt: skip


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: 12 bytes
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def abi_version() -> int:
    """The Landlock ABI this kernel offers; raises `OSError` when Landlock is off."""
    return syscall(CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)


def handled_fs(abi: int) -> int:
    """Every filesystem right this ABI knows: all of them are denied unless allowed."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(read_only: Iterable[str], writable: Iterable[str], abi: int) -> str:
    """Allow only these paths, deny TCP and outside signals where the ABI can; return a summary.

    Needs no_new_privs set first. Paths that do not exist are skipped.
    """
    fs = handled_fs(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = syscall(CREATE_RULESET, ctypes.byref(attr), size, 0)
    try:
        for paths, access in ((read_only, READ_ONLY), (writable, WRITABLE)):
            for path in dict.fromkeys(paths):
                _allow(ruleset, path, access & fs)
        syscall(RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    parts = [f"ABI {abi}", "filesystem allowlist"]
    parts += ["no TCP"] if net else ["TCP not covered (ABI < 4)"]
    parts += ["no outside signals"] if scoped else []
    return ", ".join(parts)


def _allow(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not Path(path).is_dir():
            access &= FILE_ONLY
        rule = _PathBeneathAttr(access, fd)
        syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)
