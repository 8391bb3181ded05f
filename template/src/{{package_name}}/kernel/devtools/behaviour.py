# Owned by the monocell template: `copier update` replaces this file.
"""Run a cell's behaviour examples, and say field by field what changed.

`cell record` stores what `run` returns; `cell replay` compares a new run with
it. The comparison is semantic: a reply field that changed value, a field that
appeared or went away, an event that is no longer published or a new one, each
named, in one line per example:

    cells/orders/examples.toml:9: example 1 'two units' step 1 (send orders.PlaceOrder.v1):
    reply.amount_cents 2500 -> 2600; events: + orders.OrderFlagged.v1

Each example runs on its own `CellUnderTest` (the real in-memory bus, a fresh
migrated database), so examples cannot depend on each other's leftovers.
"""

import difflib
from typing import Any

import msgspec

from ..core.cell import Cell
from ..core.contracts import Command, Event, Message, Reply, message_type_of
from ..core.errors import BusError, RejectedError
from ..core.principal import ANONYMOUS, Principal
from .examples import Example, Examples, ExamplesError, decode, where
from .testing import CellUnderTest

Outcome = dict[str, Any]


async def run(cell: Cell, examples: Examples) -> dict[tuple[int, int], Outcome]:
    """Every step's outcome, volatile fields replaced, keyed by (example, step)."""
    outcomes: dict[tuple[int, int], Outcome] = {}
    for example in examples.examples:
        raw = await _run_example(cell, examples, example)
        tokens: dict[object, str] = {}
        for step, outcome in zip(example.steps, raw, strict=True):
            outcomes[(example.number, step.number)] = _normalised(
                outcome, examples.volatile, tokens
            )
    return outcomes


async def _run_example(cell: Cell, examples: Examples, example: Example) -> list[Outcome]:
    seen: list[Outcome] = []
    async with CellUnderTest(cell, fakes=examples.fakes) as under_test:
        for step in example.steps:
            named = where(examples, example, step)
            fields = _resolved(step.message, seen, named)
            message = decode(step, fields, examples.messages[step.message_type], named)
            before = len(under_test.published)
            outcome: Outcome = {}
            try:
                if isinstance(message, Command):  # load() checked: `send` names a command
                    caller = Principal(step.caller) if step.caller else ANONYMOUS
                    reply: Reply = await under_test.send(message, principal=caller)
                    outcome["reply"] = _as_data(reply)
                elif isinstance(message, Event):  # load() checked: `deliver` names an event
                    await under_test.deliver(message)
            except RejectedError as error:
                outcome["rejected"] = {"reason": error.reason, "detail": error.detail}
            except BusError as error:
                outcome["error"] = f"{error.code}: {error.detail}"
            except TimeoutError as error:  # an event handler that never returns
                raise ExamplesError(f"{named}: {error}") from None
            outcome["events"] = [_as_data(event) for event in under_test.published[before:]]
            seen.append(outcome)
    return seen


def _as_data(message: Message) -> dict[str, Any]:
    data = msgspec.to_builtins(message)
    return {"type": message_type_of(type(message)), **_without_none(data)}


def _without_none(value: Any) -> Any:
    """TOML has no null: a field that is None is left out (and shows as `- field`)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value if item is not None]
    return value


def _resolved(value: Any, seen: list[Outcome], named: str) -> Any:
    """`value` with each "$<step>.<path>" replaced by that earlier step's outcome."""
    if isinstance(value, dict):
        return {key: _resolved(item, seen, named) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, seen, named) for item in value]
    if isinstance(value, str) and value.startswith("$$"):
        return value[1:]
    if isinstance(value, str) and value.startswith("$"):
        step, *path = value[1:].split(".")
        found: Any = seen[int(step) - 1]
        for part in path:
            if isinstance(found, list) and part.isdigit() and int(part) < len(found):
                found = found[int(part)]
            elif isinstance(found, dict) and part in found:
                found = found[part]
            else:
                raise ExamplesError(f"{named}: {value!r}: step {step} gave no {'.'.join(path)}")
        return found
    return value


def _normalised(outcome: Outcome, volatile: frozenset[str], tokens: dict[object, str]) -> Outcome:
    """The outcome with declared volatile values as `<volatile N>` (same value, same N)."""

    def token(value: object) -> str:
        key = repr(value)
        if key not in tokens:
            tokens[key] = f"<volatile {len(tokens) + 1}>"
        return tokens[key]

    def message(data: dict[str, Any]) -> dict[str, Any]:
        kind = data["type"]
        return {
            name: token(value) if f"{kind}.{name}" in volatile else value
            for name, value in data.items()
        }

    result: Outcome = {}
    if "reply" in outcome:
        result["reply"] = message(outcome["reply"])
    if "rejected" in outcome:
        result["rejected"] = {
            name: token(value) if f"rejected.{name}" in volatile else value
            for name, value in outcome["rejected"].items()
        }
    if "error" in outcome:
        result["error"] = outcome["error"]
    result["events"] = [message(event) for event in outcome["events"]]
    return result


def differences(recorded: Outcome, now: Outcome) -> list[str]:
    """What changed from `recorded` to `now`, one short phrase per change."""
    found: list[str] = []
    before_kind = next((k for k in ("reply", "rejected", "error") if k in recorded), None)
    now_kind = next((k for k in ("reply", "rejected", "error") if k in now), None)
    if before_kind != now_kind:
        found.append(f"{_summary(recorded, before_kind)} -> {_summary(now, now_kind)}")
    elif before_kind == "error":
        if recorded["error"] != now["error"]:
            found.append(f"error {recorded['error']!r} -> {now['error']!r}")
    elif before_kind is not None:
        found += _fields(before_kind, recorded[before_kind], now[before_kind])
    found += _events(list(recorded.get("events", [])), list(now.get("events", [])))
    return found


def _summary(outcome: Outcome, kind: str | None) -> str:
    if kind == "reply":
        return f"reply {outcome['reply'].get('type')}"
    if kind == "rejected":
        return f"rejected {outcome['rejected'].get('reason')}"
    if kind == "error":
        return f"error {outcome['error']!r}"
    return "no reply"


def _fields(prefix: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = []
    if before.get("type") != after.get("type"):
        found.append(f"{prefix} type {before.get('type')} -> {after.get('type')}")
    for name in sorted((set(before) | set(after)) - {"type"}):
        if name not in after:
            found.append(f"- {prefix}.{name}")
        elif name not in before:
            found.append(f"+ {prefix}.{name}")
        elif before[name] != after[name]:
            found.append(f"{prefix}.{name} {_shown(before[name])} -> {_shown(after[name])}")
    return found


def _events(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    found = []
    types_before = [event.get("type") for event in before]
    types_after = [event.get("type") for event in after]
    matcher = difflib.SequenceMatcher(a=types_before, b=types_after, autojunk=False)
    for operation, a1, a2, b1, b2 in matcher.get_opcodes():
        if operation == "equal":
            for offset in range(a2 - a1):
                old, new = before[a1 + offset], after[b1 + offset]
                found += _fields(str(new.get("type")), old, new)
            continue
        found += [f"events: - {kind}" for kind in types_before[a1:a2]]
        found += [f"events: + {kind}" for kind in types_after[b1:b2]]
    return found


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
