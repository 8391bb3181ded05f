# Owned by the monocell template: `copier update` replaces this file.
"""The system calls a sandboxed worker may make: an allowlist, by name, per architecture.

The seccomp layer (`kernel.sandbox.seccomp`) compiles these names into its
filter; the topology checks a cell's `allow_syscalls` against them at load,
which is why they live with the configuration.

How the allowlist was derived (docs/sandbox.md, "The seccomp allowlist", has
the commands, to redo it after a Python or distribution upgrade): the sandbox
kernel tests and the example cells' sandbox tests were run under
`strace -f -ff` on CPython 3.11.7, 3.12.1 and 3.13.0 (glibc 2.36, Linux 6.18),
counting what each worker called after installing its filter. 3.11 and 3.12
made the same 60 calls, 3.13 the same less `vfork`: the 49 of `OBSERVED`,
`clone3` (see `FALLBACK`) and the 10 that the escape tests try and `REFUSED`
names. `MARGIN` adds what glibc and CPython call for the same purposes on
other versions and distributions, or in code paths the tests do not take.

The numbers are those of the kernel headers of Debian 12 (Linux 6.1):
x86_64 from `asm/unistd_64.h`, aarch64 from `asm-generic/unistd.h` (with
`__BITS_PER_LONG` 64 and arm64's `__ARCH_WANT_RENAMEAT`, `__ARCH_WANT_NEW_STAT`,
`__ARCH_WANT_SET_GET_RLIMIT` and `__ARCH_WANT_SYS_CLONE3`), plus `fchmodat2`
(Linux 6.6, after those headers). Each table lists the names in number order
from its first key; "-" marks a number no call has.
"""

from collections.abc import Iterable

# The calls workers made under strace, less the refused ones the escape tests try.
OBSERVED: tuple[str, ...] = (
    # Most made first (the filter tests them in this order): reading, stat and
    # opening (imports), the pipes to the service, the event loop, threads.
    "newfstatat", "read", "futex", "write", "openat", "lseek", "epoll_wait", "close",
    "ioctl", "recvfrom", "getpid", "brk", "mmap", "mkdir", "sendto", "getdents64",
    "getsockname", "fcntl", "rt_sigaction", "munmap", "epoll_create1", "epoll_ctl",
    "socketpair", "mprotect", "pwrite64", "pread64", "rt_sigprocmask", "gettid",
    "geteuid", "clone", "rseq", "set_robust_list", "getrandom", "mremap",
    "clock_nanosleep", "madvise", "exit", "kill", "setpriority", "pipe2", "exit_group",
    "fdatasync", "prlimit64", "sched_setaffinity", "sched_setscheduler",
    "rt_sigqueueinfo", "prctl", "getuid", "getppid",
)  # fmt: skip

# What glibc and CPython call for the same purposes elsewhere: newer or older
# variants of an observed call (libc picks by kernel and version), and what a
# handler's ordinary Python does in paths the tests do not take.
MARGIN: tuple[str, ...] = (
    # stat, open, access and directory variants; aarch64 has only the *at forms.
    "stat", "fstat", "lstat", "statx", "open", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "getdents", "getcwd", "chdir", "fchdir", "statfs", "fstatfs",
    # Writing in scratch or the cell's data directory (Landlock confines where).
    "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "link", "linkat", "symlink", "symlinkat", "ftruncate", "fallocate", "fsync",
    "flock", "fadvise64", "umask", "sendfile", "copy_file_range",
    # Vectored and positioned I/O, descriptors.
    "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "dup", "dup2", "dup3",
    "pipe", "close_range",
    # Memory.
    "msync", "mincore",
    # Threads and scheduling of itself.
    "set_tid_address", "sched_yield", "sched_getaffinity", "sched_getparam",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_setparam", "sched_setattr", "sched_getattr", "getpriority", "getcpu",
    "tgkill", "rt_tgsigqueueinfo", "arch_prctl",
    # Signals, timers and time.
    "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack",
    "restart_syscall", "pause", "alarm", "setitimer", "getitimer", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
    "clock_gettime", "clock_getres", "nanosleep", "gettimeofday", "time",
    # Waiting on descriptors: the variants selectors and event loops use.
    "epoll_create", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
    "eventfd", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "signalfd", "signalfd4",
    # The socketpair: messages, options, shutdown.
    "recvmsg", "sendmsg", "recvmmsg", "sendmmsg", "getpeername", "getsockopt",
    "setsockopt", "shutdown",
    # Its own identity and limits.
    "getgid", "getegid", "getgroups", "getresuid", "getresgid", "getpgid", "getpgrp",
    "getsid", "capget", "getrlimit", "setrlimit", "getrusage", "times", "uname",
    "sysinfo", "wait4", "waitid",
)  # fmt: skip

