"""Rewrite the locks the template ships, one per minimum Python (python-3.11.lock, ...).

Run from the repository root after changing a generated project's dependencies,
or to take newer releases (the template's tests then run against them):

    uv run python hooks/locks/refresh.py

For each `python_min` it renders the default project (uncommitted changes
included), resolves it with `uv lock` on that Python's real interpreter and
keeps the lock. The post-generation hook gives a new project the lock of its
minimum Python, renamed to the project's distribution name. A lock that no
longer fits the template fails tests/test_generated_project.py, which names
this script.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LOCKS = Path(__file__).resolve().parent
TEMPLATE = LOCKS.parent.parent
PYTHONS = ("3.11", "3.12", "3.13")  # copier.yml's choices for python_min
PYENV_VERSIONS = Path.home() / ".pyenv" / "versions"


def interpreter(minor: str) -> str | None:
    """The newest pyenv build of `minor`, else `python<minor>` on PATH, else None.

    tests/test_generated_project.py runs each minimum Python's checks on this one.
    """
    for version in sorted(PYENV_VERSIONS.glob(f"{minor}.*"), reverse=True):
        if (version / "bin" / f"python{minor}").is_file():
            return str(version / "bin" / f"python{minor}")
    return shutil.which(f"python{minor}")


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"refresh: `{' '.join(cmd)}` failed:\n{result.stderr[-2000:]}")


def main() -> None:
    env = {**os.environ, "MONOCELL_SKIP_LOCK": "1"}
    copier = str(Path(sys.executable).parent / "copier")
    uv = shutil.which("uv") or sys.exit("refresh: uv not found")
    with tempfile.TemporaryDirectory() as scratch:
        for minor in PYTHONS:
            python = interpreter(minor) or sys.exit(
                f"refresh: no Python {minor} interpreter (looked in {PYENV_VERSIONS} and on PATH)"
            )
            project = Path(scratch) / f"python-{minor}"
            run(
                [copier, "copy", "--trust", "--defaults", "--quiet", "--data",
                 f"python_min={minor}", str(TEMPLATE), str(project)],
                TEMPLATE, env,
            )  # fmt: skip
            run([uv, "lock", "--quiet", "--python", python], project, env)
            shutil.copyfile(project / "uv.lock", LOCKS / f"python-{minor}.lock")
            print(f"refresh: hooks/locks/python-{minor}.lock written (Python {minor})")


if __name__ == "__main__":
    main()
