# Owned by the monocell template: `copier update` replaces this file.
"""Starting and stopping the bus with the cells this process hosts.

    topology = load_topology(Path("topology.toml"))
    cells = hosted_cells(topology, load_cells(), role="serve")
    async with running(topology, cells) as bus:
        ...                                   # serve until told to stop

`serve` hosts every cell not placed `remote` (those placed `sandbox` through
their worker pools, see `kernel.sandbox`); `worker` hosts the cells placed
`remote`, or the ones named on its command line. `running` opens each hosted
cell's database (refusing one that is unreachable or has migrations pending)
and its lifespan, builds the transport `[bus]` names, registers the hosted
cells inside their units of work, starts their outbox relays, and on exit
drains in-flight work before disconnecting. A topology that cannot work (a
remote cell on the memory transport, a worker without NATS, an unknown cell)
is refused before anything starts.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Literal

from ... import COMMAND_NAME
from ..bus import (
    Bus,
    MemoryTransport,
    Transport,
    jetstream,
)
from ..bus.jetstream import NatsTransport
from ..bus.nats_tls import client_context
from ..config.topology import Topology, TopologyError, check_cells
from ..core.cell import Cell, Risk
from ..gateway.health import bus_ready
from ..sandbox.placement import sandboxed
from ..sandbox.readiness import sandbox_ready
from ..storage import OutboxRelay, StoredCell, open_database, stored
from ..storage.migrations import require_up_to_date
from ..storage.readiness import storage_ready, track, untrack
from .registry import load_cells

# What `/readyz` checks in a process hosting cells (serve's, and a worker's
# health endpoint): the bus and its consumers, the sandbox pools, the databases.
READINESS = (bus_ready, sandbox_ready, storage_ready)

Role = Literal["serve", "worker"]
PACKAGE = __package__.partition(".")[0]


def hosted_cells(
    topology: Topology,
    cells: Sequence[Cell],
    *,
    role: Role,
    names: Sequence[str] = (),
    source: str = "topology.toml",
) -> tuple[Cell, ...]:
    """The cells a `role` process runs, checked against the topology and each other.

    `source` is the topology file's path, so an unknown cell's error names it.
    """
    check_cells(topology, (cell.name for cell in cells), source)
    by_name = {cell.name: cell for cell in cells}
    remote = [cell.name for cell in cells if topology.placement_of(cell.name) == "remote"]
    if role == "serve":
        if remote and topology.bus.transport == "memory":
            raise TopologyError(
                f"cells.{remote[0]}.placement: 'remote' needs [bus] transport = \"nats\""
            )
        # Everything not placed in another process runs here (a placement that only
        # changes how a cell runs locally, such as a sandbox, stays with `serve`).
        hosted = tuple(cell for cell in cells if topology.placement_of(cell.name) != "remote")
        for cell in hosted:
            if unsandboxed_high_risk(topology, cell) and not topology.allows_unsandboxed(cell.name):
                raise TopologyError(
                    f"cells.{cell.name}.placement: {cell.name!r} is high-risk and would run "
                    'unsandboxed in this process; place it "sandbox" (or set '
                    "allow_unsandboxed = true to accept the risk)"
                )
        return hosted
    if topology.bus.transport != "nats":
        raise TopologyError(
            'bus.transport: a worker process needs "nats" (set it in topology.toml '
            "or the environment)"
        )
    for name in names:
        if name not in by_name:
            raise TopologyError(
                f"worker: no cell named {name!r} (known: {', '.join(sorted(by_name)) or 'none'})"
            )
    for name in names:  # `serve` runs the others: a second host would be a second writer
        placement = topology.placement_of(name)
        if placement != "remote":
            raise TopologyError(
                f"worker: cells.{name} is placed {placement!r}, so `serve` runs it; place it "
                f'"remote" in {source} to run it in workers'
            )
    chosen = list(dict.fromkeys(names)) if names else remote
    if not chosen:
        raise TopologyError("worker: no cell placed 'remote' and none named on the command line")
    return tuple(by_name[name] for name in chosen)


def unsandboxed_high_risk(topology: Topology, cell: Cell) -> bool:
    """True for a high-risk cell that `topology` runs in the serving process itself."""
    return cell.risk == Risk.HIGH and topology.placement_of(cell.name) == "inprocess"


def build_transport(topology: Topology, hosted: Sequence[Cell] = ()) -> Transport:
    """The transport `[bus]` describes, with the delivery policy it configures.

    On NATS it checks at start the streams and the consumers of the `hosted` cells;
    with `[bus] provision = "auto"` it first provisions the consumers of every cell
    of `app.CELLS` (see `kernel.bus.jetstream`).
    """
    policy = jetstream.delivery_policy(topology.bus)
    own = jetstream.cell_policies(topology)  # [cells.<name>] concurrency, fetch_batch
    if topology.bus.transport == "nats":
        cells = load_cells() if topology.bus.provision == "auto" else hosted
        return NatsTransport(
            topology.bus.url,
            namespace=PACKAGE,
            policy=policy,
            plan=jetstream.plan_for(PACKAGE, topology.bus, cells),
            provision=topology.bus.provision,
            tls=client_context(topology.bus),
            cell_policies=own,
        )
    return MemoryTransport(policy, cell_policies=own)


@asynccontextmanager
async def running(topology: Topology, cells: Sequence[Cell]) -> AsyncIterator[Bus]:
    """A started bus with `cells` registered; drained and closed on exit.

    Each cell's database is checked first (reachable, migrations applied:
    `StorageError` otherwise), then cells placed `sandbox` get their worker
    pools: below a cell's minimum level this raises `SandboxRefusedError`
    before the bus starts.
    """
    async with AsyncExitStack() as stack:
        resources = {cell.name: await _open(stack, topology, cell) for cell in cells}
        bus = Bus(
            build_transport(topology, cells),
            default_timeout=topology.bus.timeout,
            drain_timeout=topology.bus.drain_timeout,
        )
        for held in resources.values():
            if held.database is not None:
                held.outbox = OutboxRelay(held.database, bus)
                held.relay = bus
        outboxes = {name: held.outbox for name, held in resources.items() if held.outbox}
        placed = await stack.enter_async_context(sandboxed(topology, cells, outboxes))
        await bus.start()
        try:
            for cell in placed:
                if topology.placement_of(cell.name) == "sandbox":
                    await bus.register(cell)  # its workers run the unit of work
                else:
                    await bus.register(stored(cell, resources[cell.name]))
            for outbox in outboxes.values():  # events committed before a crash go out now
                await outbox.start()
            yield bus
        finally:
            for outbox in outboxes.values():  # what is not relayed stays for the next start
                await outbox.stop()
            await bus.close()
            for outbox in outboxes.values():  # events the drain finished: their rows go
                await outbox.forget_settled()


async def check_storage(topology: Topology, cells: Sequence[Cell]) -> None:
    """Refuse, before anything starts, a cell whose database is unreachable or behind.

    For commands that check everything up front (`serve`); `running` refuses
    the same way when it opens the databases.
    """
    async with AsyncExitStack() as stack:
        for cell in cells:
            await _open(stack, topology, cell, lifespan=False)


async def _open(
    stack: AsyncExitStack, topology: Topology, cell: Cell, *, lifespan: bool = True
) -> StoredCell:
    """The cell's database (checked) and lifespan state, closed when `stack` closes."""
    held = StoredCell()
    if cell.storage is not None:
        database = open_database(cell.name, topology.storage_url_of(cell.name))
        stack.push_async_callback(database.close)
        await database.check_reachable()
        track(database)  # in /readyz from now on (see storage.readiness)
        stack.callback(untrack, database)
        await require_up_to_date(database, cell.storage, COMMAND_NAME)
        held.database = database
    if lifespan and cell.lifespan is not None:
        held.state = await stack.enter_async_context(cell.lifespan())
    return held
