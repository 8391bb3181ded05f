# Owned by the monocell template: `copier update` replaces this file.
"""Contract snapshots: the JSON Schema of every public message, committed and compared.

`export` writes one file per message type into `contracts/`. `diff` compares
the messages in the code with a snapshot (the files on disk, or the ones at a
git revision) and classifies every difference:

- compatible: a new message, a new optional field, a required field made
  optional, a widened or dropped enum, a loosened limit, unknown fields
  accepted, a new version of a message;
- breaking: a removed message, a removed or renamed field, a changed type, a
  new required field, a narrowed or added enum, a tightened limit, unknown
  fields refused.

A consumer written against the old schema keeps working after a compatible
change and may fail after a breaking one; publish breaking changes as a new
version (`orders.PlaceOrder.v2`) instead.

"Compatible" is judged for the code that reads the new schema, reading what
senders on the old code send (as Confluent's default, backward). A new optional
field is safe both ways, because the bus drops fields a reader does not know.
A widened enum or a loosened limit is not: an event consumer still on the old
code refuses the new values, so deploy consumers before producers.

A cell declared `draft=True` has not released its messages yet (`cell new`
starts every cell so): their snapshot files carry `"x-monocell-draft": true`,
and a change to a message whose *snapshot* is a draft is reported as `draft`,
never as breaking. Marking a released cell as a draft therefore hides nothing:
its committed snapshot is not a draft. Removing the flag and exporting
releases the messages; from then on they are public API.

No library compares JSON Schemas by these rules, so the comparison is written
here, limited to the subset msgspec generates.
"""

import importlib
import json
import re
import reprlib
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgspec

from ..core.cell import Cell
from ..core.contracts import (
    MESSAGE_TYPE_PATTERN,
    Message,
    ecma_pattern,
    ecma_patterns,
    message_type_of,
    reply_type_of,
)
from ..ops.files import write_files

Schema = dict[str, Any]

_VERSIONED = re.compile(r"^(?P<base>.+)\.v(?P<version>[1-9][0-9]*)$")
# Limits whose raising (min*) or lowering (max*) refuses values accepted before.
_LOWER_BOUNDS = ("minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties")


DRAFT_KEY = "x-monocell-draft"


class SnapshotError(Exception):
    """The snapshot cannot be read (missing revision, unreadable file)."""


@dataclass(frozen=True)
class Change:
    """One difference between the snapshot and the code."""

    message_type: str
    breaking: bool
    detail: str
    draft: bool = False  # the message's cell is a draft: nothing released to break

    def __str__(self) -> str:
        label = "BREAKING  " if self.breaking else "draft     " if self.draft else "compatible"
        return f"{label} {self.message_type}: {self.detail}"


def public_messages(cells: Iterable[Cell], package: str) -> dict[str, type[Message]]:
    """Every message a cell declares or defines in its `contracts` module, by wire type."""
    found: dict[str, type[Message]] = {}
    for cell in cells:
        declared: list[type[Message]] = [*cell.commands, *cell.events]
        declared += [reply_type_of(command) for command in cell.commands]
        try:
            module = importlib.import_module(f"{package}.cells.{cell.name}.contracts")
        except ModuleNotFoundError:
            module = None
        if module is not None:
            declared += [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, Message)
                and value.__module__ == module.__name__
                and "message_type" in vars(value)
            ]
        for message in declared:
            found[message_type_of(message)] = message
    return dict(sorted(found.items()))


def schema_of(message: type[Message], draft: bool = False) -> Schema:
    """The JSON Schema msgspec derives from the message class, marked when a draft;
    its patterns as JSON Schema's readers (ECMA-262) read them (`ecma_patterns`)."""
    schema: Schema = ecma_patterns(msgspec.json.schema(message))
    return {**schema, DRAFT_KEY: True} if draft else schema


def current_schemas(cells: Iterable[Cell], package: str) -> dict[str, Schema]:
    """The schema of every public message in the code, by wire type (what `export` writes)."""
    schemas: dict[str, Schema] = {}
    for cell in cells:
        for name, message in public_messages([cell], package).items():
            schemas[name] = schema_of(message, draft=cell.draft)
    return dict(sorted(schemas.items()))


