# Owned by the monocell template: `copier update` replaces this file.
"""Least-privilege NATS accounts, derived from the registry and topology.toml.

Defense inside the perimeter: each process connects with its own user, and
the server lets it use only the subjects its cells need.

- `serve` (the gateway and the in-process cells) and one `worker_<cell>` user
  per remote cell;
- a process may publish the events its cells own (`<ns>.events.<cell>.>`),
  the commands the gateway exposes (serve only) and the commands its cells
  declare in `Cell.sends`;
- it may subscribe to the commands its cells handle and to its own inbox
  prefix, `_INBOX_<user>.>` (the transport connects with that prefix), so it
  reads no other process's replies or JetStream deliveries;
- on JetStream it may read the two streams' info, fetch from and acknowledge
  its cells' durable consumers only (`$JS.ACK.<stream>.<its consumer>.>`),
  publish its cells' dead letters, and read them back through a reader consumer
  whose name and filter subject are its cell's (`<cell>__dead_letters`, on
  `<ns>.dead_letters.<cell>.>`): the server refuses any other filter;
- it may not create, change or delete a stream or a durable consumer: those are
  provisioned by `<command> nats provision`, run with the `ops` user, whose only
  right is the JetStream API (`$JS.API.>`; no event or command subject).

So a compromised worker cannot publish an event as another cell, send a
command its cells never declared, read another process's messages, widen its
consumer, or change a stream. The generated `nats-server.conf` names no
secret: passwords come from environment variables when the server starts
(`$<PKG>_NATS_<USER>_PASSWORD`), and each process puts its own in the bus URL
(`nats://<user>:<password>@host:4222`, or `tls://` with TLS).

nats-server substitutes a variable by parsing its value as configuration (a
space, `,`, `;`, `'` or `\\` breaks the file, a trailing `}` or space is cut
off, digits become a number), and quoting the reference disables substitution.
So passwords are restricted to `PASSWORD_RULE`, which parses as itself: `nats
passwords` generates such passwords and `nats passwords --check` refuses others.
"""

import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..bus.jetstream import DEAD_LETTER_READER, consumer_name, stream_names
from ..config.topology import Topology
from ..core.cell import Cell
from ..core.contracts import message_type_of

OPS_USER = "ops"
PASSWORD_RULE = "16 to 128 letters, digits or '_', starting with a letter"  # noqa: S105
_SAFE_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{15,127}\Z")
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Account:
    """One process's user and what it may publish and subscribe to."""

    user: str
    cells: tuple[str, ...]
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def password_variable(self, package: str) -> str:
        return f"{package.upper()}_NATS_{self.user.upper()}_PASSWORD"


def inbox(user: str) -> str:
    """The inbox prefix of `user`, as the transport connects with it."""
    return f"_INBOX_{user}"


def account_for(
    user: str, hosted: Sequence[Cell], namespace: str, *, gateway_commands: Sequence[str] = ()
) -> Account:
    """The permissions of a process hosting `hosted` (and the gateway, if any)."""
    events_stream, dead_letters = stream_names(namespace)
    publish: set[str] = {
        # JetStream: account info and the shape of the two provisioned streams.
        "$JS.API.INFO",
        f"$JS.API.STREAM.INFO.{events_stream}",
        f"$JS.API.STREAM.INFO.{dead_letters}",
    }
    publish.update(f"{namespace}.commands.{t}" for t in gateway_commands)
    subscribe: set[str] = {f"{inbox(user)}.>"}
    for cell in hosted:
        publish.add(f"{namespace}.events.{cell.name}.>")
        publish.add(f"{namespace}.dead_letters.{cell.name}.>")
        publish.update(f"{namespace}.commands.{message_type_of(c)}" for c in cell.sends)
        reader = f"{cell.name}__{DEAD_LETTER_READER}"
        publish.add(
            f"$JS.API.CONSUMER.CREATE.{dead_letters}.{reader}.{namespace}.dead_letters.{cell.name}.>"
        )
        for api in ("MSG.NEXT", "DELETE"):
            publish.add(f"$JS.API.CONSUMER.{api}.{dead_letters}.{reader}")
        for command in cell.commands:
            subscribe.add(f"{namespace}.commands.{message_type_of(command)}")
        for event in cell.events:
            durable = consumer_name(cell.name, message_type_of(event))
            for api in ("INFO", "MSG.NEXT"):
                publish.add(f"$JS.API.CONSUMER.{api}.{events_stream}.{durable}")
            publish.add(f"$JS.ACK.{events_stream}.{durable}.>")
    return Account(
        user=user,
        cells=tuple(cell.name for cell in hosted),
        publish=tuple(sorted(publish)),
        subscribe=tuple(sorted(subscribe)),
    )


