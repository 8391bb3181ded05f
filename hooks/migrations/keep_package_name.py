"""Migration: refuse an update that changes `package_name`.

Copier would render the new package beside the old one and delete the old
package's template files: the owner's edits to them would be lost without a
conflict, and the owner's own cells would stay behind under the old name,
importing a package that no longer exists. A package is renamed by hand (or
rendered afresh with `copier copy`).

Two stages, because Copier knows the new answers only after it has asked them:

    before NAME   the name given with `--data package_name=NAME` ("" without
                  one): refused before the update writes anything
    after         the name the update recorded, against the committed answers
                  file (an answer typed at the prompt): refused, with the one
                  command that undoes the update (the tree was clean before it)

Usage: keep_package_name.py ANSWERS_FILE before NAME | ANSWERS_FILE after
(ANSWERS_FILE: the project's answers file, `.copier-answers.yml` unless `-a` named another)
"""

import subprocess
import sys
from pathlib import Path

import yaml


def package_name(text: str) -> str | None:
    """The `package_name` of an answers file's text, or None when it has none."""
    try:
        answers = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    name = answers.get("package_name") if isinstance(answers, dict) else None
    return name if isinstance(name, str) else None


def current_answers(answers: str) -> str:
    """The answers file as it is now ("" when there is none to read)."""
    try:
        return Path(answers).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def committed_answers(answers: str) -> str:
    """The answers file as last committed ("" when git cannot tell)."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:./{answers}"], capture_output=True, text=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else ""


def refusal(old: str, new: str) -> str:
    return (
        f"package_name: an update cannot rename the package ({old!r} to {new!r}): the "
        f"owner's code under src/{old}/ would be left behind; rename it by hand, or "
        "`copier copy` anew"
    )


def main(argv: list[str]) -> int:
    answers, stage = argv[1:2], argv[2:]
    if answers and stage[:1] == ["before"] and len(stage) == 2:
        old, new = package_name(current_answers(answers[0])), stage[1]
        if new and old is not None and old != new:
            print(refusal(old, new), file=sys.stderr)
            return 1
        return 0
    if answers and stage == ["after"]:
        old = package_name(committed_answers(answers[0]))
        new = package_name(current_answers(answers[0]))
        if old is not None and new is not None and old != new:
            undo = "undo this update with `git reset --hard && git clean -fd`"
            print(f"{refusal(old, new)}; {undo}", file=sys.stderr)
            return 1
        return 0
    print("usage: keep_package_name.py ANSWERS_FILE (before NAME | after)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
