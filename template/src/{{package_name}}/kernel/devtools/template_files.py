# Owned by the monocell template: `copier update` replaces this file.
"""Template-owned files stay as the template wrote them.

`copier copy` and `copier update` write `.template-files.sha256`: the SHA-256
of every file whose first lines say "Owned by the monocell template", as the
template rendered it. An edit to one of them would surface only at the next
`copier update`, as a merge conflict in code the owner did not write; this
check finds it at the next commit instead, one line per file, with the two
ways out. (The manifest is written by the template's post-generation hook,
which cannot import this module: the name and format are repeated there.)
"""

import hashlib
import re
from pathlib import Path, PurePosixPath

MANIFEST = ".template-files.sha256"
# What marks a project Copier generated: a project without it has no manifest to keep.
ANSWERS_FILE = ".copier-answers.yml"
WAYS_OUT = (
    "move the change into a cell or a module of your own, or propose it upstream "
    "and take it with `copier update`"
)
_ENTRY = re.compile(r"^(?P<digest>[0-9a-f]{64})  (?P<name>.+)$")


class ManifestError(ValueError):
    """The manifest itself cannot be trusted (missing, unreadable or malformed)."""


def manifest_entries(root: Path) -> dict[str, str] | None:
    """Path -> SHA-256 from the manifest; None for a project Copier did not generate."""
    path = root / MANIFEST
    if not path.exists() and not (root / ANSWERS_FILE).is_file():
        return None
    if not path.is_file():
        raise ManifestError(
            f"{MANIFEST}: missing or not a file; restore it (git checkout) or run `copier update`"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as error:
        raise ManifestError(f"{MANIFEST}: cannot read it ({error})") from None
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _ENTRY.match(line)
        name = match["name"] if match else ""
        if match is None or not _inside_project(name):
            raise ManifestError(
                f"{MANIFEST}:{number}: expected '<sha256>  <relative path>' (lowercase hex)"
            )
        if name in entries:
            raise ManifestError(f"{MANIFEST}:{number}: {name} is listed twice")
        entries[name] = match["digest"]
    return entries


def _inside_project(name: str) -> bool:
    """A relative path that stays inside the project (no absolute path, no `..`)."""
    posix = PurePosixPath(name)
    return not posix.is_absolute() and ".." not in posix.parts and "\\" not in name


def _digest(path: Path) -> str:
    with path.open("rb") as content:  # in chunks: a large file is not read whole
        return hashlib.file_digest(content, "sha256").hexdigest()


def edited_template_files(root: Path) -> list[str]:
    """One line per template-owned file that differs from the manifest or is gone."""
    entries = manifest_entries(root)
    if entries is None:
        return []
    problems = []
    for name, digest in entries.items():
        path = root / name
        if path.is_symlink() or not path.is_file():
            problems.append(f"{name}: template-owned file is missing; restore it (git checkout)")
        elif _digest(path) != digest:
            problems.append(f"{name}: template-owned file was edited; {WAYS_OUT}")
    return problems
