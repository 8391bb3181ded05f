# Owned by the monocell template: `copier update` replaces this file.
"""Cell size budget and boundary report: each cell stays small enough to regenerate.

A cell, its contracts and its tests should fit an AI assistant's context with
room to spare. Size is counted in approximate tokens: characters / 4, the
usual rule of thumb for English text and code with common tokenizers (exact
counts depend on the model; the budget only needs to be stable and cheap).

The budget comes from `[tool.monocell] cell_token_budget` in pyproject.toml
(default 8000). A cell over budget, or a cell importing another cell's
internals (anything but its `contracts`), fails `cell check`.
"""

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BUDGET = 8000
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class CellReport:
    """What `cell check` knows about one cell."""

    name: str
    tokens: int
    files: int
    uses_contracts_of: tuple[str, ...]
    boundary_breaks: tuple[str, ...]


def read_budget(
    pyproject: Path, key: str = "cell_token_budget", default: int = DEFAULT_BUDGET
) -> int:
    """The configured budget; a malformed file or value is refused with the key named."""
    if not pyproject.is_file():
        return default
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"pyproject.toml: not valid TOML ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"pyproject.toml: cannot read: {error}") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise ValueError(f"pyproject.toml: tool: expected a table, got {tool!r}")
    settings = tool.get("monocell", {})
    if not isinstance(settings, dict):
        raise ValueError(f"pyproject.toml: tool.monocell: expected a table, got {settings!r}")
    value = settings.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 100:
        raise ValueError(
            f"pyproject.toml: tool.monocell.{key}: expected an integer >= 100, got {value!r}"
        )
    return value


def cell_sources(project_root: Path, package: str, name: str) -> list[Path]:
    """The cell's own files and its tests: what an assistant reads to change it."""
    cell_dir = project_root / "src" / package / "cells" / name
    files = sorted(p for p in cell_dir.rglob("*") if p.suffix in {".py", ".md"} and p.is_file())
    tests = project_root / "tests" / "cells"
    files += sorted(tests.glob(f"test_{name}.py")) + sorted(tests.glob(f"test_{name}_*.py"))
    return files


def measure(project_root: Path, package: str, name: str) -> CellReport:
    """Size in approximate tokens, and the cells whose modules this cell imports."""
    sources = cell_sources(project_root, package, name)
    characters = sum(len(path.read_text(encoding="utf-8")) for path in sources)
    used: set[str] = set()
    breaks: list[str] = []
    cells_prefix = f"{package}.cells."
    cell_dir = project_root / "src" / package / "cells" / name
    for path in sources:
        if path.suffix != ".py" or cell_dir not in path.parents:
            continue
        for imported in _imports(path, package, name):
            if not imported.startswith(cells_prefix):
                continue
            other, _, rest = imported.removeprefix(cells_prefix).partition(".")
            if other == name:
                continue
            if rest == "contracts":
                used.add(other)
            else:
                relative = path.relative_to(project_root).as_posix()
                breaks.append(f"{relative} imports {imported} (only {other}.contracts is allowed)")
    return CellReport(
        name=name,
        tokens=characters // CHARS_PER_TOKEN,
        files=len(sources),
        uses_contracts_of=tuple(sorted(used)),
        boundary_breaks=tuple(breaks),
    )


def _imports(path: Path, package: str, name: str) -> list[str]:
    """Absolute names of the modules a file imports (relative imports resolved).

    `from pkg.cells.x import contracts` imports the module `pkg.cells.x.contracts`,
    while `from pkg.cells.x.contracts import Event` imports `pkg.cells.x.contracts`.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = f"{package}.cells.{name}"
    cells_depth = len(f"{package}.cells".split("."))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            depth = len(module.split("."))
            if module.startswith(f"{package}.cells") and depth <= cells_depth + 1:
                found += [f"{module}.{alias.name}" for alias in node.names]
            else:
                found.append(module)
    return found
