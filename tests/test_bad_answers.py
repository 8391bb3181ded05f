"""Every invalid answer is refused with a reason naming what was expected, and nothing is written.

Non-interactively (`copier copy --data`) Copier must exit non-zero with the
validator's message on the last line; interactively it must show the message
and ask again.
"""

import os
from pathlib import Path

import pexpect
import pytest
import yaml
from conftest import COPIER, TEMPLATE, run_copier

BAD_ANSWERS: list[tuple[dict[str, str], str]] = [
    ({"project_name": ""}, "project_name: must not be empty or blank"),
    ({"project_name": "   "}, "project_name: must not be empty or blank"),
    ({"project_name": "x" * 200}, "project_name: must be at most 64 characters, got 200"),
    ({"project_name": "Café Crème"}, "project_name: expected ASCII letters, digits"),
    ({"project_name": "1abc"}, "project_name: expected ASCII letters, digits"),
    ({"package_name": ""}, "package_name: must not be empty"),
    ({"package_name": "  "}, "package_name: must not be empty"),
    ({"package_name": "class"}, "package_name: 'class' is a Python keyword"),
    ({"package_name": "json"}, "package_name: 'json' is a standard-library module"),
    ({"package_name": "1abc"}, "package_name: expected a lowercase Python identifier"),
    ({"package_name": "Upper"}, "package_name: expected a lowercase Python identifier"),
    ({"package_name": "my-pkg"}, "package_name: expected a lowercase Python identifier"),
    ({"package_name": "msgspec"}, "package_name: 'msgspec' is the name of a module the project"),
    ({"package_name": "tests"}, "package_name: 'tests' is the name of a module the project"),
    ({"package_name": "pkg_" + "x" * 60}, "package_name: must be at most 40 characters"),
    ({"dist_name": "My_Dist"}, "dist_name: expected lowercase letters and digits"),
    # A dependency's name: `uv lock` would find the project depending on itself.
    ({"dist_name": "starlette"}, "dist_name: 'starlette' is the name of a distribution"),
    ({"dist_name": "python-dateutil"}, "dist_name: 'python-dateutil' is the name of a"),
    ({"command_name": "pip"}, "command_name: 'pip' would shadow a program the project"),
    ({"command_name": "two words"}, "command_name: expected lowercase letters and digits"),
    ({"command_name": "c" * 41}, "command_name: must be at most 40 characters"),
    ({"description": ""}, "description: must not be empty or blank"),
    ({"description": 'say "hi"'}, "description: expected one line without control characters"),
    ({"description": "d" * 201}, "description: must be at most 200 characters, got 201"),
    ({"author_name": ""}, "author_name: must not be empty or blank"),
    ({"author_name": 'Evil "Quote'}, "author_name: expected one line without"),
    ({"author_email": "not-an-email"}, "author_email: expected an address like name@example.com"),
    ({"author_email": "a@b"}, "author_email: expected an address like name@example.com"),
    ({"author_email": "two@@example.com"}, "author_email: expected an address like"),
    ({"copyright_year": "99"}, "copyright_year: expected a four-digit year"),
    ({"github_repository": "no-slash"}, "github_repository: expected OWNER/NAME"),
    ({"python_min": "3.10"}, "Invalid choice for 'python_min'"),
    ({"license": "GPL-3.0"}, "Invalid choice for 'license'"),
    ({"ci_provider": "jenkins"}, "Invalid choice for 'ci_provider'"),
    # A final newline: `$` would match before it, the rendered TOML would not parse.
    ({"package_name": "shop\n"}, "package_name: expected a lowercase Python identifier"),
    ({"command_name": "shop\n"}, "command_name: expected lowercase letters and digits"),
    ({"dist_name": "shop\n"}, "dist_name: expected lowercase letters and digits"),
    ({"author_email": "a@example.com\n"}, "author_email: expected an address like"),
    ({"github_repository": "acme/shop\n"}, "github_repository: expected OWNER/NAME"),
    ({"copyright_year": "2030\n"}, "copyright_year: expected a four-digit year"),
    ({"project_name": "Shop\n"}, "project_name: expected ASCII letters, digits"),
    # Control characters break the TOML and YAML the answers are written into.
    ({"description": "one\rtwo"}, "description: expected one line without control characters"),
    ({"description": "bell\x07"}, "description: expected one line without control characters"),
    ({"author_name": "Ada\tLovelace"}, "author_name: expected one line without control"),
    ({"copyright_holder": "Acme\x1b[31m"}, "copyright_holder: expected one line of at most"),
    # Programs the project installs or its checks call.
    ({"command_name": "python3"}, "command_name: 'python3' would shadow a program"),
    ({"command_name": "activate"}, "command_name: 'activate' would shadow a program"),
    ({"command_name": "lint-imports"}, "command_name: 'lint-imports' would shadow a program"),
    ({"command_name": "pre-commit"}, "command_name: 'pre-commit' would shadow a program"),
    ({"command_name": "uvicorn"}, "command_name: 'uvicorn' would shadow a program"),
    ({"command_name": "alembic"}, "command_name: 'alembic' would shadow a program"),
    # Everyday programs of a Unix shell, which an active .venv would hide.
    ({"command_name": "info"}, "command_name: 'info' would shadow a program"),
    ({"command_name": "ls"}, "command_name: 'ls' would shadow a program"),
    # Modules the project installs, start-up hooks, the project's own module names.
    ({"package_name": "cryptography"}, "package_name: 'cryptography' is the name of a module"),
    ({"package_name": "sitecustomize"}, "package_name: 'sitecustomize' is the name of a module"),
    ({"package_name": "conftest"}, "package_name: 'conftest' is the name of a module"),
    ({"package_name": "sqlalchemy"}, "package_name: 'sqlalchemy' is the name of a module"),
    ({"package_name": "asyncpg"}, "package_name: 'asyncpg' is the name of a module"),
    ({"package_name": "test_shop"}, "package_name: 'test_shop' would clash with the project's"),
    ({"github_repository": "owner/.."}, "github_repository: NAME may not be '.', '..'"),
    ({"github_repository": "owner/shop.git"}, "github_repository: NAME may not be '.', '..'"),
    ({"package_name": "support"}, "package_name: 'support' is the name of a module"),
    ({"example_cells": "maybe"}, "example_cells: expected true or false, got 'maybe'"),
]


