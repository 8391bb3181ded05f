# Owned by the monocell template: `copier update` replaces this file.
"""The zygote: one clean process per pool that has the worker's modules imported
and forks a worker from itself on each request (reused workers only: fresh
ones keep an exec each, see `pool.SandboxPool._start_process`).

A worker's start was mostly its imports (asyncio, msgspec, the kernel: ~60 of
~80 ms); forked from the zygote, a worker starts with them done and only
restricts itself and loads its cell. The zygote is started the way a worker
was (`python -I` with an empty environment, cwd /, its own session), so a
worker inherits no secret from the service: not its environment (nor
/proc/self/environ), not its memory. The service itself cannot be the one to
fork: it holds secrets and threads.

Hand-written rather than multiprocessing's forkserver: that one starts from the
service's environment, unpickles what it is sent, and runs a Python target
where a worker needs its pipes on stdin/stdout and a JSON `Setup`.

Over the control socket (stdin of the zygote, SOCK_SEQPACKET: one message a
datagram), the pool sends a `Setup` with the worker's two pipe ends attached
(SCM_RIGHTS); the zygote forks and answers `forked` with the pid or `error`,
and reports each worker's exit status (`exited`): only it can reap them. It
exits when the pool closes the socket, and dies with the service
(PR_SET_PDEATHSIG); its workers die with it (theirs, set by the `process`
layer). Workers share the zygote's hash seed (they are forks of one
interpreter); `random` is reseeded in each.
"""

import asyncio
import contextlib
import importlib
import logging
import os
import selectors
import signal
import socket
import stat
import sys
from collections import deque
from dataclasses import dataclass, field

import msgspec

from .frames import Setup
from .layers import die_with_parent
from .linux import name_process
from .pipes import Pipes, connect, new_pipes
from .worker import close_inherited

ZYGOTE_MODULE = f"{__package__}.zygote"
MAX_MESSAGE = 1 << 20  # bytes of one control message (a Setup is a few kilobytes)
MAX_LOGGED_LINE = 2000  # characters of one line of the zygote's stderr in the service's log
logger = logging.getLogger(__name__)


class Report(msgspec.Struct, frozen=True):
    """What the zygote tells the pool: ready, forked, error or exited."""

    kind: str
    pid: int = 0
    code: int = 0  # for `exited`: the exit status, or minus the signal that killed it
    error: str = ""


# -- the pool's side ---------------------------------------------------------------


@dataclass(eq=False)
class ForkedProcess:
    """A worker forked by the zygote, as the pool uses an asyncio subprocess."""

    pid: int
    returncode: int | None = None
    _exited: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None  # noqa: S101 - set before the event
        return self.returncode

    def exited(self, code: int) -> None:
        self.returncode = code
        self._exited.set()


