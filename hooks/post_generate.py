"""Runs once after `copier copy` and after every `copier update` (Copier `_tasks`).

It does two things, each safe to repeat and each skipped with a note when its
tool is missing, so generation never fails half-way because of the machine:

1. `git init` when the project is not already inside a git work tree, because
   `copier update` needs the project under git.
2. `uv lock` when `uv` is on PATH, so the project starts with a committed-ready
   `uv.lock`; after an update it refreshes the lock for changed dependencies.

Set MONOCELL_SKIP_LOCK=1 to skip step 2 (offline machines).

During `copier update`, Copier also renders the old and the new template
version into temporary directories to compute the diff, and runs this task
there too. Nothing there is kept, so both steps are skipped in those copies:
locking them would only cost two dependency resolutions per update.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def inside_git_work_tree(project: Path) -> bool:
    """True when `project` already belongs to a git repository."""
    result = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "true"


def ensure_git(project: Path) -> None:
    if shutil.which("git") is None:
        print("monocell: git not found; run `git init` yourself before `copier update`.")
        return
    if not inside_git_work_tree(project):
        subprocess.run(["git", "init", "--quiet"], cwd=project, check=True)


def lock_dependencies(project: Path) -> None:
    if os.environ.get("MONOCELL_SKIP_LOCK") == "1":
        print("monocell: MONOCELL_SKIP_LOCK=1, not writing uv.lock.")
        return
    uv = shutil.which("uv")
    if uv is None:
        print("monocell: uv not found; `uv sync` will write uv.lock on first use.")
        return
    result = subprocess.run(
        [uv, "lock", "--quiet"], cwd=project, check=False, capture_output=True, text=True
    )
    if result.returncode != 0:
        # uv's first line says why (no interpreter for requires-python, offline, ...).
        reason = next(iter(result.stderr.strip().splitlines()), "no reason given")
        print(
            f"monocell: `uv lock` failed ({reason}); run `uv lock` again once that is fixed"
            " (UV_PYTHON=<path> names an interpreter).",
            file=sys.stderr,
        )


# Copier names its throw-away update renders `copier._main.old_copy.<random>`
# (`copier.main.` in older releases) and `...new_copy.<random>`.
_COPIER_SCRATCH = re.compile(r"^copier\.(_main|main)\.(old|new)_copy\.")


def is_copier_scratch(project: Path) -> bool:
    """True inside the temporary copies Copier renders to compute an update's diff."""
    return any(_COPIER_SCRATCH.match(part.name) for part in (project, *project.parents))


def main() -> None:
    project = Path.cwd()
    if is_copier_scratch(project):
        return
    ensure_git(project)
    lock_dependencies(project)


if __name__ == "__main__":
    main()
