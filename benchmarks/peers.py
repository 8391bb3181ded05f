"""A generated project beside its peers: FastAPI + pydantic, and FastStream, in one run.

Run from the repository root (network: PyPI only):

    uv run python benchmarks/peers.py [--quick] [--keep DIR]

It renders a project with non-default answers (Acme Orders, package acme_orders,
command acme, example cells on), `uv sync`s it, installs the peers from PyPI into
that project's .venv (`uv pip install fastapi pydantic faststream[nats]`), then
measures with the project's Python. The project's own benchmark modules
(benchmarks/gateway.py, bus.py, report.py) are imported, not copied: the same
contract, apps, keep-alive load client, counters, nats-server and rows.

Gateway (each app in its own uvicorn process: uvloop, httptools, 1 worker; the
load from this process, 32 keep-alive connections, interleaved rounds):
  - the gateway with every layer on, a public command that decodes a small JSON
    body into the contract and replies (no events), against the bare
    Starlette + msgspec route (target >= 0.5x) and against FastAPI + pydantic
    serving the same route with the same contract (target >= 1.5x);
  - the example cell's POST /orders (SQLite, outbox, the event chain to payments
    and back) beside the gateway, with no target.
Bus (same messages: Ping -> Pong round trips, Tick events counted by a handler):
  - in memory: the bus's MemoryTransport against FastStream's TestNatsBroker
    (its in-memory test broker) doing request/reply and publish -> subscriber;
  - on NATS (one nats-server with JetStream, started here): the bus's
    NatsTransport against FastStream's NatsBroker, request/reply over core NATS
    and events published to JetStream (acknowledged) and consumed by a durable
    pull subscriber that acknowledges after the handler, like the bus.
  Target for each: the project at least as fast as FastStream (1.0x).

Every row prints both medians, the ratio, its target and a verdict computed from
the numbers. Nothing here asserts: machines are noisy, compare within one run.
"""

import argparse
import asyncio
import contextlib
import functools
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
BIN = Path(sys.executable).parent
ANSWERS = {
    "project_name": "Acme Orders",
    "package_name": "acme_orders",
    "command_name": "acme",
    "example_cells": "true",
}
PEERS = ("fastapi", "pydantic", "faststream[nats]")
GATEWAY_TARGETS = {"bare": 0.5, "fastapi": 1.5}
BUS_TARGET = 1.0
START_LIMIT = 30.0
SETTLE_LIMIT = 15.0  # seconds to wait for a server to go idle after a round


# -- the orchestrator: render, install, run the measurements in the project ------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a smoke run)")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="render into DIR and keep it (default: a temp dir)"
    )
    arguments = parser.parse_args()
    if arguments.keep and arguments.keep.exists() and any(arguments.keep.iterdir()):
        parser.error(f"--keep {arguments.keep}: exists and is not empty; name a new directory")
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT"}}
    env.pop("MONOCELL_SKIP_LOCK", None)  # the project needs its uv.lock
    work = Path(tempfile.mkdtemp(prefix="monocell-peers-"))
    project = arguments.keep.resolve() if arguments.keep else work / "project"
    started = time.perf_counter()
    try:
        data = [item for name, value in ANSWERS.items() for item in ("--data", f"{name}={value}")]
        step([str(BIN / "copier"), "copy", "--trust", "--defaults", "--quiet", *data,
              str(TEMPLATE), str(project)], work, env)  # fmt: skip
        step(["uv", "sync", "--locked", "--quiet"], project, env)
        python = project / ".venv" / "bin" / "python"
        step(["uv", "pip", "install", "--quiet", "--python", str(python), *PEERS], project, env)
        versions = step(
            [str(python), "-c", "import importlib.metadata as m; print(', '.join("
             "f'{n} {m.version(n)}' for n in ('fastapi', 'pydantic', 'faststream', "
             "'starlette', 'msgspec', 'nats-py', 'uvicorn')))"], project, env)  # fmt: skip
        print(
            f"rendered {ANSWERS['project_name']} (package {ANSWERS['package_name']}, "
            f"example cells on); with {versions.strip()}",
            flush=True,
        )
        inside = {
            **env,
            "PYTHONPATH": str(project / "benchmarks"),
            "PEERS_PACKAGE": ANSWERS["package_name"],
        }
        command = [str(python), str(Path(__file__).resolve()), "measure"]
        measured = subprocess.run(  # noqa: S603 (the project's Python, this file)
            [*command, *(["--quick"] if arguments.quick else [])],
            cwd=project,
            env=inside,
            check=False,
        )
        print(f"\npeers benchmark took {time.perf_counter() - started:.0f} s")
        return measured.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


