# Owned by the monocell template: `copier update` replaces this file.
"""`cell context NAME`: everything needed to regenerate a cell, and nothing else.

The bundle an assistant (or a person) gets: the project's rules (AGENTS.md),
the cell's spec and examples, its code, the contracts it imports from other
cells, and the kernel API it uses as signatures and docstrings (no bodies:
the kernel is not theirs to change). Everything the cell's code imports is in
it, so the bundle alone is enough; its size is counted against
`[tool.monocell] context_token_budget` and shown.
"""

import ast
import enum
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

from .budget import CHARS_PER_TOKEN
from .provenance import SPEC_FILE, code_files

DEFAULT_CONTEXT_BUDGET = 16000


@dataclass(frozen=True)
class Bundle:
    text: str
    tokens: int
    imported: tuple[str, ...]  # every "module.name" the cell's code imports


def imports_of(files: list[Path], package: str, cell: str) -> dict[str, set[str]]:
    """Module -> names the cell's Python files import from the project (own modules aside)."""
    found: dict[str, set[str]] = {}
    for path in files:
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            own = node.module.startswith(f"{package}.cells.{cell}")
            if node.module.split(".")[0] == package and not own:
                found.setdefault(node.module, set()).update(a.name for a in node.names)
    return found


def _api(module: str, name: str) -> str:
    """A kernel name as a newcomer needs it: signature and docstring, no body."""
    target = getattr(importlib.import_module(module), name)
    doc = inspect.getdoc(target) or ""
    if inspect.isclass(target):
        lines = [f"class {name}({', '.join(b.__name__ for b in target.__bases__)}):"]
        lines += [f'    """{doc}"""'] if doc else []
        try:  # how it is built: a dataclass's fields, a class's __init__
            built = str(inspect.signature(target))
        except (TypeError, ValueError):
            built = "()"
        if built not in ("()", "(*args, **kwargs)") and not issubclass(target, enum.Enum):
            lines.append(f"    def __init__{built}: ...")
        for attribute, value in vars(target).items():
            if attribute.startswith("_"):
                continue
            if isinstance(value, property):
                returns = inspect.signature(value.fget).return_annotation if value.fget else ""
                lines.append(f"    {attribute}: {inspect.formatannotation(returns)}  # property")
                continue
            if not callable(value):
                continue
            try:
                signature = str(inspect.signature(value))
            except (TypeError, ValueError):
                continue
            first = (inspect.getdoc(value) or "").split("\n", 1)[0]
            lines.append(f"    def {attribute}{signature}: ...  # {first}".rstrip(" #"))
        return "\n".join(lines)
    if callable(target):
        try:
            signature = str(inspect.signature(target))
        except (TypeError, ValueError):
            signature = "(...)"
        return f'def {name}{signature}:\n    """{doc}"""'
    return f"{name} = {target!r}"


def bundle(root: Path, package: str, cell: str, budget: int) -> Bundle:
    """The context for regenerating `cell`, from the project at `root`."""
    directory = root / "src" / package / "cells" / cell
    sections: list[str] = [
        f"# Context for regenerating the `{cell}` cell\n",
        "Regenerate the cell's code from its spec and examples below; keep every rule.\n",
    ]
    agents = root / "AGENTS.md"
    if agents.is_file():
        sections.append(f"## Project rules (AGENTS.md)\n\n{agents.read_text(encoding='utf-8')}")
    for name in (SPEC_FILE, "examples.toml"):
        path = directory / name
        if path.is_file():
            sections.append(f"## {name}\n\n{path.read_text(encoding='utf-8')}")
    code = code_files(directory)
    for path in code:
        relative = path.relative_to(root).as_posix()
        sections.append(f"## {relative}\n\n```python\n{path.read_text(encoding='utf-8')}```\n")
    imported = imports_of(code, package, cell)
    contracts = sorted(m for m in imported if m.startswith(f"{package}.cells."))
    for module in contracts:
        path = root / "src" / Path(*module.split("."))
        source = path.with_suffix(".py")
        sections.append(
            f"## {source.relative_to(root).as_posix()} (another cell's contracts)\n\n"
            f"```python\n{source.read_text(encoding='utf-8')}```\n"
        )
    kernel = sorted(m for m in imported if m.startswith(f"{package}.kernel"))
    if kernel:
        api = [
            f"# from {module} import {name}\n{_api(module, name)}"
            for module in kernel
            for name in sorted(imported[module])
        ]
        sections.append("## Kernel API the cell uses\n\n```python\n" + "\n\n".join(api) + "\n```\n")
    text = "\n".join(sections)
    tokens = len(text) // CHARS_PER_TOKEN
    text += f"\n(~{tokens} tokens of the context budget of {budget})\n"
    names = tuple(sorted(f"{m}.{n}" for m, names in imported.items() for n in names))
    return Bundle(text=text, tokens=tokens, imported=names)
