# Owned by the monocell template: `copier update` replaces this file.
"""The parent side: a pool of pre-forked, restricted workers serving one cell.

    pool = SandboxPool("calculator", Target("<package>.app", "calculator"), policy)
    await pool.start()          # raises SandboxRefusedError below policy.min_level
    outcome = await pool.call("command", "calculator.Evaluate.v1", data, correlation_id)
    await pool.close()

Reused workers are forked from the pool's zygote (see `zygote`), which
imported their modules once; fresh ones are exec'd (see `_start_process`).
Each call takes an idle worker (so at most `pool_size` calls run at once) and
must finish within `policy.timeout`; past it, or when the caller gives up, the
worker's whole process group is killed. A worker that died, was killed, or
served `recycle_after` calls is replaced by a fresh one in the background; one
that dies between calls (the kernel's OOM killer, its zygote gone) is replaced
as soon as its exit is reported, so the next caller does not meet it (a call
that took it just before fails, as before). Workers that die before their
first call, one after another, are replaced with the backoff of failed starts.
With `policy.fresh_worker_per_call`, no worker serves two calls: each is
killed as soon as its call is done and its successor starts then (after the
reply, not when the call begins: a start's fork and imports would slow the
call in flight). The `pool_size` idle workers are the ready spares.
Failures reach the caller as `kernel.core.errors` types: `DeadlineExceededError`,
`HandlerFailedError` (a crash; the details go to this process's log),
`RejectedError` as the handler raised it, `UnavailableError` when no worker
can be started.
"""

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..bus.handler_deadline import Deadlines
from ..config.sandbox_policy import SandboxPolicy, level_name
from ..config.topology import TopologyError
from ..core.errors import (
    BusError,
    DeadlineExceededError,
    HandlerFailedError,
    SerializationError,
    UnavailableError,
    error_for,
)
from ..core.principal import ANONYMOUS, Principal
from .frames import (
    FRAME_MARGIN,
    MAX_FRAME,
    Answer,
    Call,
    CallKind,
    Hello,
    Layer,
    Outcome,
    Send,
    Setup,
    Target,
    pack,
    unpack,
)
from .pipes import Pipes, connect, new_pipes
from .scratch import make_scratch
from .uids import NOBODY, pool_uid, release
from .worker import STORAGE
from .zygote import ForkedProcess, Zygote, kill_group

WORKER_MODULE = f"{__package__}.worker"
START_TIMEOUT = 30.0  # seconds for a worker to restrict itself and say hello
# What a worker's outcome may carry, checked in the parent (see `_as_error`).
MAX_EVENTS_PER_CALL = 1000
MAX_DETAIL = 2000  # characters of an error's detail, as callers see it
MAX_FAILURE_LOG = 4000  # characters of a failure's traceback in the service's log
REASON = re.compile(r"[a-z][a-z0-9_]{0,63}")
RESPAWN_BACKOFF = (0.1, 30.0)  # seconds: first wait after a failed start, and the longest
REAP_TIMEOUT = 5.0  # seconds for a killed worker to be reaped
# CPU seconds a reused worker may use between its calls (finishing the last one's
# writes); more means a thread of a handler kept running after its call returned.
IDLE_CPU_ALLOWANCE = 0.05
# A wait shorter than this cannot hold the allowance even with every CPU busy, so
# its CPU clock is not read (a read is a system call: ~1 us of a warm call's ~30).
SHORTEST_CHECKED_WAIT = IDLE_CPU_ALLOWANCE / (os.cpu_count() or 1)
logger = logging.getLogger(__name__)

# A worker's process: forked by the pool's zygote, or exec'd (see `_start_process`).
WorkerProcess = ForkedProcess | asyncio.subprocess.Process

# Sends a handler's command for it and answers; see `frames.Send`.
Sender = Callable[[Send], Awaitable[Answer]]


class SandboxRefusedError(TopologyError):
    """The sandbox cannot give a cell the isolation topology.toml requires; one line."""


