# Owned by the monocell template: `copier update` replaces this file.
"""seccomp-bpf: the system calls a sandboxed worker may not make.

Refused with EPERM: every new socket (no IP, netlink, packet or UNIX sockets;
only a connected AF_UNIX stream pair), new processes (threads stay allowed)
and new namespaces, leaving the process group (the parent kills the group),
exec, ptrace and reading other processes' memory, mount
and friends, bpf, keyctl, io_uring, perf events, kernel modules, and signals
to any process but itself (also queued ones, and `F_SETOWN`/`F_SETSIG`, which
let the kernel signal another process for it). Calls that act on another
process are allowed on the worker itself only: resource limits (`prlimit64`),
priority and scheduling. It may not clear its death signal (it must die with
the service), use SysV IPC (shared memory, queues, semaphores outlive it and
reach the host's), nor change files' modes, owners, times or extended
attributes: Landlock governs reads and writes, not those. Nor may it make
anonymous memory files (`memfd_create`): their pages, written and never mapped,
are outside the address-space limit.
A system call of a foreign architecture kills the process.

The BPF program is written here by hand rather than with libseccomp: its Python
binding is not on PyPI and shells out to locate the C library, which cannot work
once the worker is restricted; this program is a few dozen instructions, built
as bytes before any layer is applied and installed last.
"""

import ctypes
import errno
import struct

from .linux import MACHINE, PR_SET_SECCOMP, prctl

SECCOMP_MODE_FILTER = 2
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

LD_W_ABS, AND, JEQ, JGE, JSET, RET = 0x20, 0x54, 0x15, 0x35, 0x45, 0x06
NR_OFFSET, ARCH_OFFSET = 0, 4

AF_UNIX = 1
SOCK_STREAM, SOCK_TYPE_MASK = 1, 0xF  # the type without SOCK_CLOEXEC / SOCK_NONBLOCK
CLONE_THREAD = 0x00010000
CLONE_NEW_NAMESPACES = 0x7E020080  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME


# Per architecture: the AUDIT_ARCH value and the numbers of the calls the filter names.
ARCHITECTURES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58,
            "execve": 59, "kill": 62, "ptrace": 101, "pivot_root": 155, "chroot": 161,
            "mount": 165, "umount2": 166, "init_module": 175, "delete_module": 176,
            "tkill": 200, "tgkill": 234, "kexec_load": 246, "add_key": 248,
            "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
            "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
            "process_vm_writev": 311, "finit_module": 313, "bpf": 321, "execveat": 322,
            "userfaultfd": 323, "pidfd_send_signal": 424, "io_uring_setup": 425,
            "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
            "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "clone3": 435, "mount_setattr": 442, "setpgid": 109,
            "setsid": 112,
            # Acting on other processes, and their signals.
            "prlimit64": 302, "setpriority": 141, "sched_setparam": 142,
            "sched_setscheduler": 144, "sched_setaffinity": 203, "sched_setattr": 314,
            "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "fcntl": 72, "prctl": 157,
            # SysV IPC.
            "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65,
            "semctl": 66, "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70,
            "msgctl": 71, "semtimedop": 220,
            # File metadata.
            "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94,
            "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
            "fchownat": 260, "fchmodat": 268, "fchmodat2": 452, "setxattr": 188,
            "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198,
            "fremovexattr": 199,
            # Memory outside the address-space limit.
            "memfd_create": 319,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "unshare": 97,
            "kexec_load": 104, "init_module": 105, "delete_module": 106, "ptrace": 117,
            "kill": 129, "tkill": 130, "tgkill": 131, "socket": 198, "socketpair": 199,
            "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220, "execve": 221,
            "perf_event_open": 241, "open_by_handle_at": 265, "setns": 268,
            "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273,
            "bpf": 280, "execveat": 281, "userfaultfd": 282, "pidfd_send_signal": 424,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
            "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
            "fsmount": 432, "fspick": 433, "clone3": 435, "mount_setattr": 442,
            "setpgid": 154, "setsid": 157,
            "prlimit64": 261, "setpriority": 140, "sched_setparam": 118,
            "sched_setscheduler": 119, "sched_setaffinity": 122, "sched_setattr": 274,
            "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240, "fcntl": 25, "prctl": 167,
            "msgget": 186, "msgctl": 187, "msgrcv": 188, "msgsnd": 189, "semget": 190,
            "semctl": 191, "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195,
            "shmat": 196, "shmdt": 197,
            "fchmod": 52, "fchmodat": 53, "fchownat": 54, "fchown": 55, "utimensat": 88,
            "fchmodat2": 452, "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7,
            "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
            "memfd_create": 279,
        },
    ),
}  # fmt: skip

DENIED = (
    "fork", "vfork", "execve", "execveat", "ptrace", "process_vm_readv",
    "process_vm_writev", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "bpf", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "perf_event_open", "userfaultfd", "open_by_handle_at",
    "kexec_load", "init_module", "finit_module", "delete_module", "tkill",
    "pidfd_send_signal", "setpgid", "setsid",
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop",
    "msgget", "msgsnd", "msgrcv", "msgctl",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr",
    "memfd_create",
)  # fmt: skip
# fcntl commands that make the kernel signal another process for the worker.
F_SETOWN, F_SETSIG, F_SETOWN_EX = 8, 10, 15
PR_SET_PDEATHSIG = 1
PRIO_PROCESS = 0


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def supported() -> bool:
    """True when this machine's architecture has a syscall table here."""
    return MACHINE in ARCHITECTURES


