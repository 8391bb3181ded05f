"""Migration: rewrite the owner's imports of kernel modules that moved when the
kernel was grouped by lifetime (core, config, runtime, ops, devtools, cli).

Copier replaces the kernel itself; the owner's own code (cells, their tests,
benchmarks, app.py) still names the old paths, for example a cell created by
an older `cell new` that imports `<package>.kernel.runtime`. This rewrites
those names in every Python file outside the kernel, and nothing else.

It runs after every update (Copier's `_migrations` without a version, stage
"after", once the owner's changes are back in place) and is idempotent: each
pattern matches an old path only, never the new one it becomes.

Usage: kernel_layout.py PACKAGE [PROJECT_ROOT]
"""

import os
import re
import sys
from pathlib import Path

# old module under `kernel.` -> its new place.
MOVED = {
    "cell": "core.cell",
    "contracts": "core.contracts",
    "errors": "core.errors",
    "message_names": "core.message_names",
    "topology": "config.topology",
    "thresholds": "config.thresholds",
    "validation": "config.validation",
    "sandbox.policy": "config.sandbox_policy",
    "gateway.settings": "config.gateway_settings",
    "registry": "runtime.registry",
    "runtime": "runtime.composition",
    "worker": "runtime.worker",
    "logs": "runtime.logs",
    "metrics_endpoint": "runtime.metrics_endpoint",
    "gateway.serve": "runtime.serve",
    "deploy": "ops.deploy",
    "nats_auth": "ops.nats_auth",
    "diagram": "ops.diagram",
    "triggers": "ops.triggers",
    "files": "ops.files",
    "scaffold": "devtools.scaffold",
    "budget": "devtools.budget",
    "snapshot": "devtools.snapshot",
    "checks": "devtools.checks",
    "gate": "devtools.gate",
    "cli": "cli.main",
    "cells_cli": "cli.cells",
    "contracts_cli": "cli.contracts",
    "topology_cli": "cli.topology",
    "triggers_cli": "cli.triggers",
    "gateway.cli": "cli.gateway",
    "sandbox.cli": "cli.sandbox",
}
# `runtime` and `cli` are packages now: their old module path is followed by no dot
# (`kernel.runtime.composition` is already new). Every other old path may be
# followed by an attribute (`kernel.errors.RejectedError` in a string).
_NOW_PACKAGES = ("runtime", "cli")
# Old kernel modules a `from <package>.kernel import ...` line may name, that moved.
_IMPORTABLE_MOVED = MOVED.keys() - set(_NOW_PACKAGES)
_OLD_MODULES = "|".join(re.escape(old) for old in MOVED if old not in _NOW_PACKAGES)


def _kernel(package: str) -> str:
    """The project's kernel as code names it: `<package>.kernel`, or `...kernel` after `from`."""
    return rf"(?:(?<![\w.]){re.escape(package)}\.kernel|(?<=from )\.+kernel)"


def _dotted(package: str) -> re.Pattern[str]:
    kernel = _kernel(package)
    return re.compile(
        rf"(?P<kernel>{kernel})\.(?:(?P<old>{_OLD_MODULES})(?!\w)"
        rf"|(?P<package>{'|'.join(_NOW_PACKAGES)})(?![\w.]))"
    )


def _from_kernel(package: str) -> re.Pattern[str]:
    """`from <package>.kernel import a, b` on one line, or in parentheses over several."""
    return re.compile(
        rf"^(?P<indent>[ \t]*)from (?P<base>{_kernel(package)}) import "
        r"(?:\((?P<block>[^)]*)\)|(?P<names>[\w, ]+?))(?P<comment>[ \t]*#[^\n]*)?$",
        re.MULTILINE,
    )