def render(schema: Schema) -> str:
    """Stable text for a schema file: sorted keys, two-space indent, final newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(
    schemas: dict[str, Schema], directory: Path, beside: Mapping[Path, str] | None = None
) -> list[Path]:
    """Write one `<message_type>.json` per message and remove files of vanished messages.

    Only files named like a message type (`cell.Name.v1.json`) belong to the
    snapshot: anything else in the directory (a `package.json`, say) is left
    alone. `beside` are files derived from the same schemas (the AsyncAPI
    document, its docs page), written with them. Every changed file is written
    all or nothing; raises OSError.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {directory / f"{name}.json": render(schema) for name, schema in schemas.items()}
    derived = dict(beside or {})
    changed = {
        path: text for path, text in {**wanted, **derived}.items() if _current_text(path) != text
    }
    write_files(changed)
    for stale in sorted(set(snapshot_files(directory)) - wanted.keys()):
        if stale.is_file():
            stale.unlink()
    return list(wanted)


def snapshot_files(directory: Path) -> list[Path]:
    """The files of a snapshot directory: those named `<cell>.<Name>.v<N>.json`."""
    return sorted(path for path in directory.glob("*.json") if _is_snapshot_name(path.name))


def _is_snapshot_name(filename: str) -> bool:
    return filename.endswith(".json") and bool(
        MESSAGE_TYPE_PATTERN.match(filename.removesuffix(".json"))
    )


def _current_text(path: Path) -> str | None:
    """The file's text, or None when it is missing or unreadable (it is then rewritten)."""
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def require_directory(directory: Path) -> None:
    """Refuse a snapshot directory that is not there (a mistyped `--dir`)."""
    if directory.exists() and not directory.is_dir():
        raise SnapshotError(f"--dir {directory}: expected a directory, found a file")
    if not directory.is_dir():
        raise SnapshotError(
            f"--dir {directory}: no such directory (run `contracts export` to create it)"
        )


def load_directory(directory: Path) -> dict[str, Schema]:
    """The snapshot in a directory on disk; a missing directory is refused."""
    require_directory(directory)
    snapshot = {}
    for path in snapshot_files(directory):
        try:
            text = path.read_text(encoding="utf-8")
        except IsADirectoryError:
            raise SnapshotError(f"{path}: expected a file, found a directory") from None
        except UnicodeDecodeError:
            raise SnapshotError(f"{path}: not valid UTF-8") from None
        except OSError as error:
            raise SnapshotError(f"{path}: cannot be read ({error.strerror})") from None
        snapshot[path.name.removesuffix(".json")] = _parse(str(path), text)
    return snapshot


def load_revision(revision: str, directory: str = "contracts") -> dict[str, Schema]:
    """The snapshot committed at a git revision."""
    listed = _git("ls-tree", "--name-only", f"{revision}:{directory}", missing_ok=True)
    if listed is None:
        if _git("rev-parse", "--verify", "--quiet", revision + "^{commit}", missing_ok=True):
            return {}
        raise SnapshotError(f"--against: '{revision}' is not a git revision of this repository")
    snapshot = {}
    for name in listed.splitlines():
        if _is_snapshot_name(name):
            location = f"{revision}:{directory}/{name}"
            snapshot[name.removesuffix(".json")] = _parse(location, _git("show", location) or "")
    return snapshot