def build_filter(own_pid: int) -> bytes:
    """The BPF program (`struct sock_filter[]`) for this architecture, as bytes."""
    arch, numbers = ARCHITECTURES[MACHINE]
    deny = RET_ERRNO | errno.EPERM
    code = [
        _op(LD_W_ABS, ARCH_OFFSET),
        _op(JEQ, arch, 1, 0),
        _op(RET, RET_KILL_PROCESS),
        _op(LD_W_ABS, NR_OFFSET),
    ]
    if MACHINE == "x86_64":  # x32 system calls share the architecture value: refuse them
        code += [_op(JGE, 0x40000000, 0, 1), _op(RET, RET_KILL_PROCESS)]
    blocks: list[tuple[str, list[bytes]]] = [(name, [_op(RET, deny)]) for name in DENIED]
    # No socket() at all: not even AF_UNIX, since Landlock does not cover connecting
    # to a named socket (a worker mapped to root could reach the Docker socket).
    # An asyncio loop only needs a connected AF_UNIX stream socketpair.
    stream_pair_only = [
        _op(LD_W_ABS, _argument(0)),
        _op(JEQ, AF_UNIX, 0, 4),
        _op(LD_W_ABS, _argument(1)),
        _op(AND, SOCK_TYPE_MASK),
        _op(JEQ, SOCK_STREAM, 0, 1),
        _op(RET, RET_ALLOW),
        _op(RET, deny),
    ]
    only_self = [
        _op(LD_W_ABS, _argument(0)),
        _op(JEQ, own_pid, 0, 1),
        _op(RET, RET_ALLOW),
        _op(RET, deny),
    ]
    threads_only = [
        _op(LD_W_ABS, _argument(0)),
        _op(JSET, CLONE_NEW_NAMESPACES, 2, 0),
        _op(JSET, CLONE_THREAD, 0, 1),
        _op(RET, RET_ALLOW),
        _op(RET, deny),
    ]
    self_or_zero = [  # a pid argument: 0 (the caller) or the worker's own
        _op(LD_W_ABS, _argument(0)),
        _op(JEQ, 0, 1, 0),
        _op(JEQ, own_pid, 0, 1),
        _op(RET, RET_ALLOW),
        _op(RET, deny),
    ]
    own_priority = [  # setpriority(PRIO_PROCESS, 0 or itself, ...): no group, no user
        _op(LD_W_ABS, _argument(0)),
        _op(JEQ, PRIO_PROCESS, 0, 4),
        _op(LD_W_ABS, _argument(1)),
        _op(JEQ, 0, 1, 0),
        _op(JEQ, own_pid, 0, 1),
        _op(RET, RET_ALLOW),
        _op(RET, deny),
    ]
    no_signal_owner = [
        _op(LD_W_ABS, _argument(1)),
        _op(JEQ, F_SETOWN, 2, 0),
        _op(JEQ, F_SETSIG, 1, 0),
        _op(JEQ, F_SETOWN_EX, 0, 1),
        _op(RET, deny),
        _op(RET, RET_ALLOW),
    ]
    keep_death_signal = [
        _op(LD_W_ABS, _argument(0)),
        _op(JEQ, PR_SET_PDEATHSIG, 0, 1),
        _op(RET, deny),
        _op(RET, RET_ALLOW),
    ]
    blocks += [("socket", [_op(RET, deny)]), ("socketpair", stream_pair_only)]
    blocks += [("kill", only_self), ("tgkill", only_self), ("clone", threads_only)]
    blocks += [("rt_sigqueueinfo", only_self), ("rt_tgsigqueueinfo", only_self)]
    blocks += [(name, self_or_zero) for name in ("prlimit64", "sched_setparam")]
    blocks += [(name, self_or_zero) for name in ("sched_setscheduler", "sched_setaffinity")]
    blocks += [("sched_setattr", self_or_zero), ("setpriority", own_priority)]
    blocks += [("fcntl", no_signal_owner), ("prctl", keep_death_signal)]
    # clone3 passes its flags in memory BPF cannot read: ENOSYS makes libc use clone.
    blocks.append(("clone3", [_op(RET, RET_ERRNO | errno.ENOSYS)]))
    for name, block in blocks:
        if name in numbers:
            code.append(_op(JEQ, numbers[name], 0, len(block)))
            code += block
    code.append(_op(RET, RET_ALLOW))
    return b"".join(code)


def install(program: bytes) -> None:
    """Apply the filter to this process for good (no_new_privs must be set)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _Program(len(program) // 8, ctypes.addressof(buffer))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog))


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _argument(index: int) -> int:
    """Offset of the low 32 bits of argument `index` in `struct seccomp_data` (little endian)."""
    return 16 + 8 * index