# Allowed only with these arguments (the blocks are in `kernel.sandbox.seccomp`):
# a policy cannot widen them, since listing one would suggest lifting its filter.
FILTERED: tuple[str, ...] = (
    "ioctl", "fcntl", "socketpair", "clone", "kill", "tgkill", "prlimit64", "prctl",
    "setpriority", "sched_setparam", "sched_setscheduler", "sched_setaffinity",
    "sched_setattr", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
)  # fmt: skip

# Refused on purpose, with EPERM: each reaches outside the worker. No policy may allow one.
REFUSED: tuple[str, ...] = (
    # New sockets, processes, programs, namespaces and mounts.
    "socket", "fork", "vfork", "execve", "execveat", "unshare", "setns", "mount",
    "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    # Other processes: their memory, descriptors, signals, pages.
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_send_signal", "pidfd_getfd",
    "tkill", "kcmp", "process_madvise", "process_mrelease", "migrate_pages", "move_pages",
    # Leaving its process group (the service kills the group).
    "setpgid", "setsid",
    # The kernel's own machinery.
    "bpf", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "perf_event_open", "userfaultfd", "open_by_handle_at",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    # SysV IPC: outlives the worker and reaches the host's.
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop",
    "msgget", "msgsnd", "msgrcv", "msgctl",
    # File metadata, which Landlock does not govern.
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr",
    # Memory outside the address-space limit.
    "memfd_create", "memfd_secret",
)  # fmt: skip
# Refused with ENOSYS, so that glibc falls back to `clone`, whose flags the
# filter can read (clone3 passes them in memory BPF cannot see).
FALLBACK: tuple[str, ...] = ("clone3",)

ALLOWED: tuple[str, ...] = tuple(dict.fromkeys((*OBSERVED, *MARGIN)))

