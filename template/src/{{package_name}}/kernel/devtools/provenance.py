# Owned by the monocell template: `copier update` replaces this file.
"""Where a cell's code came from: `cells/<cell>/regeneration.toml`.

A cell's requirements are its `SPEC.md` and the inputs of its `examples.toml`;
its code is every other file of the package. When the code is (re)generated
from the spec, by a person or an assistant, `cell regenerated NAME --model ...`
writes what produced it and a hash of both sides:

    model = "an-assistant-2026-10"      # or "human" for a reviewed hand edit
    instructions = "AGENTS.md@3f2a91c"  # the prompt or instructions version
    date = "2026-12-03"
    spec_sha256 = "..."
    code_sha256 = "..."

`cell check` (a gate step) then fails, one line each, on a spec changed since
(the code may no longer do what it says) and on code changed since (nobody
recorded who or what produced it). Recorded outcomes under `expect` are not
part of the spec hash: re-recording after an intended change does not count
as a new requirement.
"""

import datetime
import hashlib
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

SPEC_FILE = "SPEC.md"
RECORD_FILE = "regeneration.toml"
# Files that are the spec or the record, not the code.
NOT_CODE = {SPEC_FILE, RECORD_FILE, "examples.toml"}
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}\Z")
HEADER = "# Written by `cell regenerated`: what produced this cell's code, from which spec.\n"


class ProvenanceError(Exception):
    """A missing or malformed record, or bad input to `cell regenerated`."""


@dataclass(frozen=True)
class Record:
    model: str
    instructions: str
    date: str
    spec_sha256: str
    code_sha256: str


def _digest(parts: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, content in parts:
        digest.update(name.encode() + b"\0" + content.replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def spec_hash(directory: Path) -> str:
    """SPEC.md and the examples' inputs (not their recorded `expect` tables)."""
    parts = [(SPEC_FILE, (directory / SPEC_FILE).read_bytes())]
    examples = directory / "examples.toml"
    if examples.is_file():
        parts.append(("examples.toml", _without_expectations(examples.read_text("utf-8"))))
    return _digest(parts)


def _without_expectations(text: str) -> bytes:
    """The examples file as data, recorded outcomes dropped, in a stable form."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text.encode()  # malformed: hash as written (`cell replay` reports it)
    for example in document.get("example", []):
        for step in example.get("step", []) if isinstance(example, dict) else []:
            if isinstance(step, dict):
                step.pop("expect", None)
    return repr(sorted(document.items())).encode()


def code_files(directory: Path) -> list[Path]:
    """The cell's code: every file of the package but the spec, examples and record."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.name not in NOT_CODE
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
    )


def code_hash(directory: Path, package: str) -> str:
    """The code's hash, the same whatever the project's package is called.

    `<package>.cells` and `<package>.kernel` count as one name, so a cell copied
    to another project (or shipped with the template) keeps its record.
    """
    own_name = re.compile(rf"\b{re.escape(package)}(?=\.(?:cells|kernel)\b)".encode())
    return _digest(
        [
            (path.relative_to(directory).as_posix(), own_name.sub(b"{package}", path.read_bytes()))
            for path in code_files(directory)
        ]
    )


def read_record(directory: Path) -> Record | None:
    path = directory / RECORD_FILE
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProvenanceError(f"{path.name}: not valid TOML: {error}") from None
    fields = ("model", "instructions", "date", "spec_sha256", "code_sha256")
    missing = [name for name in fields if not isinstance(data.get(name), str)]
    if missing:
        raise ProvenanceError(f"{path.name}: `{missing[0]}` missing or not a string")
    return Record(**{name: data[name] for name in fields})


def write_record(directory: Path, package: str, model: str, instructions: str) -> Record:
    """Record that the current code was produced from the current spec by `model`."""
    for option, value in (("--model", model), ("--instructions", instructions)):
        if not LABEL.match(value):
            raise ProvenanceError(
                f"{option}: expected a label of letters, digits and ._:@/+- (1 to 128), "
                f"got {value!r}"
            )
    if not (directory / SPEC_FILE).is_file():
        raise ProvenanceError(f"{SPEC_FILE}: missing; write the cell's spec first")
    record = Record(
        model=model,
        instructions=instructions,
        date=datetime.date.today().isoformat(),
        spec_sha256=spec_hash(directory),
        code_sha256=code_hash(directory, package),
    )
    text = HEADER + "".join(
        f'{name} = "{getattr(record, name)}"\n'
        for name in ("model", "instructions", "date", "spec_sha256", "code_sha256")
    )
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".regeneration-")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    Path(temporary).replace(directory / RECORD_FILE)
    return record


def governed(directory: Path) -> bool:
    """Whether the cell has a spec, examples or a record (a cell from before them has none).

    Such a cell is reported, not failed, so a project updated from an earlier
    release passes its gate until its owner writes the spec; one file of the
    three is enough to hold the cell to all of them.
    """
    return any((directory / name).is_file() for name in (SPEC_FILE, RECORD_FILE, "examples.toml"))


def problems(directory: Path, cell: str, package: str, command_name: str) -> list[str]:
    """One line per way the record and the cell disagree (none: they match, or the cell
    is not governed yet; see `governed`)."""
    if not governed(directory):
        return []
    if not (directory / SPEC_FILE).is_file():
        return [f"no {SPEC_FILE}: write the cell's requirements there"]
    try:
        record = read_record(directory)
    except ProvenanceError as error:
        return [str(error)]
    fix = f"`uv run {command_name} cell regenerated {cell} --model <model or human>`"
    if record is None:
        return [f"no {RECORD_FILE}: after review, record what produced the code with {fix}"]
    found = []
    if record.spec_sha256 != spec_hash(directory):
        found.append(
            f"{SPEC_FILE} or examples changed after the code was last generated or reviewed "
            f"({record.date}, {record.model}): regenerate or review the code, then {fix}"
        )
    if record.code_sha256 != code_hash(directory, package):
        found.append(
            f"code changed since {RECORD_FILE} ({record.date}, {record.model}) without a new "
            f"record: review it, then {fix}"
        )
    return found
