"""Runs once after `copier copy` and after every `copier update` (Copier `_tasks`).

It does three things (run as `post_generate.py prune-manifest`, after an update,
it only prunes the manifest of step 1), each safe to repeat and each skipped with a note when its
tool is missing, so generation never fails half-way because of the machine:

1. Writes `.template-files.sha256`: the SHA-256 of every template-owned file
   (those whose first lines say "Owned by the monocell template") as the
   template rendered it. The gate compares against it, so an edit to a
   template-owned file is found before `copier update` turns it into a conflict.
2. `git init` when the project is not already inside a git work tree, because
   `copier update` needs the project under git.
3. `uv lock` when `uv` is on PATH, so the project starts with a committed-ready
   `uv.lock`; after an update it refreshes the lock for changed dependencies.
   A new project starts from the lock the template ships for its minimum Python
   (`hooks/locks/`, the versions the template's own tests ran with), so `uv lock`
   only checks it (~0.1 s) instead of resolving 119 packages against the index
   (~2 s with a warm cache); it resolves anew whenever the shipped lock no longer
   fits (another index, an older uv).

Set MONOCELL_SKIP_LOCK=1 to skip step 3 (offline machines).

Arguments: none (as in older template versions), `<dist_name> <python_min>` (the
task after a copy or an update), or `prune-manifest`.

During `copier update`, Copier renders the new version over the project and
runs this task before it re-applies the owner's changes, so the manifest holds
the template's hashes, not the owner's. It also renders the old and the new
version into temporary directories to compute the diff, and runs this task
there too: the manifest is written there as well (so it never shows up in the
diff), steps 2 and 3 are skipped (nothing there is kept).
"""

from __future__ import annotations  # Copier may run on Python 3.9

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The same name, marker and format are read by the project's
# `kernel/devtools/template_files.py`; the hook cannot import it (the project is
# not installed yet when the hook runs).
MANIFEST = ".template-files.sha256"
OWNED_MARKER = "Owned by the monocell template"
MANIFEST_HEADER = (
    "# Owned by the monocell template: written by copier copy and copier update.\n"
    "# SHA-256 of each template-owned file as the template wrote it; `gate` fails\n"
    "# when one differs. Do not edit: move changes into your own code instead.\n"
)
_NOT_PROJECT = {".git", ".venv", "node_modules", "site", "__pycache__", ".mypy_cache"}


def template_owned_files(project: Path) -> list[Path]:
    """Files whose first three lines carry the ownership marker, in path order."""
    owned = []
    for path in sorted(project.rglob("*")):
        if not path.is_file() or _NOT_PROJECT.intersection(path.relative_to(project).parts):
            continue
        if path.name == MANIFEST:
            continue
        try:
            with path.open(encoding="utf-8") as text:
                head = "".join(text.readline() for _ in range(3))
        except (UnicodeDecodeError, OSError):
            continue
        if OWNED_MARKER in head:
            owned.append(path)
    return owned


def write_manifest(project: Path) -> None:
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(project).as_posix()}\n"
        for path in template_owned_files(project)
    ]
    (project / MANIFEST).write_text(MANIFEST_HEADER + "".join(lines), encoding="utf-8")


def prune_manifest(project: Path) -> None:
    """Drop entries of files that are gone: those the update removed.

    The manifest is written before Copier removes the files the new version no
    longer has, so it still lists them. This runs as an "after" migration, once
    the update is complete; it never adds or re-hashes an entry, so an owner's
    edit that the update merged is still reported.
    """
    manifest = project / MANIFEST
    if not manifest.is_file():
        return
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [
        line
        for line in lines
        if line.startswith("#")
        or "  " not in line
        or (project / line.split("  ", 1)[1].strip()).is_file()
    ]
    if kept != lines:
        manifest.write_text("".join(kept), encoding="utf-8")


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


SHIPPED_LOCKS = Path(__file__).resolve().parent / "locks"
_PACKAGE = "\n[[package]]\n"
_PROJECT_SOURCE = '\nsource = { editable = "." }\n'


def shipped_lock(dist_name: str, python_min: str) -> str | None:
    """The template's lock for `python_min`, made out to `dist_name`; None if none ships.

    The locks are written for a placeholder project (see locks/refresh.py); only
    the project's own entry carries its name. It is renamed and moved to its
    sorted place, where uv keeps it, so the project's first `uv add` rewrites
    nothing else. Plain text on purpose: the hook runs on Copier's Python, which
    may have no TOML writer.
    """
    path = SHIPPED_LOCKS / f"python-{python_min}.lock"
    if not path.is_file():
        return None
    header, *packages = path.read_text(encoding="utf-8").split(_PACKAGE)
    ours = [package for package in packages if _PROJECT_SOURCE in f"\n{package}"]
    if len(ours) != 1:
        return None
    packages.remove(ours[0])
    project = re.sub(r'^name = "[^"]*"', f'name = "{dist_name}"', ours[0], count=1)
    place = next(
        (i for i, package in enumerate(packages) if _package_name(package) > dist_name),
        len(packages),
    )
    packages.insert(place, project)
    return _PACKAGE.join([header, *packages])


def _package_name(package: str) -> str:
    return package.split("\n", 1)[0].removeprefix('name = "').removesuffix('"')


def lock_dependencies(project: Path, dist_name: str | None, python_min: str | None) -> None:
    if os.environ.get("MONOCELL_SKIP_LOCK") == "1":
        print("monocell: MONOCELL_SKIP_LOCK=1, not writing uv.lock.")
        return
    uv = shutil.which("uv")
    if uv is None:
        print("monocell: uv not found; `uv sync` will write uv.lock on first use.")
        return
    lock = project / "uv.lock"
    seeded = None
    if not lock.exists() and dist_name and python_min:
        seeded = shipped_lock(dist_name, python_min)
        if seeded is not None:
            lock.write_text(seeded, encoding="utf-8")
    result = _uv_lock(uv, project)
    if result.returncode != 0 and seeded is not None:
        # A uv that cannot read the shipped lock (an older release) resolves afresh.
        lock.unlink(missing_ok=True)
        result = _uv_lock(uv, project)
    if result.returncode != 0:
        # uv's first line says why (no interpreter for requires-python, offline, ...).
        reason = next(iter(result.stderr.strip().splitlines()), "no reason given")
        print(
            f"monocell: `uv lock` failed ({reason}); run `uv lock` again once that is fixed"
            " (UV_PYTHON=<path> names an interpreter).",
            file=sys.stderr,
        )


def _uv_lock(uv: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv, "lock", "--quiet"], cwd=project, check=False, capture_output=True, text=True
    )


# Copier names its throw-away update renders `copier._main.old_copy.<random>`
# (`copier.main.` in older releases) and `...new_copy.<random>`.
_COPIER_SCRATCH = re.compile(r"^copier\.(_main|main)\.(old|new)_copy\.")


def is_copier_scratch(project: Path) -> bool:
    """True inside the temporary copies Copier renders to compute an update's diff."""
    return any(_COPIER_SCRATCH.match(part.name) for part in (project, *project.parents))


def main() -> None:
    project = Path.cwd()
    arguments = sys.argv[1:]
    if arguments == ["prune-manifest"]:
        prune_manifest(project)
        return
    if len(arguments) not in (0, 2):
        sys.exit("usage: post_generate.py [<dist_name> <python_min> | prune-manifest]")
    dist_name, python_min = arguments or (None, None)
    write_manifest(project)
    if is_copier_scratch(project):
        return
    ensure_git(project)
    lock_dependencies(project, dist_name, python_min)


if __name__ == "__main__":
    main()
