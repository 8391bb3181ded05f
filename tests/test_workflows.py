"""The rendered GitHub workflows pass zizmor (offline) and the official schemas."""

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import TEMPLATE, render_defaults, run

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


def _ci_jobs(github_dir: Path) -> dict[str, Any]:
    import yaml

    jobs: dict[str, Any] = yaml.safe_load((github_dir / "workflows" / "ci.yml").read_text())["jobs"]
    return jobs


def _commands(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_ci_runs_the_gate_command_then_the_newer_pythons(github_dir: Path) -> None:
    jobs = _ci_jobs(github_dir)
    assert "uv run my-service gate" in _commands(jobs["gate"])
    assert jobs["gate"]["steps"][1]["with"]["python-version"] == "3.11"
    assert jobs["tests"]["strategy"]["matrix"]["python"] == ["3.12", "3.13"]


def test_ci_for_the_newest_python_has_only_the_gate(tmp_path: Path) -> None:
    from copier import run_copy

    run_copy(
        str(TEMPLATE),
        str(tmp_path),
        data={"python_min": "3.13", "command_name": "shop"},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",
    )
    jobs = _ci_jobs(tmp_path / ".github")
    assert set(jobs) == {"gate", "docs"}
    assert "uv run shop gate" in _commands(jobs["gate"])
    workflow = str(tmp_path / ".github" / "workflows" / "ci.yml")
    run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", workflow],
        tmp_path,
    )
