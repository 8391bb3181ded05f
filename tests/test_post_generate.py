"""The post-generation hook: it acts on the real destination, never on update scratch copies."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE

HOOK = TEMPLATE / "hooks" / "post_generate.py"


def run_hook(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["MONOCELL_SKIP_LOCK"] = "1"
    return subprocess.run(
        [sys.executable, str(HOOK)], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def test_real_destination_gets_a_git_repository(tmp_path: Path) -> None:
    project = tmp_path / "service"
    project.mkdir()
    result = run_hook(project)
    assert result.returncode == 0, result.stderr
    assert (project / ".git").is_dir()
    assert "MONOCELL_SKIP_LOCK=1" in result.stdout


@pytest.mark.parametrize(
    "scratch",
    [
        "copier._main.old_copy.k2j4h1",
        "copier._main.new_copy.x9a0b3/services/api",
        "copier.main.old_copy.abc",
    ],
)
def test_update_scratch_copies_are_left_alone(tmp_path: Path, scratch: str) -> None:
    project = tmp_path / scratch
    project.mkdir(parents=True)
    result = run_hook(project)
    assert result.returncode == 0, result.stderr
    assert not (project / ".git").exists()
    assert result.stdout == ""


def test_a_project_merely_named_like_copier_is_not_skipped(tmp_path: Path) -> None:
    project = tmp_path / "copier.main.tools"
    project.mkdir()
    assert run_hook(project).returncode == 0
    assert (project / ".git").is_dir()