def _git(*args: str, missing_ok: bool = False) -> str | None:
    # Arguments are a fixed git subcommand plus a revision name passed as one argv item.
    try:
        result = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            capture_output=True,
            encoding="utf-8",
            check=False,
        )
    except UnicodeDecodeError:
        raise SnapshotError(f"git {' '.join(args)}: output is not valid UTF-8") from None
    except OSError as error:
        raise SnapshotError(f"git: cannot run ({error.strerror})") from None
    if result.returncode != 0:
        if missing_ok:
            return None
        raise SnapshotError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _parse(location: str, text: str) -> Schema:
    """The schema in a snapshot file, `location` naming the file in errors."""
    try:
        schema: Schema = json.loads(text)  # checked just below
    except (json.JSONDecodeError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        raise SnapshotError(f"{location}: not valid JSON ({reason})") from error
    _check_shape(location, schema, "")
    _check_references(location, schema, schema.get("$defs", {}), "")
    return schema


def _check_references(location: str, node: object, defs: Schema, where: str) -> None:
    """Refuse a `$ref` to a definition the file lacks: compared, it would read as a
    field of no type at all ("changed type None -> integer")."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_references(location, item, defs, f"{where}/{index}")
        return
    if not isinstance(node, dict):
        return
    reference = node.get("$ref")
    if isinstance(reference, str):
        name = reference.removeprefix("#/$defs/")
        if name == reference or name not in defs:
            raise SnapshotError(
                f"{location}: {where}/$ref names {reprlib.repr(reference)}, which the "
                "file does not define under $defs (a damaged snapshot: export it again)"
            )
    for key, child in node.items():
        if key != "$ref":
            _check_references(location, child, defs, f"{where}/{key}")


def _check_shape(location: str, node: object, where: str) -> None:
    """Refuse keywords whose JSON type the comparison cannot use (`"required": 5`).

    `where` is a JSON pointer to `node` inside the file ("" for the whole file).
    """

    def refuse(key: str, expected: str, value: object) -> SnapshotError:
        got = reprlib.repr(value)
        return SnapshotError(f"{location}: {where}/{key} must be {expected}, got {got}")

    if not isinstance(node, dict):
        got = reprlib.repr(node)
        raise SnapshotError(f"{location}: {where or '/'} must be an object, got {got}")
    for key in ("properties", "$defs"):
        children = node.get(key, {})
        if not isinstance(children, dict):
            raise refuse(key, "an object", children)
        for name, child in children.items():
            _check_shape(location, child, f"{where}/{key}/{name}")
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        raise refuse("required", "a list of strings", required)
    members = node.get("anyOf", [])
    if not isinstance(members, list):
        raise refuse("anyOf", "a list", members)
    for index, member in enumerate(members):
        _check_shape(location, member, f"{where}/anyOf/{index}")
    if isinstance(node.get("items"), dict):
        _check_shape(location, node["items"], f"{where}/items")
    for key in ("$ref", "pattern"):
        if not isinstance(node.get(key, ""), str):
            raise refuse(key, "a string", node[key])
    if not isinstance(node.get("enum", []), list):
        raise refuse("enum", "a list", node["enum"])
    kind = node.get("type", "")
    if not isinstance(kind, str) and not (
        isinstance(kind, list) and all(isinstance(k, str) for k in kind)
    ):
        raise refuse("type", "a string or a list of strings", kind)
    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        limit = node.get(key, 0)
        if not isinstance(limit, int | float):
            raise refuse(key, "a number", limit)


def compare(old: dict[str, Schema], new: dict[str, Schema]) -> list[Change]:
    """Every change from snapshot `old` to code `new`, breaking ones first.

    A change to a message whose snapshot is a draft is never breaking (see above).
    """
    changes = [
        replace(change, breaking=False, draft=True)
        if change.breaking and old.get(change.message_type, {}).get(DRAFT_KEY) is True
        else change
        for change in _compare(old, new)
    ]
    for name in sorted(old.keys() & new.keys()):
        if old[name].get(DRAFT_KEY) is True and new[name].get(DRAFT_KEY) is not True:
            changes.append(Change(name, False, "released: no longer a draft", draft=True))
    return sorted(changes, key=lambda change: (not change.breaking, change.message_type))


def _compare(old: dict[str, Schema], new: dict[str, Schema]) -> list[Change]:
    changes: list[Change] = []
    for message_type in sorted(old.keys() - new.keys()):
        successor = _newer_version(message_type, new.keys())
        if successor:
            changes.append(Change(message_type, False, f"replaced by new version {successor}"))
        else:
            changes.append(Change(message_type, True, "message removed"))
    for message_type in sorted(new.keys() - old.keys()):
        changes.append(Change(message_type, False, "new message"))
    for message_type in sorted(old.keys() & new.keys()):
        changes += _compare_message(message_type, old[message_type], new[message_type])
    return changes


def _newer_version(message_type: str, candidates: Iterable[str]) -> str | None:
    match = _VERSIONED.match(message_type)
    if match is None:
        return None
    for candidate in sorted(candidates):
        other = _VERSIONED.match(candidate)
        if (
            other
            and other["base"] == match["base"]
            and int(other["version"]) > int(match["version"])
        ):
            return candidate
    return None


def _compare_message(message_type: str, old: Schema, new: Schema) -> list[Change]:
    return [
        Change(message_type, breaking, detail)
        for breaking, detail in _compare_object(_root(old), old, _root(new), new, "")
    ]


def _root(document: Schema) -> Schema:
    return _resolve(document, document)


def _resolve(schema: Schema, document: Schema) -> Schema:
    """Follow a local `$ref` (msgspec puts every Struct under `$defs`)."""
    seen = 0
    while "$ref" in schema and seen < 32:
        name = str(schema["$ref"]).rpartition("/")[2]
        schema = document.get("$defs", {}).get(name, {})
        seen += 1
    return schema


def _compare_object(
    old: Schema, old_doc: Schema, new: Schema, new_doc: Schema, prefix: str
) -> list[tuple[bool, str]]:
    found: list[tuple[bool, str]] = []
    old_fields: Schema = old.get("properties", {})
    new_fields: Schema = new.get("properties", {})
    old_required = set(old.get("required", ()))
    new_required = set(new.get("required", ()))
    where = prefix.removesuffix(".") or "the message"
    # A struct's `false` or absent; a dict field's is its values' schema (compared there).
    before, after = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if isinstance(before, bool) and isinstance(after, bool) and before is not after:
        if after is False:  # a sender's extra field now refused
            found.append((True, f"{where}: unknown fields now refused (additionalProperties)"))
        else:
            found.append((False, f"{where}: unknown fields now accepted (additionalProperties)"))
    for name in sorted(old_fields.keys() - new_fields.keys()):
        found.append((True, f"field '{prefix}{name}' removed (or renamed)"))
    for name in sorted(new_fields.keys() - old_fields.keys()):
        if name in new_required:
            found.append((True, f"new required field '{prefix}{name}'"))
        else:
            found.append((False, f"new optional field '{prefix}{name}'"))
    for name in sorted(old_fields.keys() & new_fields.keys()):
        path = f"{prefix}{name}"
        if name in new_required and name not in old_required:
            found.append((True, f"field '{path}' became required"))
        elif name in old_required and name not in new_required:
            found.append((False, f"field '{path}' became optional"))
        found += _compare_value(old_fields[name], old_doc, new_fields[name], new_doc, path)
    return found


def _compare_value(
    old: Schema, old_doc: Schema, new: Schema, new_doc: Schema, path: str
) -> list[tuple[bool, str]]:
    old, new = _resolve(old, old_doc), _resolve(new, new_doc)
    if old.get("type") == "object" and new.get("type") == "object":
        return _compare_object(old, old_doc, new, new_doc, f"{path}.")
    found: list[tuple[bool, str]] = []
    old_type, new_type = _type_of(old, old_doc), _type_of(new, new_doc)
    # msgspec writes a Literal as a bare `enum`: to or from its values' type is not a
    # change of type but of the enum (dropped: looser; added: tighter).
    if old_type == "enum" and "enum" not in new and new_type == _values_type(old["enum"]):
        old_type = new_type
    if new_type == "enum" and "enum" not in old and old_type == _values_type(new["enum"]):
        new_type = old_type
    if old_type != new_type:
        return [(True, f"field '{path}' changed type {old_type} -> {new_type}")]
    if "enum" in old and "enum" in new:
        before, after = set(map(str, old["enum"])), set(map(str, new["enum"]))
        if before - after:
            found.append((True, f"field '{path}' enum narrowed (removed {sorted(before - after)})"))
        if after - before:
            found.append((False, f"field '{path}' enum widened (added {sorted(after - before)})"))
    elif "enum" in old:  # any value of the type now: a loosening
        found.append((False, f"field '{path}' enum dropped (any {old_type} now)"))
    elif "enum" in new:
        found.append((True, f"field '{path}' enum added ({sorted(map(str, new['enum']))})"))
    found += _compare_limits(old, new, path)
    # A snapshot written before patterns were published as ECMA-262 says `\\Z`.
    if ecma_pattern(old.get("pattern", "")) != ecma_pattern(new.get("pattern", "")):
        found.append((True, f"field '{path}' pattern changed"))
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        found += _compare_value(old["items"], old_doc, new["items"], new_doc, f"{path}[]")
    return found


def _compare_limits(old: Schema, new: Schema, path: str) -> list[tuple[bool, str]]:
    found: list[tuple[bool, str]] = []
    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        lower = key in _LOWER_BOUNDS
        if before is None:
            tighter = True
        elif after is None:
            tighter = False
        else:
            tighter = after > before if lower else after < before
        verb = "tightened" if tighter else "loosened"
        found.append((tighter, f"field '{path}' {key} {verb} ({before} -> {after})"))
    return found


def _values_type(values: list[Any]) -> str | None:
    """The JSON Schema type all of an enum's values have, if one."""
    if all(isinstance(value, str) for value in values):
        return "string"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "integer"
    return None


def _type_of(schema: Schema, document: Schema) -> str:
    """A comparable description of a value's type, unions and nesting included."""
    if "anyOf" in schema:
        members = sorted(_type_of(_resolve(s, document), document) for s in schema["anyOf"])
        return " | ".join(members)
    kind = schema.get("type")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array[{_type_of(_resolve(schema['items'], document), document)}]"
    if kind == "object" and "title" in schema:
        return f"object {schema['title']}"
    if isinstance(kind, list):
        return " | ".join(sorted(map(str, kind)))
    if kind is None and "enum" in schema:
        return "enum"
    return str(kind)


def breaking(changes: Sequence[Change]) -> list[Change]:
    """Only the breaking changes."""
    return [change for change in changes if change.breaking]
