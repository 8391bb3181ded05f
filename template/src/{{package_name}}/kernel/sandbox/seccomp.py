# Owned by the monocell template: `copier update` replaces this file.
"""seccomp-bpf: the system calls a sandboxed worker may make, and no others.

An allowlist (`kernel.config.syscalls`: what workers were seen to call, and a
margin of what glibc and CPython call for the same purposes elsewhere), which a
cell's `allow_syscalls` widens for that cell only. Some allowed calls are
limited by their arguments: only a connected AF_UNIX stream `socketpair` (the
event loop's), threads but no processes (`clone`), signals to itself only,
resource limits, priority and scheduling of itself only, no `F_SETOWN` /
`F_SETSIG` (the kernel would signal another process for it), not clearing its
death signal (`prctl`), and no `TIOCSTI` / `TIOCLINUX` (`ioctl`: typing into
the service's terminal).

Refused, with two errors on purpose:

- EPERM for the calls `syscalls.REFUSED` names, which reach outside the worker
  (sockets, exec, ptrace, mount, namespaces, SysV IPC, file metadata, ...), and
  for filtered calls with refused arguments: "not permitted" is the truth, and
  code that tries them gets the error it would get without the privilege.
- ENOSYS for every call not on the list, and `clone3`: glibc and CPython treat
  it as an older kernel and fall back to an older call that is on the list
  (`clone3` to `clone`, `statx` to `newfstatat`, `faccessat2` to `faccessat`,
  `close_range` to `close`, ...), where EPERM would be a hard failure.

A system call of a foreign architecture, or an x32 one, kills the process.

The program is one chain of comparisons, the most made calls first (on kernels
since 5.11 the kernel caches the verdict of calls allowed whatever their
arguments, and runs the program only for the others). It is written here by
hand rather than with libseccomp: its Python binding is not on PyPI and shells
out to locate the C library, which cannot work once the worker is restricted.
It is built as bytes before any layer is applied and installed last.
"""

import ctypes
import errno
import struct
from collections.abc import Iterable

from ..config.syscalls import ALLOWED, FALLBACK, NUMBERS, REFUSED, widening_problem
from .linux import MACHINE, PR_SET_SECCOMP, prctl

SECCOMP_MODE_FILTER = 2
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

LD_W_ABS, AND, JEQ, JGE, JSET, RET = 0x20, 0x54, 0x15, 0x35, 0x45, 0x06
NR_OFFSET, ARCH_OFFSET = 0, 4
MAX_JUMP = 255  # a conditional jump's offset is one byte

# The AUDIT_ARCH value of each architecture with a table in `syscalls.NUMBERS`.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

AF_UNIX = 1
SOCK_STREAM, SOCK_TYPE_MASK = 1, 0xF  # the type without SOCK_CLOEXEC / SOCK_NONBLOCK
CLONE_THREAD = 0x00010000
CLONE_NEW_NAMESPACES = 0x7E020080  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
# fcntl commands that make the kernel signal another process for the worker.
F_SETOWN, F_SETSIG, F_SETOWN_EX = 8, 10, 15
TIOCSTI, TIOCLINUX = 0x5412, 0x541C  # push input into a terminal; console control
PR_SET_PDEATHSIG = 1
PRIO_PROCESS = 0


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def supported() -> bool:
    """True when this machine's architecture has a syscall table here."""
    return MACHINE in AUDIT_ARCH


def build_filter(own_pid: int, allow: Iterable[str] = ()) -> bytes:
    """The BPF program (`struct sock_filter[]`) for this architecture, as bytes.

    `allow`: the calls a cell's policy adds. The policy refuses bad names when
    it is loaded; they are refused here too, for a caller that built none.
    """
    allow = tuple(allow)
    problem = widening_problem(allow)
    if problem is not None:
        raise ValueError(f"allow_syscalls: {problem}")
    numbers = NUMBERS[MACHINE]
    code = [
        _op(LD_W_ABS, ARCH_OFFSET),
        _op(JEQ, AUDIT_ARCH[MACHINE], 1, 0),
        _op(RET, RET_KILL_PROCESS),
        _op(LD_W_ABS, NR_OFFSET),
    ]
    if MACHINE == "x86_64":  # x32 system calls share the architecture value: refuse them
        code += [_op(JGE, 0x40000000, 0, 1), _op(RET, RET_KILL_PROCESS)]
    filtered = _argument_filters(own_pid)
    chain: list[tuple[int, int | list[bytes]]] = []
    for name in dict.fromkeys((*ALLOWED, *allow)):
        if name in numbers:
            chain.append((numbers[name], filtered.get(name, RET_ALLOW)))
    deny = RET_ERRNO | errno.EPERM
    chain += [(numbers[name], deny) for name in REFUSED if name in numbers]
    chain += [(numbers[name], RET_ERRNO | errno.ENOSYS) for name in FALLBACK if name in numbers]
    code += _compare(chain, _op(RET, RET_ERRNO | errno.ENOSYS))
    return b"".join(code)


def _argument_filters(own_pid: int) -> dict[str, list[bytes]]:
    """The blocks that decide the calls `syscalls.FILTERED` names by their arguments."""
    deny = RET_ERRNO | errno.EPERM
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
    no_terminal_input = [  # the service's stderr may be a terminal
        _op(LD_W_ABS, _argument(1)),
        _op(JEQ, TIOCSTI, 1, 0),
        _op(JEQ, TIOCLINUX, 0, 1),
        _op(RET, deny),
        _op(RET, RET_ALLOW),
    ]
    keep_death_signal = [
        _op(LD_W_ABS, _argument(0)),
        _op(JEQ, PR_SET_PDEATHSIG, 0, 1),
        _op(RET, deny),
        _op(RET, RET_ALLOW),
    ]
    return {
        "socketpair": stream_pair_only,
        "kill": only_self,
        "tgkill": only_self,
        "rt_sigqueueinfo": only_self,
        "rt_tgsigqueueinfo": only_self,
        "clone": threads_only,
        **dict.fromkeys(
            ("prlimit64", "sched_setparam", "sched_setscheduler", "sched_setaffinity"),
            self_or_zero,
        ),
        "sched_setattr": self_or_zero,
        "setpriority": own_priority,
        "fcntl": no_signal_owner,
        "ioctl": no_terminal_input,
        "prctl": keep_death_signal,
    }


def _compare(chain: list[tuple[int, int | list[bytes]]], otherwise: bytes) -> list[bytes]:
    """`if nr == number: verdict` for each entry in order, then `otherwise`.

    A verdict is a return value or a block of its own. Entries with the same
    return value jump to one shared `ret` (within a jump's reach), so a call
    costs one instruction; built from the end, where the offsets are known.
    """
    code = [otherwise]
    shared: dict[int, int] = {}  # return value -> its nearest `ret`, counted from code[0]
    for number, verdict in reversed(chain):
        if isinstance(verdict, list):
            block = [_op(JEQ, number, 0, len(verdict)), *verdict]
        elif shared.get(verdict, MAX_JUMP + 1) <= MAX_JUMP:
            block = [_op(JEQ, number, shared[verdict], 0)]
        else:  # out of reach, or the first: a `ret` of its own, skipped by the others
            block = [_op(JEQ, number, 0, 1), _op(RET, verdict)]
        code[:0] = block
        shared = {value: index + len(block) for value, index in shared.items()}
        if not isinstance(verdict, list) and len(block) == 2:
            shared[verdict] = 1
    return code


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