def cpu_clock(pid: int) -> int | None:
    """The id of a process's CPU-time clock (all its threads); None when it has none.

    Linux's `clock_getcpuclockid(pid)`, which the time module does not wrap: the
    id is the bitwise complement of the pid shifted by three, with the scheduler
    clock's bit (2) set. Reading it is one `clock_gettime` (0.2 µs) where a
    /proc/<pid>/stat read cost 2.5 µs, twice a call, and it counts nanoseconds,
    not clock ticks. Any process may read another's CPU clock. Read once here,
    so that a kernel without it (or a gVisor-like sandbox) is known at the start.
    """
    clock = (~pid << 3) | 2
    try:
        time.clock_gettime(clock)
    except OSError:
        return None
    return clock


def cpu_seconds(clock: int | None) -> float:
    """CPU time (user and system, all threads) of a live process; 0 once it is gone.

    `clock` is the process's from `cpu_clock`. Once the worker is reaped its pid
    may be reused: a read then reports another process, as harmless as the 0 of
    a dead one (the worker is retired either way, see `_fit_for_a_call`).
    """
    if clock is None:
        return 0.0
    try:
        return time.clock_gettime(clock)
    except OSError:
        return 0.0


@dataclass(eq=False)
class Worker:
    """One restricted child process and its pipes."""

    process: WorkerProcess
    pipes: Pipes
    scratch: Path
    hello: Hello | None = None
    calls: int = 0
    cpu_when_idle: float = 0.0  # its CPU seconds when it last finished a call
    idle_since: float = 0.0  # and when (time.monotonic())
    in_call: bool = False  # a call has it: that call replaces it if it dies
    retired: bool = False  # killed or dead, its successor on the way (may still be queued)
    clock: int | None = field(default=None, init=False)  # its CPU clock, dropped by `kill`

    def __post_init__(self) -> None:
        self.clock = cpu_clock(self.process.pid)
        if self.clock is None:
            logger.warning("sandbox: worker %d: no CPU clock; idle CPU unchecked", self.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read_frame(self) -> Hello | Outcome | Send:
        frame = unpack(await self.pipes.next_frame())
        if isinstance(frame, Call | Answer):
            raise ConnectionError(f"the worker sent a frame only the service sends ({frame!r:.80})")
        return frame

    async def write_frame(self, frame: Call | Answer) -> None:
        await self.pipes.write(pack(frame))

    async def kill(self) -> None:
        """Kill the worker's process group, reap it and remove its scratch directory."""
        self.clock = None  # no CPU time is read from a worker being killed
        self.pipes.close()  # what it wrote last is of no use
        if self.process.returncode is None:
            self.signal_kill()
            try:
                async with asyncio.timeout(REAP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:  # not reaped yet (a loaded machine); its watcher does it later
                logger.error("sandbox: worker %d was not reaped after SIGKILL", self.pid)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def signal_kill(self) -> None:
        """SIGKILL the worker's group at once; `kill` reaps it."""
        if self.process.returncode is None:
            # Not Process.kill: that polls, and reaping here would steal the exit
            # status from asyncio's child watcher (or the zygote's, see `zygote`).
            kill_group(self.process.pid)


class IdleWorkers:
    """A pool's idle workers, first in first out, and the calls waiting for one.

    What `asyncio.Queue` does, without what it does besides (counting unfinished
    tasks, an event cleared on every put): its put and get were 1 us of a warm
    call's ~16 (benchmarks/sandbox.py).
    """

    def __init__(self) -> None:
        self._workers: deque[Worker] = deque()
        self._waiting: deque[asyncio.Future[Worker]] = deque()

    def put(self, worker: Worker) -> None:
        """Hand `worker` to the call waiting longest, or keep it for the next."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # not given up (cancelled) meanwhile
                waiter.set_result(worker)
                return
        self._workers.append(worker)

    async def get(self) -> Worker:
        if self._workers:
            return self._workers.popleft()
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed one as it was cancelled
                self.put(waiter.result())
            elif waiter in self._waiting:  # not left behind for the next put to skip
                self._waiting.remove(waiter)
            raise


def allowlist(extra: list[str]) -> list[str]:
    """What a worker may read: Python, the environment, the project's code, system libraries."""
    package_root = Path(__file__).resolve().parents[3]  # src/ (or site-packages)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {str(package_root), *extra, *map(str, Path(sys.executable).parents[:1])}
    paths |= {"/usr/lib", "/usr/lib64", "/lib", "/lib64", "/etc/ld.so.cache"}
    return sorted(paths)


@dataclass(eq=False)
class SandboxPool:
    """Pre-forked restricted workers for one cell (see the module docstring)."""

    name: str
    target: Target
    policy: SandboxPolicy
    import_paths: list[str] = field(default_factory=list)
    # The cell's own SQLite database, opened by each worker (empty: no storage).
    database: str = ""
    data_dir: str = ""
    source: str = ""
    hello: Hello | None = None  # what the latest worker reported: its layers and level
    problem: str | None = None  # why the pool cannot serve, for /readyz
    _idle: IdleWorkers = field(default_factory=IdleWorkers)
    _workers: set[Worker] = field(default_factory=set)  # started and not yet reaped
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _closed: bool = False
    _zygote: Zygote | None = None  # forks the workers (see `zygote`); started on demand
    _zygote_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _uid: int = NOBODY  # its workers' uid when root starts them (see `uids`)
    _early_deaths: int = 0  # workers in a row that died idle before their first call
    # One timer for every call's deadline: `asyncio.timeout` per call cost 4.8 us on
    # uvloop, a `Deadlines.limit` 1.0 (of a warm call of ~40 us).
    _deadlines: Deadlines = field(default_factory=Deadlines)

    @property
    def fresh_workers(self) -> bool:
        """True when no worker serves two calls (see the module docstring)."""
        return self.policy.fresh_worker_per_call is True

    async def start(self) -> None:
        """Start `pool_size` workers; refuse (and stop them) below the minimum level."""
        if os.geteuid() == 0 and self._uid == NOBODY:
            self._uid = pool_uid()
        started = await asyncio.gather(
            *(self._spawn() for _ in range(self.policy.pool_size)), return_exceptions=True
        )
        failures = [error for error in started if isinstance(error, BaseException)]
        for worker in started:
            if isinstance(worker, Worker):
                self._hand_out(worker)
        if failures:
            await self.close()
            raise failures[0]

    async def call(
        self,
        kind: CallKind,
        message_type: str,
        data: bytes,
        correlation_id: str,
        sender: Sender | None = None,
        *,
        message_id: str = "",
        idempotency_key: str = "",
        traceparent: str = "",
        deadline: float | None = None,
        principal: Principal = ANONYMOUS,
    ) -> Outcome:
        """Run one message in a worker; raise a `kernel.core.errors` type on failure.

        `sender` answers the commands the handler sends while it runs; without
        one, each is refused. The call's deadline covers those sends too.
        """
        if self._closed:
            raise UnavailableError(f"sandbox {self.name}: closed")
        if not self._workers and self.problem:
            raise UnavailableError(f"sandbox {self.name}: {self.problem}")
        if len(data) > MAX_FRAME - FRAME_MARGIN:
            raise SerializationError(
                f"{message_type}: {len(data)} bytes exceed the sandbox frame limit of {MAX_FRAME}"
            )
        worker = await self._idle.get()
        while not self._fit_for_a_call(worker):
            worker = await self._idle.get()
        worker.in_call = True
        call = Call(
            kind,
            message_type,
            data,
            correlation_id,
            number=worker.calls + 1,
            message_id=message_id,
            idempotency_key=idempotency_key,
            traceparent=traceparent,
            deadline=deadline,
            principal=principal.subject,
            scopes=tuple(sorted(principal.scopes)) if principal.scopes else (),
        )
        waiting_on: Send | None = None
        try:
            with self._deadlines.limit(self.policy.timeout):
                await worker.write_frame(call)
                outcome = await worker.read_frame()
                while isinstance(outcome, Send) and outcome.number == call.number:
                    waiting_on = outcome
                    await worker.write_frame(await _answer(sender, outcome))
                    waiting_on = None
                    outcome = await worker.read_frame()
        except TimeoutError:
            self._retire(worker)
            during = f" waiting for {waiting_on.message_type[:200]}" if waiting_on else ""
            raise DeadlineExceededError(
                f"{message_type}: the sandboxed handler passed its {self.policy.timeout:g} s "
                f"deadline{during}; its worker was killed"
            ) from None
        except (ConnectionError, EOFError, msgspec.DecodeError) as error:
            self._retire(worker)
            cause = await self._death(worker, error)
            logger.error("sandbox %s: worker %d failed: %s", self.name, worker.pid, cause)
            raise HandlerFailedError(
                f"{message_type}: the sandbox worker failed ({cause}); it was replaced"
            ) from None
        except BaseException:  # cancelled by the caller's deadline: the worker is mid-call
            self._retire(worker)
            raise
        if not isinstance(outcome, Outcome) or outcome.number != call.number:
            # Out of step: what it sent may belong to another call. Never pass it on.
            self._retire(worker)
            logger.error("sandbox %s: worker %d broke the protocol", self.name, worker.pid)
            raise HandlerFailedError(
                f"{message_type}: the sandbox worker broke the protocol; it was replaced"
            )
        if len(outcome.events) > MAX_EVENTS_PER_CALL:
            # The worker trims nothing the parent relies on: a forged outcome is judged here.
            self._retire(worker)
            logger.error(
                "sandbox %s: worker %d published %d events in one call (at most %d)",
                self.name,
                worker.pid,
                len(outcome.events),
                MAX_EVENTS_PER_CALL,
            )
            raise HandlerFailedError(
                f"{message_type}: the sandboxed handler published {len(outcome.events)} events "
                f"in one call, more than {MAX_EVENTS_PER_CALL}; none was published"
            )
        worker.calls += 1
        if self.fresh_workers or worker.calls >= self.policy.recycle_after:
            self._retire(worker)
        else:
            worker.idle_since = time.monotonic()  # first: the wait may only look longer
            worker.cpu_when_idle = cpu_seconds(worker.clock)
            worker.in_call = False
            self._idle.put(worker)
        if outcome.code:
            raise _as_error(self.name, outcome, call)
        return outcome

    async def close(self) -> None:
        """Stop every worker and background start."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(worker.kill() for worker in list(self._workers)))
        self._workers.clear()
        if self._zygote is not None:
            await self._zygote.close()
        release(self._uid)

    @property
    def live_workers(self) -> int:
        return len(self._workers)

    @property
    def idle_workers(self) -> int:
        """Workers started, restricted and waiting for a call (not the dead still queued)."""
        return sum(1 for w in self._workers if w.hello and not (w.in_call or w.retired))

    @property
    def zygote_pid(self) -> int | None:
        """The pid of the process the workers are forked from (see `zygote`), once started."""
        if self._zygote is None or self._zygote.process is None:
            return None
        return self._zygote.process.pid

    # -- workers -------------------------------------------------------------------

    async def _spawn(self) -> Worker:
        """Start one worker and wait for its hello; refuse it below the minimum level."""
        try:
            scratch = make_scratch(self.name)
        except OSError as error:  # a read-only root, a full disk: no worker can start
            where = f" {Path(error.filename).parent}" if error.filename else ""
            raise SandboxRefusedError(
                f"sandbox {self.name}: cannot make a scratch directory{where}: "
                f"{error.strerror or error} (set TMPDIR to a writable directory)"
            ) from None
        setup = Setup(
            target=self.target,
            policy=self.policy,
            scratch=str(scratch),
            parent_pid=os.getpid(),  # the zygote puts its own in the Setups it forks
            read_only=allowlist([*self.import_paths, *self.policy.read_paths]),
            import_paths=self.import_paths,
            database=self.database,
            data_dir=self.data_dir,
            source=self.source,
            uid=self._uid,
        )
        try:
            process, pipes = await self._start_process(setup, scratch)
        except OSError as error:  # no process at all (EAGAIN, ENOMEM, ...): no scratch left
            shutil.rmtree(scratch, ignore_errors=True)
            reason = error.strerror or str(error) or type(error).__name__
            message = f"sandbox {self.name}: cannot start a worker: {reason}"
            raise SandboxRefusedError(message) from None
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        worker = Worker(process, pipes, scratch)
        self._workers.add(worker)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                hello = await worker.read_frame()
        except (TimeoutError, ConnectionError, EOFError, msgspec.DecodeError) as error:
            cause = await self._death(worker, error)
            await self._discard(worker)
            message = f"sandbox {self.name}: worker did not start: {cause}"
            raise SandboxRefusedError(message) from None
        except BaseException:
            await self._discard(worker)
            raise
        if not isinstance(hello, Hello) or hello.error:
            await self._discard(worker)
            detail = hello.error if isinstance(hello, Hello) else "it broke the protocol"
            raise SandboxRefusedError(f"sandbox {self.name}: {detail}")
        worker.hello = self.hello = hello
        if hello.level < self.policy.min_level:
            await self._discard(worker)
            message = refusal(self.name, hello.level, hello.layers, self.policy.min_level)
            raise SandboxRefusedError(message)
        return worker

    async def _start_process(self, setup: Setup, scratch: Path) -> tuple[WorkerProcess, Pipes]:
        """A worker forked by the zygote, or, with fresh workers, exec'd of its own.

        Forked workers share the zygote's memory layout and hash seed (address
        randomisation happens at exec): an address one worker leaks holds in the
        next. A reused worker serves many calls in one layout, so a leak in one
        call and an exploit in a later one already meet within its life; fresh
        workers exist to keep calls apart, and keep an exec each.
        """
        if not self.fresh_workers:
            return await (await self._started_zygote()).fork(setup)
        with new_pipes() as ends:  # its stdin and stdout, as a forked worker's
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-m", WORKER_MODULE, msgspec.json.encode(setup).decode(),
                stdin=ends.worker_calls, stdout=ends.worker_outcomes,
                stderr=asyncio.subprocess.DEVNULL, env={}, cwd=str(scratch),
                start_new_session=True,  # its own group to kill (uvloop has no process_group)
            )  # fmt: skip
        try:
            return process, await connect(ends.calls, ends.outcomes)
        except BaseException:  # cancelled (the pool closing) or failed: nobody will use it
            kill_group(process.pid)
            # Reaped before the loop can close: left to asyncio's child watcher, its
            # exit would come after and warn that the subprocess is still running.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REAP_TIMEOUT):
                    await process.wait()
            raise

    async def _started_zygote(self) -> Zygote:
        """The pool's zygote, started anew when there is none or it died."""
        async with self._zygote_lock:
            if self._zygote is None or not self._zygote.alive:
                if self._zygote is not None:
                    await self._zygote.close()
                # Storage (SQLAlchemy) only for a cell with it, as in an exec'd worker.
                modules = [WORKER_MODULE, *([STORAGE] if self.database else [])]
                self._zygote = Zygote(modules)
                await self._zygote.start(within=START_TIMEOUT)
            return self._zygote

    def _hand_out(self, worker: Worker) -> None:
        """Queue a started worker for calls, and watch it for a death between them."""
        self._idle.put(worker)
        self._in_background(self._replace_if_it_dies_idle(worker))

    async def _replace_if_it_dies_idle(self, worker: Worker) -> None:
        """Replace a worker that dies while it has no call, as soon as it is reaped.

        Found by the next call instead, it would cost that caller a failure; a call
        in progress finds the death itself (its pipe closes) and replaces the worker.
        """
        code = await worker.process.wait()
        if worker.retired or worker.in_call or self._closed:
            return
        zygote = self._zygote
        cause = "died with its zygote" if zygote and not zygote.alive else exit_cause(code)
        # Workers that die before their first call, one after another (a cell's
        # thread that kills its process, say), are replaced with the backoff of a
        # failed start, not as fast as they die.
        self._early_deaths = 0 if worker.calls else self._early_deaths + 1
        delay = _backoff(self._early_deaths - 1) if self._early_deaths else 0.0
        logger.warning("sandbox %s: idle worker %d %s; replaced", self.name, worker.pid, cause)
        self._retire(worker, after=delay)

    def _fit_for_a_call(self, worker: Worker) -> bool:
        """False for a worker already replaced, dead, or that ran between its calls."""
        if worker.retired:  # replaced while it waited in the queue
            return False
        if worker.process.returncode is not None:  # died; its watcher has not run yet
            self._retire(worker)
            return False
        return not self._ran_between_calls(worker)

    def _ran_between_calls(self, worker: Worker) -> bool:
        """Retire a worker that used CPU while it had no call (a thread a handler left
        running: it would take CPU from the service and see the next call's input)."""
        if not worker.calls:  # no handler ran in it yet (so replacing never goes round)
            return False
        if time.monotonic() - worker.idle_since < SHORTEST_CHECKED_WAIT:
            return False
        used = cpu_seconds(worker.clock) - worker.cpu_when_idle
        if used <= IDLE_CPU_ALLOWANCE:
            return False
        logger.warning(
            "sandbox %s: worker %d used %.0f ms of CPU between calls; replaced",
            self.name,
            worker.pid,
            used * 1000,
        )
        self._retire(worker)
        return True

    def _retire(self, worker: Worker, after: float = 0.0) -> None:
        """Kill `worker` now; reap it and start its successor in the background, at once
        (the successor need not wait for the dead worker's pipes to close)."""
        worker.retired = True
        worker.signal_kill()
        self._in_background(self._discard(worker))
        self._in_background(self._respawn(after))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task of the pool's: `close` cancels what is still running."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respawn(self, after: float = 0.0) -> None:
        """Start a successor (`after` seconds from now), retrying for as long as the pool
        is open (a machine out of processes or memory recovers; giving up would leave
        the cell without workers for good). Meanwhile calls fail fast with the reason,
        and readiness says it."""
        await asyncio.sleep(after)
        attempt = 0
        while not self._closed:
            try:
                self._hand_out(await self._spawn())
                self.problem = None
                return
            except (SandboxRefusedError, OSError) as error:
                self.problem = str(error)
                logger.error("sandbox %s: cannot start a worker: %s", self.name, error)
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    async def _discard(self, worker: Worker) -> None:
        """Kill and reap `worker`; listed until reaped, so `close` reaps it if cancelled."""
        await worker.kill()
        self._workers.discard(worker)

    async def _death(self, worker: Worker, error: BaseException) -> str:
        """Why a worker stopped answering: its exit signal or status if it died."""
        try:
            async with asyncio.timeout(1.0):
                code = await worker.process.wait()
        except TimeoutError:
            return f"{type(error).__name__}: {error}"
        return exit_cause(code)


def _backoff(attempt: int) -> float:
    """Seconds to wait before start `attempt` + 2 after failures: doubling, capped."""
    first, longest = RESPAWN_BACKOFF
    return min(longest, first * 2.0 ** min(attempt, 16))


def exit_cause(code: int) -> str:
    """A worker's exit status in words: the signal that killed it, or its status."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:  # a real-time signal (a worker may signal itself): no name
        return f"killed by signal {-code}"


def refusal(cell: str, level: int, layers: Sequence[Layer], minimum: int) -> str:
    """The one-line refusal: level reached, level required, and why each missing layer is off."""
    missing = "; ".join(
        f"{layer.name} {layer.status}: {layer.detail}"
        for layer in layers
        if layer.status in ("unavailable", "failed")
    )
    return (
        f"cells.{cell}: sandbox level {level_name(level)} is below the required "
        f"minimum {level_name(minimum)}" + (f" ({missing})" if missing else "")
    )


async def _answer(sender: Sender | None, request: Send) -> Answer:
    """The answer to a worker's send: the sender's, or a refusal when there is none."""
    if sender is None:
        return Answer(code=UnavailableError.code, detail="sandbox: this call cannot send commands")
    answer = await sender(request)
    if len(answer.data) > MAX_FRAME - FRAME_MARGIN:
        return Answer(
            code=SerializationError.code,
            detail=f"{request.message_type[:200]}: the reply's {len(answer.data)} bytes exceed "
            f"the sandbox frame limit of {MAX_FRAME}",
        )
    return answer


def _as_error(cell: str, outcome: Outcome, call: Call) -> BusError:
    """The outcome's error, its texts cut to size here: a worker's own trimming counts
    for nothing when the worker is the attacker (a forged frame skips it). The failure
    is logged under the call's correlation id (the request id), as the bus logs."""
    if outcome.failure:
        logger.warning(
            "sandboxed cell %s: %s",
            cell,
            _cut(outcome.failure, MAX_FAILURE_LOG),
            extra={
                "correlation_id": call.correlation_id[:64],
                "cell": cell,
                "message_type": call.message_type[:200],
            },
        )
    reason = outcome.reason if REASON.fullmatch(outcome.reason) else "invalid_reason"
    return error_for(
        outcome.code, _cut(outcome.detail, MAX_DETAIL), reason if outcome.reason else ""
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more)"