@pytest.mark.parametrize(
    ("answers", "reason"),
    BAD_ANSWERS,
    ids=[f"{k}={v[:12]!r}" for k, v in [next(iter(a.items())) for a, _ in BAD_ANSWERS]],
)
def test_bad_answer_is_refused_and_nothing_is_written(
    tmp_path: Path, answers: dict[str, str], reason: str
) -> None:
    destination = tmp_path / "project"
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    result = run_copier("copy", "--trust", "--defaults", *data, str(TEMPLATE), str(destination))
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert reason in last_line, result.stderr
    assert not destination.exists()


def test_interactive_prompt_shows_the_reason_and_asks_again(tmp_path: Path) -> None:
    destination = tmp_path / "project"
    child = pexpect.spawn(
        COPIER,
        ["copy", "--trust", str(TEMPLATE), str(destination)],
        env={**os.environ, "TERM": "xterm", "NO_COLOR": "1", "PROMPT_TOOLKIT_NO_CPR": "1"},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    try:
        child.expect("Project name, as people read it")
        child.send("\x15\r")  # Ctrl-U clears the suggested default; empty is refused
        child.expect("project_name: must not be empty or blank")
        child.send("Json\r")
        child.expect("Python package name")
        child.send("\x15json\r")
        child.expect("package_name: 'json' is a standard-library module")
        child.send("\x15json_tools\r")
        child.expect("Distribution name on PyPI")
        child.send("\r")
        # Accept every remaining default.
        while child.expect(["\N{MICROPHONE}", pexpect.EOF], timeout=30) == 0:
            child.send("\r")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "Json"
    assert answers["package_name"] == "json_tools"
    assert (destination / "src" / "json_tools" / "kernel" / "cli" / "main.py").is_file()
