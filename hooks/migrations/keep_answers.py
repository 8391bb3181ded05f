"""Migration: refuse an update that changes an answer no update can carry out.

- `package_name`: Copier would render the new package beside the old one and
  delete the old package's template files: the owner's edits to them would be
  lost without a conflict, and the owner's own cells would stay behind under
  the old name, importing a package that no longer exists.
- `example_cells` from true to false while app.py or topology.toml still use them:
  Copier would delete them but leave them in topology.toml (which it never
  overwrites), so nothing starts, and it would delete files the owner's own
  cells still need (contracts/asyncapi.json, deploy/postgres/roles.sql). Once
  the owner has removed them by hand and committed, the same update records
  the answer, so they do not come back.

Both are done by hand instead (or the project rendered afresh with `copier copy`).
Two stages, because Copier knows the new answers only after it has asked them:

    before NAME EXAMPLES  the answers given with `--data package_name=NAME` and
                          `--data example_cells=EXAMPLES` ("" without one):
                          refused before the update writes anything
    after                 the answers the update recorded, against the committed
                          answers file (answers typed at the prompt): refused,
                          with the one command that undoes the update (the tree
                          was clean before it)

Usage: keep_answers.py ANSWERS_FILE before NAME EXAMPLES | ANSWERS_FILE after
(ANSWERS_FILE: the project's answers file, `.copier-answers.yml` unless `-a` named another)
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

FALSE = {"n", "no", "f", "false", "off", "0"}  # as Copier reads a bool given as text


def answers_of(text: str) -> dict[str, Any]:
    """The answers in an answers file's text ({} when it has none)."""
    try:
        answers = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return answers if isinstance(answers, dict) else {}


def current_answers(answers: str) -> str:
    """The answers file as it is now ("" when there is none to read)."""
    try:
        return Path(answers).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def committed_answers(answers: str) -> str:
    """The answers file as last committed ("" when git cannot tell)."""
    return committed_text(answers)


def is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() in FALSE)


EXAMPLE_CELLS = ("orders", "payments", "calculator")


def examples_in_use(package: object) -> bool:
    """Whether the last commit's app.py or topology.toml still names an example cell."""
    if not isinstance(package, str):
        return False
    app = committed_text(f"src/{package}/app.py")
    topology = committed_text("topology.toml")
    return any(f"{cell}.cell" in app or f"[cells.{cell}" in topology for cell in EXAMPLE_CELLS)


def committed_text(path: str) -> str:
    """A file as last committed ("" when git cannot tell)."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:./{path}"], capture_output=True, text=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else ""


def refusal(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why going from the `old` answers to the `new` ones is refused, or None."""
    before, after = old.get("package_name"), new.get("package_name")
    if isinstance(before, str) and isinstance(after, str) and after and before != after:
        return (
            f"package_name: an update cannot rename the package ({before!r} to {after!r}): "
            f"the owner's code under src/{before}/ would be left behind; rename it by hand, "
            "or `copier copy` anew"
        )
    package = old.get("package_name")
    if (
        old.get("example_cells") is True
        and is_false(new.get("example_cells"))
        and examples_in_use(package)
    ):
        return (
            "example_cells: an update cannot remove the example cells: topology.toml would "
            "still name them and files your own cells use would go; delete "
            f"src/{package}/cells/{{orders,payments,calculator}} and their lines in app.py "
            "and topology.toml by hand, run `contracts export`, `topology deploy` and "
            "`topology diagram`, commit, then run this update again; it leaves conflicts "
            "in app.py (keep your side) and in the generated files, which those three "
            "commands write afresh once more"
        )
    return None


def main(argv: list[str]) -> int:
    answers, stage = argv[1:2], argv[2:]
    if answers and stage[:1] == ["before"] and len(stage) == 3:
        given = {"package_name": stage[1], "example_cells": stage[2]}
        refused = refusal(answers_of(current_answers(answers[0])), given)
        if refused is not None:
            print(refused, file=sys.stderr)
            return 1
        return 0
    if answers and stage == ["after"]:
        old = answers_of(committed_answers(answers[0]))
        refused = refusal(old, answers_of(current_answers(answers[0]))) if old else None
        if refused is not None:
            undo = "undo this update with `git reset --hard && git clean -fd`"
            print(f"{refused}; {undo}", file=sys.stderr)
            return 1
        return 0
    usage = "usage: keep_answers.py ANSWERS_FILE (before NAME EXAMPLES | after)"
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
