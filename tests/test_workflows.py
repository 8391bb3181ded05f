"""The rendered GitHub workflows pass zizmor (offline) and the official schemas."""

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import render_defaults, run

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def github_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = render_defaults(tmp_path_factory.mktemp("wf") / "project")
    return project / ".github"


def test_zizmor_finds_nothing(github_dir: Path) -> None:
    result = run([str(BIN / "zizmor"), "--offline", "--no-progress", str(github_dir)], github_dir)
    assert "No findings to report" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [
        ("vendor.github-workflows", "workflows/*.yml"),
        ("vendor.dependabot", "dependabot.yml"),
    ],
)
def test_files_match_the_schema(github_dir: Path, schema: str, pattern: str) -> None:
    files = sorted(str(p) for p in github_dir.glob(pattern))
    assert files
    run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *files], github_dir)


def test_every_action_is_pinned_by_commit_sha(github_dir: Path) -> None:
    uses: list[Any] = []
    for workflow in github_dir.glob("workflows/*.yml"):
        uses += re.findall(r"uses:\s*(\S+)", workflow.read_text())
    assert uses
    unpinned = [ref for ref in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref)]
    assert unpinned == []


def test_every_job_declares_least_privilege(github_dir: Path) -> None:
    import yaml

    for workflow in github_dir.glob("workflows/*.yml"):
        document = yaml.safe_load(workflow.read_text())
        assert document["permissions"] == {}, workflow.name
        for name, job in document["jobs"].items():
            granted = job["permissions"]
            assert granted["contents"] == "read", f"{workflow.name}:{name}"
            writes = {scope for scope, level in granted.items() if level == "write"}
            # Only the release image job may write, and only packages (the registry).
            expected = {"packages"} if (workflow.name, name) == ("release.yml", "image") else set()
            assert writes == expected, f"{workflow.name}:{name}"
