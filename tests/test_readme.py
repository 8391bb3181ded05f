"""The template README's two commands do what it says, as written."""

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import TEMPLATE

README = (TEMPLATE / "README.md").read_text(encoding="utf-8")


def command_after(heading: str) -> str:
    """The first console block after a bold heading line of the README."""
    match = re.search(rf"\*\*{re.escape(heading)}\*\*[^\n]*\s*```console\n(.+?)\n```", README, re.S)
    assert match, f"README has no console block after **{heading}**"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (TEMPLATE / ".ci" / "run").read_text(encoding="utf-8")
    install, test = command_after("Test the template").split(" && ")
    assert install == "python3 -m pip install uv"
    assert "python3 -m pip install" in ci
    assert " uv" in ci
    assert ci.rstrip().endswith(test)


@pytest.mark.slow
def test_readme_generate_command_works_as_written(tmp_path: Path) -> None:
    command = command_after("Generate a project and start it")
    assert "../my-service" in command
    command = command.replace("../my-service", str(tmp_path / "my-service"))
    command = command.replace("python3 -m pip install uv && ", "")  # already installed here
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # The README line is a shell command on purpose: it is what a person pastes.
    result = subprocess.run(  # noqa: S602
        command, shell=True, cwd=TEMPLATE, capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "project: My Service" in result.stdout
