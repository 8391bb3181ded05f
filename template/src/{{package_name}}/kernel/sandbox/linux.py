# Owned by the monocell template: `copier update` replaces this file.
"""The few Linux system calls the sandbox layers need, through ctypes.

Python's `os` module has no binding for prctl, landlock_* or seccomp, and a
wrapper library would have to be importable inside the restricted worker
(libseccomp's Python binding shells out to find its library, which the
restrictions forbid), so the calls are made here by number.
"""

import contextlib
import ctypes
import os
import platform
import sys
from typing import Any

IS_LINUX = sys.platform == "linux"
MACHINE = platform.machine()

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# mount flags (include/uapi/linux/mount.h)
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MS_REC, MS_PRIVATE = 0x4000, 0x40000

# prctl options (include/uapi/linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True) if IS_LINUX else None


def syscall(number: int, *arguments: object) -> int:
    """Call system call `number`; raise `OSError` with the kernel's errno on failure."""
    call = _function("syscall", "system call")
    call.restype = ctypes.c_long
    values = [ctypes.c_long(a) if isinstance(a, int) else a for a in arguments]
    return _checked(call(ctypes.c_long(number), *values))


def prctl(option: int, *arguments: object) -> int:
    """`prctl(2)`; integers pass as unsigned longs; raise `OSError` on failure."""
    values = [ctypes.c_ulong(a) if isinstance(a, int) else a for a in arguments]
    values += [ctypes.c_ulong(0)] * (4 - len(values))
    return _checked(_function("prctl")(ctypes.c_int(option), *values))


def name_process(name: str) -> None:
    """Set the name `ps -e`, `top` and `pgrep` show (the first 15 bytes); best effort.

    Forked workers would otherwise all show the zygote's command line and name.
    """
    if _libc is None:
        return
    with contextlib.suppress(OSError):
        prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))


def unshare(flags: int) -> None:
    """`unshare(2)`: move this process into new namespaces."""
    _checked(_function("unshare")(ctypes.c_int(flags)))


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """`mount(2)`; raise `OSError` with the kernel's errno on failure."""
    _checked(
        _function("mount")(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        )
    )


def _function(name: str, described: str = "") -> Any:
    """libc's function `name`; `OSError` (ENOSYS) where there is no Linux libc."""
    if _libc is None:
        raise OSError(38, f"{described or name} is not available on this platform")
    return getattr(_libc, name)


def _checked(result: int) -> int:
    """`result`, or the kernel's errno as `OSError` when the call failed (below 0)."""
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


CAPSET = {"x86_64": 126, "aarch64": 91}
CAPABILITY_VERSION_3 = 0x20080522


CAP_DAC_READ_SEARCH = 2


def keep_capabilities(*capabilities: int) -> None:
    """Keep only `capabilities` (effective and permitted; none inheritable), drop the rest."""
    if MACHINE not in CAPSET:
        raise OSError(38, f"capset: no system call number for {MACHINE}")
    mask = sum(1 << capability for capability in capabilities)
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    # two {effective, permitted, inheritable} words: capabilities 0-31, then 32-63
    data = (ctypes.c_uint32 * 6)(mask & 0xFFFFFFFF, mask & 0xFFFFFFFF, 0, mask >> 32, mask >> 32, 0)
    syscall(CAPSET[MACHINE], ctypes.byref(header), ctypes.byref(data))