@dataclass(eq=False)
class Zygote:
    """The pool's handle on its zygote (see the module docstring)."""

    modules: list[str]  # imported once, before any fork
    process: asyncio.subprocess.Process | None = None
    _control: socket.socket | None = None
    _replies: deque[asyncio.Future[Report]] = field(default_factory=deque)
    _workers: dict[int, ForkedProcess] = field(default_factory=dict)
    # Exits reported before `fork` had connected the worker (one that died at once).
    _early_exits: dict[int, int] = field(default_factory=dict)
    _connecting: set[int] = field(default_factory=set)  # forked, not yet connected by `fork`
    _listener: asyncio.Task[None] | None = None
    _stderr_reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._listener is not None and not self._listener.done()

    async def start(self, within: float) -> None:
        """Start the zygote and wait until it has imported its modules; raise OSError."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-m", ZYGOTE_MODULE,
                msgspec.json.encode(self.modules).decode(), str(os.getpid()),
                stdin=theirs.fileno(), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, env={}, cwd="/", start_new_session=True,
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._control = ours
        ready: asyncio.Future[Report] = asyncio.get_running_loop().create_future()
        self._replies.append(ready)
        self._listener = asyncio.create_task(self._listen())
        try:
            async with asyncio.timeout(within):
                await ready
        except (TimeoutError, ConnectionError) as error:
            reason = await self._failure(error)
            await self.close()
            raise OSError(f"the zygote did not start: {reason}") from None
        self._stderr_reader = asyncio.create_task(self._log_stderr())

    async def _log_stderr(self) -> None:
        """What the zygote writes to stderr later (a warning, its dying traceback) goes to
        the service's log; unread, a full pipe would stop the zygote, and every start."""
        assert self.process is not None  # noqa: S101 - started
        assert self.process.stderr is not None  # noqa: S101 - piped
        pid = self.process.pid
        while True:
            try:
                line = await self.process.stderr.readline()
            except ValueError:  # over the reader's limit (64 KiB): dropped by the reader
                logger.warning("sandbox zygote %d: a line too long to log", pid)
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()[:MAX_LOGGED_LINE]
            if text:
                logger.warning("sandbox zygote %d: %s", pid, text)

    async def fork(self, setup: Setup) -> tuple[ForkedProcess, Pipes]:
        """A new worker with `setup`, and its pipes; raise OSError when none starts."""
        if self._control is None or not self.alive:
            raise ConnectionError("the zygote is gone")
        reply: asyncio.Future[Report] = asyncio.get_running_loop().create_future()
        message = [msgspec.json.encode(setup)]
        with new_pipes() as ends:
            given = [ends.worker_calls, ends.worker_outcomes]
            while True:
                try:
                    socket.send_fds(self._control, message, given)
                    break
                except BlockingIOError:  # a burst of starts filled the socket: it drains
                    await asyncio.sleep(0.005)
            self._replies.append(reply)  # after the send: no reply comes for a failed one
            answer = await reply
            if answer.kind != "forked":
                raise OSError(answer.error or "the zygote broke the protocol")
        try:
            pipes = await connect(ends.calls, ends.outcomes)
        except BaseException:  # cancelled or failed: nobody will use this worker
            kill_group(answer.pid)
            self._early_exits.pop(answer.pid, None)
            raise
        finally:
            self._connecting.discard(answer.pid)
        process = ForkedProcess(answer.pid)
        if (code := self._early_exits.pop(answer.pid, None)) is not None:
            process.exited(code)
        else:
            self._workers[answer.pid] = process
        return process, pipes

    async def close(self) -> None:
        """Stop the zygote (its workers die with it) and wait for it; what it wrote to
        stderr on its way out is logged."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._control is not None:
            self._control.close()  # end of input: the zygote returns
        self._lost()
        if self.process is not None and self.process.returncode is None:
            try:
                async with asyncio.timeout(5.0):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._stderr_reader is not None:  # it ends at the end of the zygote's stderr
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stderr_reader, 1.0)

    async def _listen(self) -> None:
        assert self._control is not None  # noqa: S101 - set by `start`
        loop = asyncio.get_running_loop()
        try:
            while data := await loop.sock_recv(self._control, MAX_MESSAGE):
                report = msgspec.json.decode(data, type=Report)
                if report.kind == "exited":
                    if (worker := self._workers.pop(report.pid, None)) is not None:
                        worker.exited(report.code)
                    elif report.pid in self._connecting:
                        self._early_exits[report.pid] = report.code
                elif self._replies:
                    waiting = self._replies.popleft()
                    if not waiting.done():
                        waiting.set_result(report)
                        if report.kind == "forked":
                            self._connecting.add(report.pid)
                    elif report.kind == "forked":  # its caller gave up: nobody will use it
                        kill_group(report.pid)
        except (OSError, msgspec.DecodeError):
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        """The zygote is gone: fail what waits on it; its workers die (their death
        signal), and are killed here too in case one had not yet armed it."""
        while self._replies:
            waiting = self._replies.popleft()
            if not waiting.done():
                waiting.set_exception(ConnectionError("the zygote exited"))
        for pid, worker in list(self._workers.items()):
            kill_group(pid)
            worker.exited(-signal.SIGKILL)
        self._workers.clear()

    async def _failure(self, error: BaseException) -> str:
        """Why the zygote did not say it was ready: its last line of stderr, or its status."""
        if isinstance(error, TimeoutError):
            return "no answer in time"
        assert self.process is not None  # noqa: S101 - started
        assert self.process.stderr is not None  # noqa: S101 - piped
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                lines = (await self.process.stderr.read(4000)).decode(errors="replace").split("\n")
                code = await self.process.wait()
                last = next((line for line in reversed(lines) if line.strip()), "")
                return last.strip() or f"exited with status {code}"
        return "it closed its socket"


def kill_group(pid: int) -> None:
    """SIGKILL a worker's process group, and the worker itself (before its setsid, or
    if it left the group). Call it only for a worker not yet reaped (its pid cannot
    have been reused then); one already gone, or another uid's, is left alone."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


