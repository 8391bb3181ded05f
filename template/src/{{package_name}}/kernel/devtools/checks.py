# Owned by the monocell template: `copier update` replaces this file.
"""Repository hygiene checks that no linter covers: unresolved merges, edited template files.

`copier update` merges template changes into your files. Where both sides
changed the same lines it leaves inline conflict markers, and where it could
not merge at all it leaves `*.rej` files. Either one must stop every commit
and every CI run until a person resolves it; this module is that stop.

Run it as `python -m <package>.kernel.devtools.checks no-conflicts [ROOT]`;
`template-files [ROOT]` runs the check of `template_files.py`.
"""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from .template_files import edited_template_files

# A conflict block opens with 7 '<', holds a line of exactly 7 '=', closes with 7 '>'.
_OPEN = re.compile(r"^<{7}( |$)")
_CLOSE = re.compile(r"^>{7}( |$)")
_SKIPPED_DIRS = {".git", ".venv", "node_modules", "site", "__pycache__"}


def project_files(root: Path) -> Iterator[Path]:
    """Files git tracks or would track (untracked but not ignored); a walk without git."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=root,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        # A path in a merge conflict is listed once per stage: list it once.
        for name in dict.fromkeys(listed.stdout.decode().split("\0")):
            if name and (root / name).is_file():
                yield root / name
        return
    for path in root.rglob("*"):
        if path.is_file() and not _SKIPPED_DIRS.intersection(path.relative_to(root).parts):
            yield path


def conflict_problems(root: Path) -> list[str]:
    """Every leftover of an unresolved merge under `root`, one line each."""
    problems: list[str] = []
    for path in project_files(root):
        relative = path.relative_to(root)
        if path.suffix == ".rej":
            problems.append(f"{relative}: rejected hunk from a merge; apply it, then delete")
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        opened = [n for n, line in enumerate(lines, 1) if _OPEN.match(line)]
        closed = [n for n, line in enumerate(lines, 1) if _CLOSE.match(line)]
        separators = [n for n, line in enumerate(lines, 1) if line == "=" * 7]
        if opened and (closed or separators):
            problems.append(f"{relative}:{opened[0]}: unresolved conflict markers")
    return problems


def project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding pyproject.toml (else `start`)."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


CHECKS = {"no-conflicts": conflict_problems, "template-files": edited_template_files}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 1 and list the files when a check finds a problem."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in CHECKS or len(args) > 2:
        print(
            "usage: python -m <package>.kernel.devtools.checks "
            "{no-conflicts,template-files} [ROOT]",
            file=sys.stderr,
        )
        return 2
    root = Path(args[1]) if len(args) == 2 else project_root(Path.cwd())
    try:
        problems = CHECKS[args[0]](root)
    except (ValueError, OSError) as error:  # ManifestError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
