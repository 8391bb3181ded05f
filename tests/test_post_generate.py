"""The post-generation hook: it acts on the real destination, never on update scratch copies."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE

HOOK = TEMPLATE / "hooks" / "post_generate.py"
sys.path.insert(0, str(HOOK.parent))
import post_generate  # noqa: E402  (the hook, imported for its lock function)


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


def shipped_packages(lock: str) -> list[str]:
    return [
        line.removeprefix('name = "')[:-1]
        for line in lock.splitlines()
        if line.startswith('name = "')
    ]


@pytest.mark.parametrize("python_min", ["3.11", "3.12", "3.13"])
@pytest.mark.parametrize("dist_name", ["aaa-first", "m-middle", "zzz-last"])
def test_shipped_lock_is_made_out_to_the_project_in_sorted_place(
    dist_name: str, python_min: str
) -> None:
    lock = post_generate.shipped_lock(dist_name, python_min)
    assert lock is not None
    names = shipped_packages(lock)
    assert dist_name in names
    assert "my-service" not in names, "the placeholder's entry was renamed, not copied"
    assert names == sorted(names), "uv keeps packages sorted by name"
    assert lock.count('source = { editable = "." }') == 1
    assert f'requires-python = ">={python_min}"' in lock


def test_no_shipped_lock_for_an_unknown_python() -> None:
    assert post_generate.shipped_lock("my-service", "3.10") is None


def fake_uv(bin_dir: Path, refuses_existing_lock: bool) -> None:
    """A stand-in `uv`: writes a lock of its own, or fails as an old uv does on a newer lock."""
    bin_dir.mkdir()
    script = bin_dir / "uv"
    script.write_text(
        "#!/bin/sh\n"
        + (
            '[ -e uv.lock ] && { echo "error: unknown lock revision" >&2; exit 2; }\n'
            if refuses_existing_lock
            else ""
        )
        + "[ -e uv.lock ] || echo resolved-afresh > uv.lock\n"
    )
    script.chmod(0o755)


def run_copy_hook(project: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """The hook as a copy runs it, with `bin_dir` (the stand-in uv) first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") and k != "MONOCELL_SKIP_LOCK"
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [sys.executable, str(HOOK), "zeta-ledger", "3.11"],
        cwd=project, capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


@pytest.mark.parametrize("refuses", [False, True], ids=["uv-takes-it", "old-uv-refuses"])
def test_copy_seeds_the_shipped_lock_and_falls_back_when_uv_refuses_it(
    tmp_path: Path, refuses: bool
) -> None:
    project = tmp_path / "service"
    project.mkdir()
    fake_uv(tmp_path / "bin", refuses_existing_lock=refuses)
    result = run_copy_hook(project, tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    lock = (project / "uv.lock").read_text()
    if refuses:
        assert lock == "resolved-afresh\n"
    else:
        assert 'name = "zeta-ledger"' in lock


def test_update_keeps_the_projects_own_lock(tmp_path: Path) -> None:
    project = tmp_path / "service"
    project.mkdir()
    (project / "uv.lock").write_text("the owner's lock\n")
    fake_uv(tmp_path / "bin", refuses_existing_lock=False)
    result = run_copy_hook(project, tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    assert (project / "uv.lock").read_text() == "the owner's lock\n"


def test_a_stray_argument_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(HOOK), "zeta-ledger"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().startswith("usage: post_generate.py")
    assert list(tmp_path.iterdir()) == []