# -- the zygote's side -------------------------------------------------------------


def main() -> None:
    """`python -m` entry, for a pool only: the modules (JSON) and the service's pid as
    arguments, the control socket on stdin."""
    try:
        modules = msgspec.json.decode(sys.argv[1].encode(), type=list[str])
        parent = int(sys.argv[2])
        if len(sys.argv) != 3 or not stat.S_ISSOCK(os.fstat(0).st_mode):
            raise ValueError
    except (IndexError, ValueError, msgspec.DecodeError, OSError):
        usage = f"usage: python -I -m {ZYGOTE_MODULE} MODULES_JSON SERVICE_PID"
        print(f"{usage}, a control socket on stdin (a sandbox pool starts it)", file=sys.stderr)
        sys.exit(2)
    die_with_parent(parent)
    name_process("sbx-zygote")
    close_inherited(keep={0, 1, 2})  # uvloop ignores close_fds: not the gateway's socket
    for module in modules:  # the point of the zygote: every worker forks with these done
        importlib.import_module(module)
    control = socket.socket(fileno=0)
    control.send(msgspec.json.encode(Report("ready", pid=os.getpid())))
    _serve(control)


def _serve(control: socket.socket) -> None:
    """Fork a worker for each Setup received; report exits; return at end of input."""
    wake_in, wake_out = os.pipe()
    os.set_blocking(wake_out, False)
    signal.set_wakeup_fd(wake_out, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: set[int] = set()
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_in, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fd == wake_in:
                os.read(wake_in, 4096)
                _reap(control, children)
                continue
            data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 2)
            if not data:  # the pool is done: kill and reap every worker (no init may reap them)
                for pid in children:
                    kill_group(pid)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                return
            control.send(msgspec.json.encode(_fork(data, fds, children)))


def _fork(data: bytes, fds: list[int], children: set[int]) -> Report:
    try:
        if len(fds) != 2:
            return Report("error", error=f"expected 2 pipe ends, got {len(fds)}")
        try:
            setup = msgspec.json.decode(data, type=Setup)
        except msgspec.DecodeError as error:
            return Report("error", error=f"bad setup: {error}")
        setup = msgspec.structs.replace(setup, parent_pid=os.getpid())
        try:
            pid = os.fork()
        except OSError as error:
            return Report("error", error=error.strerror or type(error).__name__)
        if pid == 0:
            _become_worker(setup, fds[0], fds[1])
        children.add(pid)
        return Report("forked", pid=pid)
    finally:
        for fd in fds:
            os.close(fd)


def _become_worker(setup: Setup, calls: int, outcomes: int) -> None:
    """In the forked child: what `create_subprocess_exec` gave a worker, then its main."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # a group of its own, which the pool kills
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(calls, 0)
        os.dup2(outcomes, 1)
        os.dup2(null, 2)
        os.chdir(setup.scratch)
        from .worker import run  # imported before the fork, with the zygote's modules

        run(setup)
        code = 0
    finally:
        os._exit(code)


def _reap(control: socket.socket, children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            control.send(msgspec.json.encode(Report("exited", pid=pid, code=code)))


if __name__ == "__main__":
    main()