# The kernel headers' tables (see the module docstring); "-" is an unused number.
_TABLES: dict[str, dict[int, str]] = {
    "x86_64": {
        0: """
            read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction
            rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select
            sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep
            getitimer alarm setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg
            recvmsg shutdown bind listen getsockname getpeername socketpair setsockopt getsockopt
            clone fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd
            msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd chdir
            fchdir rename mkdir rmdir creat link unlink symlink readlink chmod fchmod chown fchown
            lchown umask gettimeofday getrlimit getrusage sysinfo times ptrace getuid syslog getgid
            setuid setgid geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups
            setgroups setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid
            capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack
            utime mknod uselib personality ustat statfs fstatfs sysfs getpriority setpriority
            sched_setparam sched_getparam sched_setscheduler sched_getscheduler
            sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock
            mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex
            setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot sethostname
            setdomainname iopl ioperm create_module init_module delete_module get_kernel_syms
            query_module quotactl nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid
            readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr
            flistxattr removexattr lremovexattr fremovexattr tkill time futex sched_setaffinity
            sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit io_cancel
            get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old
            remap_file_pages getdents64 set_tid_address restart_syscall semtimedop fadvise64
            timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime
            clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes
            vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive
            mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set
            ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat
            mknodat fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat
            fchmodat faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee
            sync_file_range vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create
            eventfd fallocate timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2
            epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open
            recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at
            clock_adjtime syncfs sendmmsg setns getcpu process_vm_readv process_vm_writev kcmp
            finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create
            kexec_file_load bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2
            pwritev2 pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq
        """,
        424: """
            pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
            fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd
            faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd
            landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret
            process_mrelease futex_waitv set_mempolicy_home_node
        """,
    },
    "aarch64": {
        0: """
            io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr
            getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr
            fremovexattr getcwd lookup_dcookie eventfd2 epoll_create1 epoll_ctl epoll_pwait dup dup3
            fcntl inotify_init1 inotify_add_watch inotify_rm_watch ioctl ioprio_set ioprio_get flock
            mknodat mkdirat unlinkat symlinkat linkat renameat umount2 mount pivot_root nfsservctl
            statfs fstatfs truncate ftruncate fallocate faccessat chdir fchdir chroot fchmod
            fchmodat fchownat fchown openat close vhangup pipe2 quotactl getdents64 lseek read write
            readv writev pread64 pwrite64 preadv pwritev sendfile pselect6 ppoll signalfd4 vmsplice
            splice tee readlinkat newfstatat fstat sync fsync fdatasync sync_file_range
            timerfd_create timerfd_settime timerfd_gettime utimensat acct capget capset personality
            exit exit_group waitid set_tid_address unshare futex set_robust_list get_robust_list
            nanosleep getitimer setitimer kexec_load init_module delete_module timer_create
            timer_gettime timer_getoverrun timer_settime timer_delete clock_settime clock_gettime
            clock_getres clock_nanosleep syslog ptrace sched_setparam sched_setscheduler
            sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity sched_yield
            sched_get_priority_max sched_get_priority_min sched_rr_get_interval restart_syscall kill
            tkill tgkill sigaltstack rt_sigsuspend rt_sigaction rt_sigprocmask rt_sigpending
            rt_sigtimedwait rt_sigqueueinfo rt_sigreturn setpriority getpriority reboot setregid
            setgid setreuid setuid setresuid getresuid setresgid getresgid setfsuid setfsgid times
            setpgid getpgid getsid setsid getgroups setgroups uname sethostname setdomainname
            getrlimit setrlimit getrusage umask prctl getcpu gettimeofday settimeofday adjtimex
            getpid getppid getuid geteuid getgid getegid gettid sysinfo mq_open mq_unlink
            mq_timedsend mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd semget
            semctl semtimedop semop shmget shmctl shmat shmdt socket socketpair bind listen accept
            connect getsockname getpeername sendto recvfrom setsockopt getsockopt shutdown sendmsg
            recvmsg readahead brk munmap mremap add_key request_key keyctl clone execve mmap
            fadvise64 swapon swapoff mprotect msync mlock munlock mlockall munlockall mincore
            madvise remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages
            rt_tgsigqueueinfo perf_event_open accept4 recvmmsg - - - - - - - - - - - - - - - - wait4
            prlimit64 fanotify_init fanotify_mark name_to_handle_at open_by_handle_at clock_adjtime
            syncfs setns sendmmsg process_vm_readv process_vm_writev kcmp finit_module sched_setattr
            sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat userfaultfd
            membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free
            statx io_pgetevents rseq kexec_file_load
        """,
        424: """
            pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
            fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd
            faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd
            landlock_create_ruleset landlock_add_rule landlock_restrict_self - process_mrelease
            futex_waitv set_mempolicy_home_node
        """,
    },
}  # fmt: skip
# Newer than those headers, the same number on every architecture.
_NEWER = {"fchmodat2": 452}


def _numbers(tables: dict[int, str]) -> dict[str, int]:
    numbers = dict(_NEWER)
    for first, names in tables.items():
        for offset, name in enumerate(names.split()):
            if name != "-":
                numbers[name] = first + offset
    return numbers


# Per architecture: system call name -> number.
NUMBERS: dict[str, dict[str, int]] = {arch: _numbers(t) for arch, t in _TABLES.items()}
KNOWN: frozenset[str] = frozenset().union(*NUMBERS.values())


def widening_problem(names: Iterable[str]) -> str | None:
    """Why a policy may not add `names` to the allowlist; None when it may."""
    for name in names:
        if name in REFUSED or name in FALLBACK:
            return f"{name!r} is refused to every sandboxed cell: it reaches outside the worker"
        if name in FILTERED:
            return f"{name!r} is allowed already, with an argument filter a policy cannot lift"
        if name not in KNOWN:
            return f"{name!r} is not a system call of x86_64 or aarch64"
    return None
