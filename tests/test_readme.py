"""The template README's two commands do what it says, as written."""

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE, free_port, run_copier, sh

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
    """Run the README line as written; the service it starts answers /healthz."""
    command = command_after("Generate a project and start it")
    assert "../my-service" in command
    assert command.endswith("uv run my-service serve")
    command = command.replace("../my-service", str(tmp_path / "my-service"))
    command = command.replace("python3 -m pip install uv && ", "")  # already installed here
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["MY_SERVICE_GATEWAY_PORT"] = str(port)  # the documented override, to avoid a busy 8000
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        # The README line is a shell command on purpose: it is what a person pastes.
        process = subprocess.Popen(  # noqa: S602
            command,
            shell=True,
            cwd=TEMPLATE,
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180  # generation, locking and syncing come first
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the service did not answer /healthz:\n" + log.read_text()[-3000:])
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    # The project it made can follow the template: `copier update` finds the source.
    project = tmp_path / "my-service"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert Path(answers["_src_path"]) == TEMPLATE
    sh(project, "git", "add", "-A")
    identity = ["-c", "user.name=Owner", "-c", "user.email=owner@example.com"]
    sh(project, "git", *identity, "commit", "--quiet", "-m", "Start from the monocell template")
    updated = run_copier("update", "--trust", "--defaults", cwd=project)
    assert updated.returncode == 0, updated.stderr
