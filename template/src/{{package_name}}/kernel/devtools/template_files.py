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
from pathlib import Path

MANIFEST = ".template-files.sha256"
WAYS_OUT = (
    "move the change into a cell or a module of your own, or propose it upstream "
    "and take it with `copier update`"
)


def manifest_entries(root: Path) -> dict[str, str] | None:
    """Path -> SHA-256 from the manifest; None when the project has none."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not name:
            raise ValueError(f"{MANIFEST}:{number}: expected '<sha256>  <path>'")
        entries[name] = digest
    return entries


def edited_template_files(root: Path) -> list[str]:
    """One line per template-owned file that differs from the manifest or is gone."""
    entries = manifest_entries(root)
    if entries is None:
        return []
    problems = []
    for name, digest in entries.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: template-owned file is missing; restore it (git checkout)")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: template-owned file was edited; {WAYS_OUT}")
    return problems
