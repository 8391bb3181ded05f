"""Shared helpers for the template's tests.

Rendering goes through pytest-copie (`copie` fixture) for the tree and answer
checks, and through the real `copier` command line where the user-facing
behaviour (exit codes, messages, prompts) is what is under test.
"""

import os
import subprocess
import sys
from pathlib import Path

import plumbum

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
