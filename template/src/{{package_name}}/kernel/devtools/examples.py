# Owned by the monocell template: `copier update` replaces this file.
"""A cell's behaviour examples: `cells/<cell>/examples.toml`, part of its spec.

Each example is a short scenario run against the cell alone, on a fresh
database: steps that send it a command or deliver it an event, each with the
outcome `cell record` wrote under `expect` (the reply or the rejection, and the
events the cell published). `cell replay` runs them again and reports every
difference, so behaviour changes only on purpose and in review.

    volatile = ["orders.OrderAccepted.v1.order_id"]   # <message type>.<field>

    [[example]]
    name = "two units cost twice the unit price"

    [[example.step]]
    send = "orders.PlaceOrder.v1"
    caller = "key:alice"                              # optional: who asks
    message = { sku = "A-1", quantity = 2 }

A later step reuses an earlier outcome with a string `"$<step>.<path>"`, e.g.
`order_id = "$1.reply.order_id"`. Fields that change on every run (ids,
timestamps) are declared `volatile`, never guessed: their values are recorded
as `<volatile N>`, the same value the same N, so a reply and an event that
must carry the same id still have to.

The file is read and written with tomlkit, so comments and layout written by
hand survive `cell record`; every error names the file and the line.
"""

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..core.cell import Cell
from ..core.contracts import Command, Event, Message, message_type_of, reply_type_of

EXAMPLES_FILE = "examples.toml"
REFERENCE = re.compile(r"\$(\d+)\.((?:reply|rejected|events\.\d+)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\Z")
REJECTION_FIELDS = ("reason", "detail")
# What `cell record` writes under a step's `expect` (see behaviour._run_example).
EXPECT_KEYS = ("reply", "rejected", "error", "events")


class ExamplesError(Exception):
    """A malformed examples file; the message names the file and the line."""


@dataclass(frozen=True)
class Step:
    """Send a command to the cell, or deliver it an event; `expect` once recorded."""

    number: int
    line: int
    kind: str  # "send" or "deliver"
    message_type: str
    message: dict[str, Any]
    expect: dict[str, Any] | None
    caller: str = ""  # who sends the command (`context.principal.subject`); "" = anonymous


@dataclass(frozen=True)
class Example:
    """One scenario: its steps run in order, on one fresh database."""

    number: int
    name: str
    line: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Examples:
    """Everything `examples.toml` says, checked against the cell's own messages."""

    path: Path
    volatile: frozenset[str]
    examples: tuple[Example, ...]
    messages: dict[str, type[Message]] = field(default_factory=dict)
    # The reply each command the cell sends to other cells gets (`[fakes]`).
    fakes: dict[type[Command[Any]], Any] = field(default_factory=dict)


def where(examples: Examples, example: Example, step: Step) -> str:
    """How every message about a step starts: file, line, example and step."""
    return (
        f"{shown_path(examples.path)}:{step.line}: example {example.number} {example.name!r} "
        f"step {step.number} ({step.kind} {step.message_type})"
    )


def examples_path(cell_directory: Path) -> Path:
    return cell_directory / EXAMPLES_FILE


def messages_of(cell: Cell) -> dict[str, type[Message]]:
    """Every message type the cell takes or gives, by wire name."""
    found: dict[str, type[Message]] = {}
    for command in cell.commands:
        found[message_type_of(command)] = command
        reply = reply_type_of(command)
        found[message_type_of(reply)] = reply
    for event in cell.events:
        found[message_type_of(event)] = event
    return found


def _line_of(text: str, header: str, index: int) -> int:
    """The line of the `index`-th `[[header]]` table (1-based), for error messages."""
    pattern = re.compile(rf"^[ \t]*\[\[[ \t]*{re.escape(header)}[ \t]*\]\]", re.MULTILINE)
    matches = list(pattern.finditer(text))
    if index < len(matches):
        return text.count("\n", 0, matches[index].start()) + 1
    return 1


