"""Shared helpers for the template's tests.

Rendering goes through pytest-copie (`copie` fixture) for the tree and answer
checks, and through the real `copier` command line where the user-facing
behaviour (exit codes, messages, prompts) is what is under test.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import plumbum
import pytest

TEMPLATE = Path(__file__).resolve().parent.parent

# tests/kernel/ holds the kernel's own tests as templates: test_kernel.py renders
# them into a generated project and runs them there, never from here.
collect_ignore = ["kernel"]
COPIER = str(Path(sys.executable).with_name("copier"))

# Answers that differ from the defaults in every question at least once across
# the combinations below (python_min 3.12/3.13 only render: this machine has
# Python 3.11 alone, so their generated checks cannot run here).
COMBINATIONS: dict[str, dict[str, object]] = {
    "defaults": {},
    "apache-312-bare": {
        "project_name": "Inventory Hub",
        "license": "Apache-2.0",
        "python_min": "3.12",
        "example_cells": False,
        "ci_provider": "none",
    },
    "bsd-313-custom-names": {
        "project_name": "Ledger",
        "package_name": "ledger_core",
        "dist_name": "acme-ledger",
        "command_name": "ledger",
        "description": "Keeps the books.",
        "author_name": "Ada Lovelace",
        "author_email": "ada@example.org",
        "license": "BSD-3-Clause",
        "copyright_holder": "Acme Ltd",
        "copyright_year": "2031",
        "python_min": "3.13",
        "github_repository": "acme/ledger",
    },
    "proprietary-311-bare": {
        "project_name": "Back Office",
        "license": "proprietary",
        "example_cells": False,
    },
}


# Render-only tests skip `uv lock` in the post-generation hook. Copier runs its
# tasks through plumbum, whose `local.env` is a copy of the environment taken
# when plumbum was first imported (by the pytest-copie plugin, before this
# file), so the variable goes into both. Tests that check a generated project
# call `run_copier(..., lock=True)`, a fresh process without it.
os.environ["MONOCELL_SKIP_LOCK"] = "1"
plumbum.local.env["MONOCELL_SKIP_LOCK"] = "1"

# The tests start hundreds of Python processes (copier, and each generated project's
# tools, tests and commands), each importing the same libraries. With
# PYTHONDONTWRITEBYTECODE set, as it is on some machines, every one of them compiles
# those libraries again (a generated project's tests run ~1.6x slower); the
# environments they import from are this repository's .venv and the tests' own
# projects, so they may keep their bytecode.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
plumbum.local.env.pop("PYTHONDONTWRITEBYTECODE", None)


def run_copier(
    *args: str, cwd: Path | None = None, lock: bool = False, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real `copier` command line with no terminal attached."""
    env = {**os.environ, "NO_COLOR": "1", **extra_env}
    if lock:
        env.pop("MONOCELL_SKIP_LOCK")
    return subprocess.run(
        [COPIER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command in a generated project; fail the test with its output if it fails."""
    result = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def generated_env() -> dict[str, str]:
    """Environment for commands inside a generated project: its own venv, not ours."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT"}}
    env["NO_COLOR"] = "1"
    return env


def sh(
    project: Path, *cmd: str, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command inside a generated project and check its exit status."""
    result = subprocess.run(
        list(cmd),
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**generated_env(), **(env or {})},
    )
    assert result.returncode == expect, (
        f"`{' '.join(cmd)}` exited {result.returncode}, expected {expect}:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def render_defaults(destination: Path) -> Path:
    """Render the template with default answers (hooks run, `uv lock` skipped)."""
    from copier import run_copy

    run_copy(
        str(TEMPLATE), str(destination), defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD"
    )
    return destination


# Parallel runs (pytest-xdist, `--dist loadgroup`; see pyproject.toml). A module-scoped
# fixture that renders and syncs a project is set up once per worker that runs one of
# its tests: the tests sharing it go to one worker, as one group per parameter, so
# the full-check combinations still run side by side. Cheap module fixtures (a git
# copy of the template) are not listed: their long tests are better spread.
SHARED_PROJECT_FIXTURES = ("project", "github_dir")
# Heaviest first (measured with --durations), so the longest chains start at once and
# the many short tests fill the gaps at the end; other modules follow in file order.
HEAVIEST_FIRST = (
    "test_kernel.py",
    "test_cells_command.py",
    "test_generated_project.py",
    "test_update.py",
    "test_readme.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in SHARED_PROJECT_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                callspec = getattr(item, "callspec", None)
                param = callspec.params.get(name) if callspec is not None else None
                group = f"{item.path.name}::{name}" + (f"[{param}]" if param else "")
                item.add_marker(pytest.mark.xdist_group(group))

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return HEAVIEST_FIRST.index(name) if name in HEAVIEST_FIRST else len(HEAVIEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module is kept


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1 (the tests' servers bind only there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
