"""Migration: move a key in the project's topology.toml, keeping its comments.

Used by `_migrations` in copier.yml when a template version renames a
topology key, for example:

    _migrations:
      - version: "2.0.0"
        when: "{{ _stage == 'after' }}"
        command: [uv, run, --no-project, --with, "tomlkit>=0.13", python,
                  "{{ _copier_conf.src_path }}/hooks/migrations/move_topology_key.py",
                  bus.url, bus.server_url]

It runs under `uv run --with tomlkit` because tomlkit is not one of Copier's
own dependencies, and every generated project already relies on uv.

`topology.toml` belongs to the owner and `copier update` never rewrites it,
so a renamed key has to be carried over in place: tomlkit edits the document
and keeps every comment, blank line and the order of other keys. Copier runs
a migration once, when an update crosses the version it names; the script is
idempotent anyway (an already-moved key is left alone), and it refuses,
without writing, a file where both the old and the new key are set.

Usage: move_topology_key.py OLD.DOTTED.KEY NEW.DOTTED.KEY [PATH]
"""

import re
import sys
from pathlib import Path

import tomlkit
from tomlkit.container import Container
from tomlkit.items import Table


class MigrationError(Exception):
    """The file cannot be migrated safely; the message says why, in one line."""


Node = Table | Container


def _parent(document: Node, dotted: str, create: bool) -> tuple[Node | None, str]:
    """The table holding the last part of `dotted`, and that last part."""
    *tables, key = dotted.split(".")
    node: Node | None = document
    for name in tables:
        if node is None:
            break
        child = node.get(name)
        if child is None and create:
            child = tomlkit.table()
            node[name] = child
        node = child if isinstance(child, (Table, Container)) else None
    return node, key


def move_key(text: str, old: str, new: str) -> tuple[str, str]:
    """Return the migrated text and a one-line account of what happened."""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        raise MigrationError(f"topology.toml is not valid TOML ({error})") from None
    old_parent, old_key = _parent(document, old, create=False)
    if old_parent is None or old_key not in old_parent:
        return text, f"{old} not present; nothing to move"
    new_parent, new_key = _parent(document, new, create=False)
    if new_parent is not None and new_key in new_parent:
        raise MigrationError(f"both {old} and {new} are set in topology.toml; keep one and rerun")
    renamed = _rename_in_place(text, old, new)
    if renamed is not None:
        return renamed, f"moved {old} to {new}"
    # Unusual layout (dotted keys, inline tables): move the item with tomlkit instead;
    # its comment travels with it, it lands at the end of its new table.
    value = old_parent[old_key]
    del old_parent[old_key]
    new_parent, new_key = _parent(document, new, create=True)
    if new_parent is None:
        raise MigrationError(f"{new}: a part of it is set but is not a table")
    new_parent[new_key] = value
    return tomlkit.dumps(document), f"moved {old} to {new}"


def _rename_in_place(text: str, old: str, new: str) -> str | None:
    """Rename a key inside the same table on its own line, so nothing else moves.

    Only for `[table]` + `key = value` layouts, and only when re-parsing shows
    exactly the intended change; anything else returns None.
    """
    old_table, _, old_key = old.rpartition(".")
    new_table, _, new_key = new.rpartition(".")
    if old_table != new_table or not old_table:
        return None
    header = re.compile(rf"^\[\s*{re.escape(old_table)}\s*\][ \t]*(#.*)?$", re.MULTILINE)
    found = header.search(text)
    if found is None:
        return None
    start = found.end()
    following = re.compile(r"^\s*\[", re.MULTILINE).search(text, start)
    end = following.start() if following else len(text)
    line = re.compile(rf"^([ \t]*){re.escape(old_key)}([ \t]*=)", re.MULTILINE)
    body, count = line.subn(rf"\g<1>{new_key}\g<2>", text[start:end], count=1)
    if count != 1:
        return None
    renamed = text[:start] + body + text[end:]
    before, after = tomlkit.parse(text).unwrap(), tomlkit.parse(renamed).unwrap()
    table_before = before
    for part in old_table.split("."):
        table_before = table_before[part]
    expected = dict(table_before)
    expected[new_key] = expected.pop(old_key)
    table_after = after
    for part in old_table.split("."):
        table_after = table_after[part]
    return renamed if table_after == expected else None


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: move_topology_key.py OLD.KEY NEW.KEY [PATH]", file=sys.stderr)
        return 2
    old, new = argv[0], argv[1]
    path = Path(argv[2]) if len(argv) == 3 else Path("topology.toml")
    if not path.is_file():
        print(f"monocell migration: {path} not found; nothing to move")
        return 0
    try:
        migrated, account = move_key(path.read_text(encoding="utf-8"), old, new)
    except MigrationError as error:
        print(f"monocell migration: {error}", file=sys.stderr)
        return 1
    if migrated != path.read_text(encoding="utf-8"):
        path.write_text(migrated, encoding="utf-8")
    print(f"monocell migration: {account}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