def step(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


# -- inside the project: its Python, its benchmark modules on the path ------------------


def package(module: str) -> Any:
    """A module of the rendered project's package (its name comes from the orchestrator)."""
    return importlib.import_module(f"{os.environ['PEERS_PACKAGE']}.{module}")


def measure(quick: bool) -> None:
    from verdicts import print_verdicts

    print_verdicts("gateway (uvicorn + uvloop + httptools, 1 worker, 32 connections)",
                   measure_gateway(quick), "req/s")  # fmt: skip
    print_verdicts(
        "bus (same messages, interleaved rounds)", asyncio.run(measure_bus(quick)), "msg/s"
    )


# -- gateway ----------------------------------------------------------------------------


def fastapi_app() -> Any:
    """FastAPI + pydantic serving the gateway benchmark's route: same contract, same reply."""
    from typing import Annotated

    import gateway
    from fastapi import FastAPI
    from pydantic import BaseModel, ConfigDict, Field

    class Place(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")  # like msgspec's strict decode
        # pydantic's regex engine (Rust) ends a match at the end of text with `$`, like `\Z`.
        sku: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
        quantity: Annotated[int, Field(ge=1, le=1000)]

    class Accepted(BaseModel):
        order_id: str
        status: str
        amount_cents: int

    app = FastAPI()

    @app.post("/orders")
    async def orders(command: Place) -> Accepted:
        reply = gateway.accept(gateway.Place(sku=command.sku, quantity=command.quantity))
        return Accepted(
            order_id=reply.order_id, status=reply.status, amount_cents=reply.amount_cents
        )

    return app


def orders_app(data_dir: Path) -> Any:
    """The example cells' gateway (orders, payments; SQLite in `data_dir`) as `serve` runs it."""
    import gateway

    cells = tuple(cell for cell in package("app").CELLS if cell.name in {"orders", "payments"})
    topology = package("kernel.devtools.testing").with_data_dir(
        package("kernel.config.topology").parse_topology("", environ={}), data_dir
    )
    asyncio.run(package("kernel.devtools.testing").migrate_all(topology, cells))
    gateway.configure_logging("INFO")
    return gateway.build_app(
        gateway.SETTINGS, cells, connect=lambda: gateway.running(topology, cells)
    )


def serve(kind: str, port: int) -> None:
    """A server process: the project's gateway or bare route, FastAPI, or the orders route."""
    import gateway
    import uvicorn

    if kind in {"gateway", "bare"}:
        gateway.serve(kind, port)
        return
    if kind == "orders":
        options = gateway.uvicorn_options(gateway.SETTINGS, drain_timeout=0)
        options.update(host="127.0.0.1", port=port, workers=1)
        with tempfile.TemporaryDirectory() as data_dir:
            uvicorn.Server(uvicorn.Config(orders_app(Path(data_dir)), **options)).run()
        return
    # FastAPI: the options gateway.serve gives the bare route.
    config = uvicorn.Config(
        fastapi_app(),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
    )
    uvicorn.Server(config).run()


@contextlib.contextmanager
def server(kind: str) -> Iterator[tuple[int, int]]:
    """A server process for `kind`, answering on a free port: (port, pid); stopped at the end."""
    import gateway

    port = gateway.free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(  # noqa: S603 (this file, run by this Python, fixed arguments)
        [sys.executable, str(Path(__file__).resolve()), "serve", kind, str(port)],
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + START_LIMIT
        while True:
            with contextlib.suppress(OSError):
                gateway.socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"{kind} server did not start:\n{output}")
            time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def settle(pid: int) -> None:
    """Wait until a server stops using the CPU (orders keep handling their events after
    the load stops), so that its leftovers do not slow the next app measured."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():  # not Linux: a fixed pause instead
        time.sleep(1.0)
        return

    def ticks() -> int:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks

    deadline = time.monotonic() + SETTLE_LIMIT
    last = ticks()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = ticks()
        if now - last <= 1:
            return
        last = now


def measure_gateway(quick: bool) -> list[Any]:
    import gateway
    import uvloop
    from report import Row

    rounds, seconds = (2, 0.5) if quick else (5, 3.0)
    kinds = ("bare", "gateway", "fastapi", "orders")
    per_request: dict[str, list[float]] = {kind: [] for kind in kinds}
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(server(kind)) for kind in kinds}
        for port, pid in servers.values():  # warm up every app before measuring
            uvloop.run(gateway.load(port, 0.5))
            settle(pid)
        for _ in range(rounds):  # interleaved, so a busy moment hits all alike
            for kind, (port, pid) in servers.items():
                rate, _ = uvloop.run(gateway.load(port, seconds))
                per_request[kind].append(1 / rate)
                settle(pid)
    bare = Row("bare Starlette + msgspec route", tuple(per_request["bare"]), "rate")
    fastapi = Row("FastAPI + pydantic", tuple(per_request["fastapi"]), "rate")
    mine = tuple(per_request["gateway"])
    gateway_row = Row("gateway, every layer", mine, "rate")
    return [
        Row("gateway, every layer", mine, "rate", bare, GATEWAY_TARGETS["bare"]),
        Row("gateway, every layer", mine, "rate", fastapi, GATEWAY_TARGETS["fastapi"]),
        Row("POST /orders, event chain", tuple(per_request["orders"]), "rate", gateway_row),
    ]


# -- bus --------------------------------------------------------------------------------


@functools.cache
def faststream_messages() -> tuple[Any, Any, Any]:
    """Ping, Pong and Tick as pydantic models: the fields of the bus benchmark's messages."""
    from pydantic import BaseModel

    class Ping(BaseModel):
        n: int

    class Pong(BaseModel):
        n: int

    class Tick(BaseModel):
        n: int

    return Ping, Pong, Tick


def faststream_broker(url: str, stream: str, counter: Any) -> Any:
    """A FastStream NatsBroker answering Ping with Pong and counting Ticks from JetStream."""
    from faststream.nats import JStream, NatsBroker, PullSub

    ping_model, pong_model, tick_model = faststream_messages()
    broker = NatsBroker(url, logger=None)  # the bus writes no line per message either

    @broker.subscriber(f"{stream}.ping")
    async def ping(command: ping_model) -> pong_model:  # type: ignore[valid-type]
        return pong_model(n=command.n)

    @broker.subscriber(
        f"{stream}.ticks",
        stream=JStream(stream, subjects=[f"{stream}.ticks"]),
        durable="faststream",
        pull_sub=PullSub(batch_size=64),  # the bus fetches 64 ahead by default
    )
    async def tick(event: tick_model) -> None:  # type: ignore[valid-type]
        counter.hit()

    return broker


async def measure_bus(quick: bool) -> list[Any]:
    import bus
    from faststream.nats import TestNatsBroker

    rounds, calls, events = (2, 300, 300) if quick else (7, 3000, 3000)
    rows = []

    # In memory: the bus's MemoryTransport, FastStream's test broker.
    counters = {"bus": bus.Counter(), "faststream": bus.Counter()}
    broker = faststream_broker("nats://127.0.0.1:1", "mem", counters["faststream"])
    ping_model, _, tick_model = faststream_messages()
    async with (
        bus.Bus(bus.MemoryTransport(bus.DeliveryPolicy(concurrency=1))) as memory,
        TestNatsBroker(broker) as test_broker,
    ):
        await memory.register(bus.bench_cell(counters["bus"]))

        async def bus_send(count: int) -> None:
            for n in range(count):
                await memory.send(bus.Ping(n=n))

        async def faststream_request(count: int) -> None:
            for n in range(count):
                await (await test_broker.request(ping_model(n=n), "mem.ping")).decode()

        async def bus_publish(count: int) -> None:
            counters["bus"].expect(count)
            for n in range(count):
                await memory.publish(bus.Tick(n=n))
            await counters["bus"].wait()

        async def faststream_publish(count: int) -> None:
            counters["faststream"].expect(count)
            for n in range(count):
                await test_broker.publish(tick_model(n=n), "mem.ticks", stream="mem")
            await counters["faststream"].wait()

        rows += await side_by_side(
            ("memory bus send round trip", "FastStream TestBroker request"),
            ("memory bus events (publish -> handled)", "FastStream TestBroker publish"),
            {"bus": bus_send, "faststream": faststream_request},
            {"bus": bus_publish, "faststream": faststream_publish},
            (calls, events, rounds),
        )

    # On NATS: one nats-server, the bus's NatsTransport and FastStream's NatsBroker.
    with bus.nats_server() as url:
        counters = {"bus": bus.Counter(), "faststream": bus.Counter()}
        stream = f"FS{time.monotonic_ns()}"
        broker = faststream_broker(url, stream, counters["faststream"])
        transport = bus.NatsTransport(
            url, namespace=f"bench{time.monotonic_ns()}", provision="auto"
        )
        async with bus.Bus(transport) as nats_bus, broker:
            await broker.start()
            await nats_bus.register(bus.bench_cell(counters["bus"]))

            async def nats_send(count: int) -> None:
                for n in range(count):
                    await nats_bus.send(bus.Ping(n=n))

            async def nats_request(count: int) -> None:
                for n in range(count):
                    reply = await broker.request(ping_model(n=n), f"{stream}.ping", timeout=5)
                    await reply.decode()

            async def nats_publish(count: int) -> None:
                counters["bus"].expect(count)
                await bus.in_windows(count, lambda n: nats_bus.publish(bus.Tick(n=n)))
                await counters["bus"].wait()

            async def stream_publish(count: int) -> None:
                counters["faststream"].expect(count)
                # The bus waits up to 5 s for JetStream's ack; FastStream's default is
                # 0.5 s, which a window of publishes on a busy 2-core machine can pass.
                await bus.in_windows(
                    count,
                    lambda n: broker.publish(
                        tick_model(n=n), f"{stream}.ticks", stream=stream, timeout=5.0
                    ),
                )
                await counters["faststream"].wait()

            rows += await side_by_side(
                ("NATS bus send round trip", "FastStream NatsBroker request"),
                (
                    "NATS bus events (publish -> handled -> ack)",
                    "FastStream NatsBroker JetStream events",
                ),
                {"bus": nats_send, "faststream": nats_request},
                {"bus": nats_publish, "faststream": stream_publish},
                (max(calls // 5, 20), events, rounds),  # a NATS round trip costs ~5x
            )
    return rows


async def side_by_side(
    calls: tuple[str, str],
    events: tuple[str, str],
    call_runs: dict[str, Any],
    event_runs: dict[str, Any],
    counts: tuple[int, int, int],
) -> list[Any]:
    """The bus's round trips and events, each against FastStream's, in interleaved rounds."""
    from report import Row, interleaved  # the rendered project's (see `measure_bus`)

    call_count, event_count, rounds = counts
    calls_taken = await interleaved(call_runs, call_count, rounds)
    events_taken = await interleaved(event_runs, event_count, rounds)
    theirs_calls = Row(calls[1], calls_taken["faststream"])
    theirs_events = Row(events[1], events_taken["faststream"], "rate")
    return [
        Row(calls[0], calls_taken["bus"], "time", theirs_calls, BUS_TARGET),
        Row(events[0], events_taken["bus"], "rate", theirs_events, BUS_TARGET),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["measure"]:
        measure(quick="--quick" in sys.argv[2:])
    else:
        sys.exit(main())
