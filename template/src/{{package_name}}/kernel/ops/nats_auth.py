# Owned by the monocell template: `copier update` replaces this file.
"""Least-privilege NATS accounts, derived from the registry and topology.toml.

Defense inside the perimeter: each process connects with its own user, and
the server lets it use only the subjects its cells need.

- `serve` (the gateway and the in-process cells) and one `worker_<cell>` user
  per remote cell;
- a process may publish the events its cells own (`<ns>.events.<cell>.>`),
  the commands the gateway exposes (serve only) and the commands its cells
  declare in `Cell.sends`;
- it may subscribe to (and answer) the commands its cells handle, and use
  JetStream only for its cells' durable consumers, the event streams, and
  its cells' dead letters.

So a compromised worker cannot publish an event as another cell or send a
command its cells never declared. The generated `nats-server.conf` names no
secret: passwords come from environment variables when the server starts
(`$<PKG>_NATS_<USER>_PASSWORD`), and each process puts its own in the bus URL
(`nats://<user>:<password>@host:4222`, or `tls://` with TLS).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from ..config.topology import Topology
from ..core.cell import Cell
from ..core.contracts import message_type_of


@dataclass(frozen=True)
class Account:
    """One process's user and what it may publish and subscribe to."""

    user: str
    cells: tuple[str, ...]
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def password_variable(self, package: str) -> str:
        return f"{package.upper()}_NATS_{self.user.upper()}_PASSWORD"


def _consumer_name(cell: str, message_type: str) -> str:
    return f"{cell}__{message_type.replace('.', '_')}"


def account_for(
    user: str, hosted: Sequence[Cell], namespace: str, *, gateway_commands: Sequence[str] = ()
) -> Account:
    """The permissions of a process hosting `hosted` (and the gateway, if any)."""
    events_stream = f"{namespace.upper()}_EVENTS"
    dead_letters = f"{namespace.upper()}_DEAD_LETTERS"
    publish: set[str] = {
        # JetStream: account info and the two streams the transport ensures exist.
        "$JS.API.INFO",
        f"$JS.API.STREAM.INFO.{events_stream}",
        f"$JS.API.STREAM.CREATE.{events_stream}",
        f"$JS.API.STREAM.UPDATE.{events_stream}",
        f"$JS.API.STREAM.INFO.{dead_letters}",
        f"$JS.API.STREAM.CREATE.{dead_letters}",
        f"$JS.API.STREAM.UPDATE.{dead_letters}",
        f"$JS.API.STREAM.MSG.GET.{dead_letters}",
    }
    publish.update(f"{namespace}.commands.{t}" for t in gateway_commands)
    subscribe: set[str] = {"_INBOX.>"}
    for cell in hosted:
        publish.add(f"{namespace}.events.{cell.name}.>")
        publish.add(f"{namespace}.dead_letters.{cell.name}.>")
        publish.update(f"{namespace}.commands.{message_type_of(c)}" for c in cell.sends)
        for command in cell.commands:
            subscribe.add(f"{namespace}.commands.{message_type_of(command)}")
        for event in cell.events:
            durable = _consumer_name(cell.name, message_type_of(event))
            for api in ("CREATE", "DURABLE.CREATE", "INFO", "MSG.NEXT"):
                publish.add(f"$JS.API.CONSUMER.{api}.{events_stream}.{durable}")
                publish.add(f"$JS.API.CONSUMER.{api}.{events_stream}.{durable}.>")
            publish.add(f"$JS.ACK.{events_stream}.{durable}.>")
    return Account(
        user=user,
        cells=tuple(cell.name for cell in hosted),
        publish=tuple(sorted(publish)),
        subscribe=tuple(sorted(subscribe)),
    )


def accounts(topology: Topology, cells: Sequence[Cell], namespace: str) -> list[Account]:
    """`serve` plus one worker account per remote cell."""
    local = [c for c in cells if topology.placement_of(c.name) != "remote"]
    public = sorted({message_type_of(r.command) for c in cells for r in c.public})
    found = [account_for("serve", local, namespace, gateway_commands=public)]
    for cell in cells:
        if topology.placement_of(cell.name) == "remote":
            found.append(account_for(f"worker_{cell.name}", [cell], namespace))
    return found


def _listed(subjects: Sequence[str], indent: str) -> str:
    inner = "".join(f'{indent}  "{subject}"\n' for subject in subjects)
    return f"[\n{inner}{indent}]"


def server_config(
    found: Sequence[Account],
    package: str,
    port: int = 4222,
    store_dir: str | None = "/data/jetstream",
) -> str:
    """A nats-server configuration with JetStream and one user per account.

    With `store_dir=None` the JetStream directory comes from the command line (`-sd`).
    """
    users = []
    for account in found:
        users.append(
            "    {\n"
            f'      user: "{account.user}"\n'
            f"      password: ${account.password_variable(package)}\n"
            "      permissions: {\n"
            f"        publish: {{ allow: {_listed(account.publish, '        ')} }}\n"
            f"        subscribe: {{ allow: {_listed(account.subscribe, '        ')} }}\n"
            "        allow_responses: true\n"
            "      }\n"
            "    }"
        )
    hosted = "\n".join(f"#   {a.user}: {', '.join(a.cells) or '(gateway only)'}" for a in found)
    jetstream = (
        f'jetstream: {{\n  store_dir: "{store_dir}"\n}}\n' if store_dir else "jetstream: enabled\n"
    )
    return (
        "# Generated by `topology deploy` from the cells and topology.toml; do not edit.\n"
        "# One user per process, allowed only the subjects its cells need:\n"
        f"{hosted}\n"
        "# Passwords come from the environment when the server starts.\n"
        f"port: {port}\n"
        f"{jetstream}"
        "authorization: {\n"
        "  users: [\n" + ",\n".join(users) + "\n  ]\n"
        "}\n"
    )