def rewrite(text: str, package: str) -> str:
    """`text` with every old path of the project's kernel replaced by its new one."""

    def moved_path(match: re.Match[str]) -> str:
        return f"{match['kernel']}.{MOVED[match['old'] or match['package']]}"

    text = _dotted(package).sub(moved_path, text)

    def split(match: re.Match[str]) -> str:
        listed = match["block"] if match["block"] is not None else match["names"]
        if match["block"] is not None and "#" in listed:
            return match.group(0)  # comments inside the parentheses: leave it to the owner
        names = [name.strip() for name in listed.split(",") if name.strip()]
        # Only modules that moved; `runtime` and `cli` are still importable by name.
        moved = [n for n in names if n.partition(" as ")[0].strip() in _IMPORTABLE_MOVED]
        if not moved:
            return match.group(0)
        indent, base, comment = match["indent"], match["base"], match["comment"] or ""
        lines = []
        kept = [name for name in names if name not in moved]
        if kept:
            lines.append(f"{indent}from {base} import {', '.join(kept)}")
        for name in moved:
            module, _, alias = (part.strip() for part in name.partition(" as "))
            group, _, leaf = MOVED[module].rpartition(".")
            suffix = f" as {alias}" if alias else ""
            lines.append(f"{indent}from {base}.{group} import {leaf}{suffix}")
        lines[0] += comment
        return "\n".join(lines)

    return _from_kernel(package).sub(split, text)


def _statements(lines: list[str]) -> list[list[str]]:
    """Group lines into statements: a parenthesised import spans until its `)`."""
    grouped: list[list[str]] = []
    open_import = False
    for line in lines:
        if open_import:
            grouped[-1].append(line)
            open_import = ")" not in line
            continue
        grouped.append([line])
        open_import = line.startswith("from ") and "(" in line and ")" not in line
    return grouped


def sort_first_party_imports(text: str, package: str) -> str:
    """Re-sort each run of consecutive `from <package>...` imports by module, as ruff does.

    A rewritten path can change a line's place in its block (`kernel.topology`
    became `kernel.config.topology`); sorting keeps `ruff check` (isort) green.
    """
    prefix = f"from {package}."
    statements = _statements(text.splitlines(keepends=True))
    result: list[list[str]] = []
    run: list[list[str]] = []
    for statement in [*statements, [""]]:
        if statement[0].startswith(prefix):
            run.append(statement)
            continue
        result += sorted(run, key=lambda item: item[0].split(" import ", 1)[0].lower())
        run = []
        result.append(statement)
    return "".join(line for statement in result for line in statement)


def owner_python_files(root: Path, package: str) -> list[Path]:
    """Python files of the project outside its kernel; links are not followed."""
    kernel = root / "src" / package / "kernel"
    skipped = {".git", ".venv", "node_modules", "__pycache__"}
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if not skipped.intersection(path.relative_to(root).parts)
        and kernel not in path.parents
        and not path.is_symlink()
        and path.is_file()
    ]


def migrate(path: Path, package: str) -> bool:
    """Rewrite one file in place, keeping its line endings and BOM; True when it changed."""
    with path.open(encoding="utf-8", newline="") as source:  # newline="": keep \r\n
        text = source.read()
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text.removeprefix(bom)
    new = rewrite(body, package)
    if new == body:
        return False
    new = sort_first_party_imports(new, package)
    # Written beside the file, then moved over it: the file is old or new, never half.
    temporary = path.with_name(f".{path.name}.kernel-layout")
    with temporary.open("w", encoding="utf-8", newline="") as target:
        target.write(bom + new)
    os.replace(temporary, path)
    return True


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2 or not re.fullmatch(r"[a-z][a-z0-9_]*", argv[0]):
        print("usage: kernel_layout.py PACKAGE [PROJECT_ROOT]", file=sys.stderr)
        return 2
    package = argv[0]
    root = Path(argv[1]) if len(argv) == 2 else Path.cwd()
    if not root.is_dir():
        print(f"kernel layout: {root}: no such project folder", file=sys.stderr)
        return 2
    for path in owner_python_files(root, package):
        relative = path.relative_to(root)
        try:
            changed = migrate(path, package)
        except UnicodeDecodeError:
            print(f"kernel layout: skipped {relative} (not UTF-8); check its kernel imports")
            continue
        except OSError as error:
            print(
                f"kernel layout: could not rewrite {relative} ({error.strerror}); "
                "change its kernel imports by hand",
                file=sys.stderr,
            )
            continue
        if changed:
            print(f"kernel layout: rewrote kernel imports in {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
