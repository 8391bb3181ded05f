# Owned by the monocell template: `copier update` replaces this file.
"""The few Linux system calls the sandbox layers need, through ctypes.

Python's `os` module has no binding for prctl, landlock_* or seccomp, and a
wrapper library would have to be importable inside the restricted worker
(libseccomp's Python binding shells out to find its library, which the
restrictions forbid), so the calls are made here by number.
"""

import ctypes
import os
import platform
import sys

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
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True) if IS_LINUX else None


def syscall(number: int, *arguments: object) -> int:
    """Call system call `number`; raise `OSError` with the kernel's errno on failure."""
    if _libc is None:
        raise OSError(38, "system call not available on this platform")
    _libc.syscall.restype = ctypes.c_long
    values = [ctypes.c_long(a) if isinstance(a, int) else a for a in arguments]
    result: int = _libc.syscall(ctypes.c_long(number), *values)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def prctl(option: int, *arguments: object) -> int:
    """`prctl(2)`; integers pass as unsigned longs; raise `OSError` on failure."""
    if _libc is None:
        raise OSError(38, "prctl is not available on this platform")
    values = [ctypes.c_ulong(a) if isinstance(a, int) else a for a in arguments]
    values += [ctypes.c_ulong(0)] * (4 - len(values))
    result: int = _libc.prctl(ctypes.c_int(option), *values)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def unshare(flags: int) -> None:
    """`unshare(2)`: move this process into new namespaces."""
    if _libc is None:
        raise OSError(38, "unshare is not available on this platform")
    if _libc.unshare(ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """`mount(2)`; raise `OSError` with the kernel's errno on failure."""
    if _libc is None:
        raise OSError(38, "mount is not available on this platform")
    result = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


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
