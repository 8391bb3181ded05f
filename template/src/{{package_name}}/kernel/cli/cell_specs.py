# Owned by the monocell template: `copier update` replaces this file.
"""`cell record`, `cell replay`, `cell regenerated`, `cell context`: a cell from its spec.

A cell's spec is its `SPEC.md` and `examples.toml`. `record` runs the examples
and writes what came out; `replay` (a gate step) runs them again and fails on
any difference, field by field; `regenerated` records what produced the code
from which spec (`cell check` fails when either changed since); `context`
prints what an assistant needs to regenerate the cell. See
`kernel.devtools.examples`, `.behaviour`, `.provenance` and `.context_bundle`.
"""

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from ... import COMMAND_NAME
from ..core.cell import Cell
from ..devtools import budget, context_bundle, provenance
from ..devtools.examples import (
    Examples,
    ExamplesError,
    examples_path,
    load,
    where,
    write_expectations,
)
from ..runtime.registry import PACKAGE, load_cells
from .dev_only import require_development_libraries

CellsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Cells to act on (default: every cell).", show_default=False),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _root() -> Path:
    root = Path.cwd()
    if not (root / "src" / PACKAGE / "app.py").is_file():
        raise _fail(f"run this from the project root (src/{PACKAGE}/app.py not found)")
    return root


def _cell_directory(root: Path, cell: Cell) -> Path:
    return root / "src" / PACKAGE / "cells" / cell.name


def _chosen(names: Sequence[str]) -> list[Cell]:
    cells = {cell.name: cell for cell in load_cells()}
    for name in names:
        if name not in cells:
            raise _fail(f"no cell named {name!r} (known: {', '.join(sorted(cells)) or 'none'})")
    return [cells[name] for name in dict.fromkeys(names)] if names else list(cells.values())


def _load(root: Path, cell: Cell) -> Examples:
    # Imported here: it runs cells on an in-memory bus, which `serve` never needs.
    from ..devtools.testing import events_published_by

    return load(examples_path(_cell_directory(root, cell)), cell, events_published_by(cell))


def _run(cell: Cell, examples: Examples) -> dict[tuple[int, int], dict[str, object]]:
    from ..devtools import behaviour

    return asyncio.run(behaviour.run(cell, examples))


def record(cells: CellsArgument = None) -> None:
    """Run each cell's examples and write what came out under their `expect` tables."""
    require_development_libraries("cell record")
    root = _root()
    for cell in _chosen(cells or []):
        try:
            examples = _load(root, cell)
            outcomes = _run(cell, examples)
            write_expectations(examples.path, outcomes)
        except ExamplesError as error:
            raise _fail(str(error)) from None
        typer.echo(
            f"{cell.name}: recorded {len(outcomes)} steps of {len(examples.examples)} examples"
        )


def replay(cells: CellsArgument = None) -> None:
    """Run each cell's examples again; fail, field by field, where behaviour changed."""
    require_development_libraries("cell replay")
    from ..devtools.behaviour import differences

    root = _root()
    changed: list[str] = []
    for cell in _chosen(cells or []):
        if not cells and not provenance.governed(_cell_directory(root, cell)):
            typer.echo(f"{cell.name}: no spec or examples yet, nothing to replay")
            continue
        try:
            examples = _load(root, cell)
            outcomes = _run(cell, examples)
        except ExamplesError as error:
            raise _fail(str(error)) from None
        before = len(changed)
        for example in examples.examples:
            for step in example.steps:
                named = where(examples, example, step)
                if step.expect is None:
                    changed.append(
                        f"{named}: not recorded; run "
                        f"`uv run {COMMAND_NAME} cell record {cell.name}`"
                    )
                    continue
                found = differences(step.expect, outcomes[(example.number, step.number)])
                if found:
                    changed.append(f"{named}: {'; '.join(found)}")
        verdict = "unchanged" if len(changed) == before else "CHANGED"
        typer.echo(f"{cell.name}: {len(examples.examples)} examples replayed, behaviour {verdict}")
    for line in changed:
        typer.echo(f"FAIL {line}", err=True)
    if changed:
        typer.echo(
            "behaviour changed: fix the code, or if it is meant, "
            f"`uv run {COMMAND_NAME} cell record` and commit the examples for review",
            err=True,
        )
        raise typer.Exit(1)


def regenerated(
    name: Annotated[str, typer.Argument(help="The cell whose code was (re)generated or reviewed.")],
    model: Annotated[
        str, typer.Option(help="What produced the code: a pinned model id, or `human`.")
    ],
    instructions: Annotated[
        str, typer.Option(help="The prompt or instructions version it was given.")
    ] = "AGENTS.md",
) -> None:
    """Record that the cell's current code was produced from its current spec by MODEL."""
    root = _root()
    (cell,) = _chosen([name])
    try:
        saved = provenance.write_record(_cell_directory(root, cell), PACKAGE, model, instructions)
    except provenance.ProvenanceError as error:
        raise _fail(f"cells/{cell.name}: {error}") from None
    typer.echo(
        f"{cell.name}: recorded {saved.model} ({saved.instructions}) on {saved.date}, "
        f"spec {saved.spec_sha256[:12]}, code {saved.code_sha256[:12]}"
    )


def context(
    name: Annotated[str, typer.Argument(help="The cell to regenerate.")],
) -> None:
    """Print everything needed to regenerate the cell, within the context budget."""
    root = _root()
    (cell,) = _chosen([name])
    try:
        limit = budget.read_budget(
            root / "pyproject.toml",
            "context_token_budget",
            context_bundle.DEFAULT_CONTEXT_BUDGET,
        )
    except ValueError as error:
        raise _fail(str(error)) from None
    found = context_bundle.bundle(root, PACKAGE, cell.name, limit)
    typer.echo(found.text, nl=False)
    if found.tokens > limit:
        typer.echo(
            f"error: cells/{cell.name}: the context is ~{found.tokens} tokens, over the budget "
            f"of {limit}; split the cell or shorten its spec",
            err=True,
        )
        raise typer.Exit(1)
