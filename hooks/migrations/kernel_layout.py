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
_DOTTED = re.compile(
    r"\bkernel\.("
    + "|".join(re.escape(old) for old in MOVED if old not in _NOW_PACKAGES)
    + r")(?!\w)|\bkernel\.("
    + "|".join(_NOW_PACKAGES)
    + r")(?![\w.])"
)
# `from <package>.kernel import snapshot, Event`: modules imported from the kernel's face.
_FROM_KERNEL = re.compile(
    r"^(?P<indent>[ \t]*)from (?P<base>[\w.]*kernel) import (?P<names>[\w, ]+)$", re.MULTILINE
)


def rewrite(text: str) -> str:
    """`text` with every old kernel module path replaced by its new one."""
    text = _DOTTED.sub(lambda match: f"kernel.{MOVED[match.group(1) or match.group(2)]}", text)

    def split(match: re.Match[str]) -> str:
        names = [name.strip() for name in match.group("names").split(",") if name.strip()]
        moved = [name for name in names if name in MOVED]
        if not moved:
            return match.group(0)
        indent, base = match.group("indent"), match.group("base")
        lines = []
        kept = [name for name in names if name not in MOVED]
        if kept:
            lines.append(f"{indent}from {base} import {', '.join(kept)}")
        for name in moved:
            group, _, module = MOVED[name].rpartition(".")
            lines.append(f"{indent}from {base}.{group} import {module}")
        return "\n".join(lines)

    return _FROM_KERNEL.sub(split, text)


def _statements(lines: list[str]) -> list[list[str]]:
    """Group lines into statements: a parenthesised import spans until its `)`."""
    grouped: list[list[str]] = []
    open_import = False
    for line in lines:
        if open_import:
            grouped[-1].append(line)
            open_import = not line.strip().startswith(")")
            continue
        grouped.append([line])
        open_import = line.startswith("from ") and line.rstrip().endswith("(")
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
    kernel = root / "src" / package / "kernel"
    skipped = {".git", ".venv", "node_modules", "__pycache__"}
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if not skipped.intersection(path.relative_to(root).parts) and kernel not in path.parents
    ]


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2 or not re.fullmatch(r"[a-z][a-z0-9_]*", argv[0]):
        print("usage: kernel_layout.py PACKAGE [PROJECT_ROOT]", file=sys.stderr)
        return 2
    package = argv[0]
    root = Path(argv[1]) if len(argv) == 2 else Path.cwd()
    for path in owner_python_files(root, package):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new = rewrite(text)
        if new != text:
            new = sort_first_party_imports(new, package)
            path.write_text(new, encoding="utf-8")
            print(f"kernel layout: rewrote kernel imports in {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
