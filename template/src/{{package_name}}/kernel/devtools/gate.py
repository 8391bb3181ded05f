# Owned by the monocell template: `copier update` replaces this file.
"""The gate: the one command a change must pass before it is accepted.

People, CI and AI assistants run the same steps in the same order, so "it
passed the gate" means one thing. Each step is an ordinary tool run from this
environment; the gate stops at the first failure and says which step failed.
"""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .checks import project_root


@dataclass(frozen=True)
class Step:
    """One check of the gate: a name people recognise and the command it runs."""

    name: str
    command: tuple[str, ...]


def _tool(name: str) -> str:
    """A console script installed next to this interpreter (the project's venv)."""
    return str(Path(sys.executable).with_name(name))


def steps(package: str) -> list[Step]:
    """The gate's steps, cheapest first so failures come fast."""
    python = sys.executable
    return [
        Step(
            "no unresolved merges",
            (python, "-m", f"{package}.kernel.devtools.checks", "no-conflicts"),
        ),
        Step(
            "template files unchanged",
            (python, "-m", f"{package}.kernel.devtools.checks", "template-files"),
        ),
        Step("lint (ruff)", (python, "-m", "ruff", "check")),
        Step("format (ruff)", (python, "-m", "ruff", "format", "--check")),
        Step("boundaries (import-linter)", (_tool("lint-imports"),)),
        Step("types (mypy --strict)", (python, "-m", "mypy")),
        Step(
            "cells (size budget, boundaries, provenance)", (python, "-m", package, "cell", "check")
        ),
        Step("contracts (no breaking change)", (python, "-m", package, "contracts", "diff")),
        Step("behaviour (examples replayed)", (python, "-m", package, "cell", "replay")),
        Step("docs (commands as written)", (python, "-m", package, "docs", "check")),
        Step("tests (pytest)", (python, "-m", "pytest", "-q")),
    ]


def run(selected: list[Step], echo: bool = True) -> int:
    """Run the steps in order; return 0 when all pass, else the failing step's code.

    Every step runs from the project root, wherever the gate was started.
    """
    root = project_root(Path.cwd())
    for step in selected:
        started = time.perf_counter()
        if echo:
            print(f"gate: {step.name} ...", flush=True)
        result = subprocess.run(step.command, check=False, cwd=root)  # noqa: S603
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            print(f"gate: FAILED at '{step.name}' after {elapsed:.1f}s", flush=True)
            return result.returncode
        if echo:
            print(f"gate: {step.name} passed ({elapsed:.1f}s)", flush=True)
    print("gate: all checks passed", flush=True)
    return 0
