# Owned by the monocell template: `copier update` replaces this file.
"""Writing generated files all or nothing.

Commands that write files (snapshots, diagrams, deploy files, `topology.toml`
edits) must not leave half a result behind when a disk fills up or a path is
wrong. Each file is first written to a temporary file beside its target; only
when every one is written are they moved into place with `os.replace`, which
is atomic on one file system. The standard library has the pieces but no
"write these files or none" call, hence these few lines.
"""

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_files(files: Mapping[Path, str]) -> None:
    """Write every file (UTF-8) or, on an OSError, none of them, and re-raise.

    Folders made for them are removed again on failure too (when still empty).
    """
    staged: list[tuple[str, Path]] = []
    made: list[Path] = []  # folders this call created, outermost first
    try:
        for target, text in files.items():
            if target.is_dir():
                raise IsADirectoryError(f"{target} is a directory")
            made += _missing_folders(target.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            staged.append((temporary, target))
            Path(temporary).chmod(_mode_for(target))
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
    except BaseException:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):  # not empty: something else is in it now
                folder.rmdir()
        raise
    for temporary, target in staged:
        Path(temporary).replace(target)


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def _mode_for(target: Path) -> int:
    """The target's current permissions, or what a plain `open()` would give it."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_text(path: Path, text: str) -> None:
    """Replace one file's text atomically: readers see the old or the new file."""
    write_files({path: text})