def load(path: Path, cell: Cell, own_events: dict[str, type[Event]]) -> Examples:
    """Read and check `path`; raise `ExamplesError` naming the file and line."""
    import tomlkit  # a development dependency: imported where used
    from tomlkit.exceptions import ParseError

    shown = shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExamplesError(
            f"{shown}: not found; write the cell's examples there (see its SPEC.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExamplesError(f"{shown}: cannot read: {error}") from None
    try:
        document = tomlkit.parse(text).unwrap()
    except ParseError as error:
        raise ExamplesError(f"{shown}:{error.line}: not valid TOML: {error}") from None
    messages = {**messages_of(cell), **own_events}
    unknown_keys = sorted(set(document) - {"volatile", "fakes", "example"})
    if unknown_keys:
        raise ExamplesError(
            f"{shown}:1: unknown key `{unknown_keys[0]}` (expected volatile, fakes, example)"
        )
    fakes = _fakes(document.get("fakes", {}), cell, shown, text)
    volatile = _volatile(document.get("volatile", []), messages, shown, text)
    raw_examples = document.get("example", [])
    if not isinstance(raw_examples, list) or not raw_examples:
        raise ExamplesError(f"{shown}:1: no examples; a cell's spec needs at least one [[example]]")
    examples = []
    step_index = 0
    for number, raw in enumerate(raw_examples, start=1):
        line = _line_of(text, "example", number - 1)
        if not isinstance(raw, dict):
            raise ExamplesError(f"{shown}:{line}: example {number}: expected a table")
        where = f"{shown}:{line}: example {number}"
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ExamplesError(f"{where}: needs a `name` (one line saying what it shows)")
        extra = sorted(set(raw) - {"name", "step"})
        if extra:
            raise ExamplesError(f"{where}: unknown key `{extra[0]}` (expected name, step)")
        raw_steps = raw.get("step", [])
        if not isinstance(raw_steps, list) or not raw_steps:
            raise ExamplesError(f"{where} {name!r}: no steps ([[example.step]])")
        steps = []
        for step_number, raw_step in enumerate(raw_steps, start=1):
            step_line = _line_of(text, "example.step", step_index)
            step_index += 1
            steps.append(
                _step(
                    raw_step,
                    step_number,
                    step_line,
                    cell,
                    messages,
                    f"{shown}:{step_line}: example {number} {name!r} step {step_number}",
                )
            )
        examples.append(Example(number=number, name=name, line=line, steps=tuple(steps)))
    return Examples(
        path=path, volatile=volatile, examples=tuple(examples), messages=messages, fakes=fakes
    )


def _fakes(raw: object, cell: Cell, shown: str, text: str) -> dict[type[Command[Any]], Any]:
    """`[fakes."<command type>"]`: the reply fields another cell answers that command with."""
    line = next(
        (n for n, item in enumerate(text.splitlines(), 1) if item.lstrip().startswith("[fakes")),
        1,
    )
    sends = {message_type_of(command): command for command in cell.sends}
    if not isinstance(raw, dict):
        raise ExamplesError(f"{shown}:{line}: fakes: expected a table of command type -> reply")
    missing = sorted(set(sends) - set(raw))
    if missing:
        raise ExamplesError(
            f"{shown}:{line}: fakes: the cell sends {missing[0]}; give the reply it gets "
            f'([fakes."{missing[0]}"])'
        )
    fakes: dict[type[Command[Any]], Any] = {}
    for message_type, fields in raw.items():
        command = sends.get(message_type)
        if command is None:
            raise ExamplesError(
                f"{shown}:{line}: fakes: {message_type!r}: the cell does not send it "
                f"(Cell.sends: {', '.join(sorted(sends)) or 'none'})"
            )
        reply_type = reply_type_of(command)
        try:
            reply = msgspec.convert(fields, reply_type)
        except msgspec.ValidationError as error:
            raise ExamplesError(
                f"{shown}:{line}: fakes: {message_type}: not a {message_type_of(reply_type)}: "
                f"{error}"
            ) from None
        fakes[command] = lambda _command, reply=reply: reply
    return fakes


def _volatile(
    raw: object, messages: dict[str, type[Message]], shown: str, text: str
) -> frozenset[str]:
    line = next(
        (n for n, row in enumerate(text.splitlines(), 1) if row.lstrip().startswith("volatile")),
        1,
    )
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ExamplesError(
            f'{shown}:{line}: volatile: expected a list of "<message type>.<field>"'
        )
    for item in raw:
        if item.startswith("rejected."):
            if item.removeprefix("rejected.") not in REJECTION_FIELDS:
                raise ExamplesError(
                    f"{shown}:{line}: volatile: {item!r}: a rejection has only reason and detail"
                )
            continue
        message_type, _, name = item.rpartition(".")
        cls = messages.get(message_type)
        if cls is None:
            raise ExamplesError(
                f"{shown}:{line}: volatile: {item!r}: no message {message_type!r} in this cell "
                f"(known: {', '.join(sorted(messages)) or 'none'})"
            )
        if name not in cls.__struct_fields__:
            raise ExamplesError(
                f"{shown}:{line}: volatile: {item!r}: {message_type} has no field {name!r} "
                f"(fields: {', '.join(cls.__struct_fields__)})"
            )
    return frozenset(raw)


def _step(
    raw: object,
    number: int,
    line: int,
    cell: Cell,
    messages: dict[str, type[Message]],
    where: str,
) -> Step:
    if not isinstance(raw, dict):
        raise ExamplesError(f"{where}: expected a table")
    extra = sorted(set(raw) - {"send", "deliver", "caller", "message", "expect"})
    if extra:
        raise ExamplesError(
            f"{where}: unknown key `{extra[0]}` (expected send or deliver, caller, message, expect)"
        )
    kinds = [kind for kind in ("send", "deliver") if kind in raw]
    if len(kinds) != 1:
        raise ExamplesError(
            f"{where}: give exactly one of `send` (a command) or `deliver` (an event)"
        )
    kind = kinds[0]
    message_type = raw[kind]
    cls = messages.get(message_type) if isinstance(message_type, str) else None
    wanted = Command if kind == "send" else Event
    if cls is None or not issubclass(cls, wanted):
        handled = sorted(
            t
            for t, c in messages.items()
            if issubclass(c, wanted) and (c in cell.commands or c in cell.events)
        )
        raise ExamplesError(
            f"{where}: {kind} {message_type!r}: the cell does not handle it "
            f"(it handles: {', '.join(handled) or 'nothing'})"
        )
    message = raw.get("message", {})
    if not isinstance(message, dict):
        raise ExamplesError(f"{where}: message: expected a table of the message's fields")
    expect = raw.get("expect")
    if expect is not None and not isinstance(expect, dict):
        raise ExamplesError(f"{where}: expect: expected a table (written by `cell record`)")
    unexpected = sorted(set(expect or {}) - set(EXPECT_KEYS))
    if unexpected:  # a misspelt `replyy` would be compared as if nothing was replied
        raise ExamplesError(
            f"{where}: expect: unknown key `{unexpected[0]}` (expected "
            f"{', '.join(EXPECT_KEYS)}; `cell record` writes them)"
        )
    for value in _strings(message):
        if value.startswith("$") and not value.startswith("$$"):
            match = REFERENCE.match(value)
            if match is None or not 1 <= int(match.group(1)) < number:
                raise ExamplesError(
                    f'{where}: {value!r}: a reference is "$<earlier step>.reply.<field>" '
                    "(or .rejected.<field>, .events.<n>.<field>); write $$ for a literal $"
                )
    caller = raw.get("caller", "")
    if not isinstance(caller, str) or (caller and kind == "deliver"):
        raise ExamplesError(
            f'{where}: caller: the subject that sends a command, e.g. "key:alice" '
            "(events carry no caller)"
        )
    return Step(
        number=number,
        line=line,
        kind=kind,
        message_type=message_type,
        message=message,
        expect=expect,
        caller=caller,
    )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def decode(step: Step, message: dict[str, Any], cls: type[Message], where: str) -> Message:
    """The step's message as its contract type, or one line saying which field is wrong."""
    try:
        return msgspec.convert(message, cls)
    except msgspec.ValidationError as error:
        raise ExamplesError(
            f"{where}: message does not decode as {step.message_type}: {error}"
        ) from None


def write_expectations(path: Path, recorded: dict[tuple[int, int], dict[str, Any]]) -> None:
    """Write each step's recorded outcome under its `expect`, keeping the rest of the file.

    Written to a temporary file first and renamed, so a failure leaves the old file whole.
    """
    import tomlkit

    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for number, example in enumerate(document["example"], start=1):
        for step_number, step in enumerate(example["step"], start=1):
            outcome = recorded[(number, step_number)]
            if "expect" in step:
                del step["expect"]
            table = tomlkit.table()
            for key, value in outcome.items():
                if isinstance(value, dict):  # the reply or rejection: a table of its own
                    inner = tomlkit.table()
                    for name, item in value.items():
                        inner[name] = _toml_value(item)
                    table[key] = inner
                else:
                    table[key] = _toml_value(value)
            step["expect"] = table
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".examples-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            # tomlkit puts a new table right under the last line: one blank line before each.
            stream.write(re.sub(r"(?<=[^\n])\n(?=\[)", "\n\n", tomlkit.dumps(document)))
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _toml_value(value: Any) -> Any:
    """Plain data as tomlkit items: tables inline, lists of tables as arrays of tables."""
    import tomlkit

    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        for key, item in value.items():
            inline[key] = _toml_value(item)
        return inline
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        array = tomlkit.aot()
        for item in value:
            table = tomlkit.table()
            for key, inner in item.items():
                table[key] = _toml_value(inner)
            array.append(table)
        return array
    return value


def shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