def ops_account() -> Account:
    """The operator's user: the JetStream API only, for `nats provision`."""
    return Account(
        user=OPS_USER, cells=(), publish=("$JS.API.>",), subscribe=(f"{inbox(OPS_USER)}.>",)
    )


def accounts(topology: Topology, cells: Sequence[Cell], namespace: str) -> list[Account]:
    """`serve`, one worker account per remote cell, and `ops` last."""
    local = [c for c in cells if topology.placement_of(c.name) != "remote"]
    public = sorted({message_type_of(r.command) for c in cells for r in c.public})
    found = [account_for("serve", local, namespace, gateway_commands=public)]
    for cell in cells:
        if topology.placement_of(cell.name) == "remote":
            found.append(account_for(f"worker_{cell.name}", [cell], namespace))
    found.append(ops_account())
    return found


def services(found: Sequence[Account]) -> list[Account]:
    """The accounts of processes that run cells or the gateway (all but `ops`)."""
    return [account for account in found if account.user != OPS_USER]


def new_password() -> str:
    """A random password of 32 characters that nats-server reads back unchanged."""
    first = secrets.choice(string.ascii_letters)
    return first + "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(31))


def password_problem(variable: str, value: str | None) -> str | None:
    """Why `value` cannot be the password in `$variable`, in one line; None if it can."""
    if value is None:
        return f"{variable}: not set (`nats passwords` prints new ones)"
    if not _SAFE_PASSWORD.match(value):
        return (
            f"{variable}: expected {PASSWORD_RULE} (nats-server parses the value as "
            "configuration; `nats passwords` prints safe ones)"
        )
    return None


def password_problems(
    found: Sequence[Account], package: str, environ: Mapping[str, str]
) -> list[str]:
    """What is wrong with the passwords of `found` in `environ` (empty: all good)."""
    problems = []
    seen: dict[str, str] = {}  # password -> the variable that holds it first
    for account in found:
        variable = account.password_variable(package)
        password = environ.get(variable)
        problem = password_problem(variable, password)
        if problem is not None:
            problems.append(problem)
        elif password in seen:  # one password, two users: each could act as the other
            problems.append(
                f"{variable}: the same password as {seen[password]}; every user needs its "
                "own, or the split of rights between them is gone"
            )
        else:
            seen[str(password)] = variable
    return problems


def _listed(subjects: Sequence[str], indent: str) -> str:
    inner = "".join(f'{indent}  "{subject}"\n' for subject in subjects)
    return f"[\n{inner}{indent}]"


def _role(account: Account) -> str:
    if account.user == OPS_USER:
        return "streams and consumers (`nats provision`), nothing else"
    return ", ".join(account.cells) or "(gateway only)"


def server_config(
    found: Sequence[Account],
    package: str,
    port: int = 4222,
    store_dir: str | None = None,
    tls_block: str = "",
) -> str:
    """A nats-server configuration with JetStream and one user per account.

    With `store_dir=None` (the generated file) the JetStream directory comes from the
    command line (`nats-server -c nats-server.conf -sd DIR`): nats-server refuses a
    directory given in both places. `tls_block` (see `kernel.ops.deploy_tls`) makes
    every client connection TLS.
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
            + ("" if account.user == OPS_USER else "        allow_responses: true\n")
            + "      }\n"
            "    }"
        )
    hosted = "\n".join(f"#   {a.user}: {_role(a)}" for a in found)
    jetstream = (
        f'jetstream: {{\n  store_dir: "{store_dir}"\n}}\n' if store_dir else "jetstream: enabled\n"
    )
    return (
        "# Generated by `topology deploy` from the cells and topology.toml; do not edit.\n"
        "# One user per process, allowed only the subjects its cells need:\n"
        f"{hosted}\n"
        "# Passwords come from the environment when the server starts, each one\n"
        f"# {PASSWORD_RULE} (`nats passwords` prints new ones).\n"
        "# JetStream's directory comes from the command line: nats-server -c FILE -sd DIR\n"
        f"port: {port}\n"
        f"{tls_block}"
        f"{jetstream}"
        "authorization: {\n"
        "  users: [\n" + ",\n".join(users) + "\n  ]\n"
        "}\n"
    )
