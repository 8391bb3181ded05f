"""The generated project passes its own checks right after `copier copy`, with no manual step.

These tests render through the real `copier` command (hooks included, so
`uv.lock` is written), then run what the generated README and CI run.
"""

import sys
import tomllib
from pathlib import Path

import pytest
from conftest import TEMPLATE, run_copier, sh

sys.path.insert(0, str(TEMPLATE / "hooks"))
sys.path.insert(0, str(TEMPLATE / "hooks" / "locks"))
from post_generate import shipped_lock
from refresh import PYENV_VERSIONS
from refresh import interpreter as real_interpreter

pytestmark = pytest.mark.slow

# Each combination runs on its minimum Python's real interpreter: a project that
# says `requires-python = ">=3.13"` is checked on 3.13, not on this machine's 3.11.
FULL_CHECK_COMBINATIONS: dict[str, dict[str, object]] = {
    "defaults": {},
    "acme-312-examples": {
        "project_name": "Acme Orders",
        "package_name": "acme_orders",
        "dist_name": "acme-orders-service",
        "command_name": "acme",
        "python_min": "3.12",
        "example_cells": True,
        "github_repository": "acme/orders",
    },
    "bare-313-proprietary": {
        "project_name": "Back Office",
        "package_name": "backoffice",
        "command_name": "bo",
        "license": "proprietary",
        "python_min": "3.13",
        "example_cells": False,
        "ci_provider": "none",
    },
}


def interpreter(minor: str) -> Path:
    """The real interpreter of a minimum Python: pyenv's build, else one on PATH."""
    found = real_interpreter(minor)
    if found is None:
        pytest.fail(f"no Python {minor} interpreter (looked in {PYENV_VERSIONS} and on PATH)")
    return Path(found)


@pytest.fixture(scope="module", params=FULL_CHECK_COMBINATIONS)
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, object]]:
    answers: dict[str, object] = FULL_CHECK_COMBINATIONS[request.param]
    destination = tmp_path_factory.mktemp(request.param) / "project"
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    python = interpreter(str(answers.get("python_min", "3.11")))
    # UV_PYTHON: the hook's `uv lock` needs an interpreter that meets requires-python.
    result = run_copier(
        "copy",
        "--trust",
        "--defaults",
        *data,
        str(TEMPLATE),
        str(destination),
        lock=True,
        UV_PYTHON=str(python),
    )
    assert result.returncode == 0, result.stderr
    assert (destination / "uv.lock").is_file(), f"the hook writes uv.lock: {result.stderr}"
    dist_name = tomllib.loads((destination / "pyproject.toml").read_text())["project"]["name"]
    shipped = shipped_lock(dist_name, str(answers.get("python_min", "3.11")))
    assert (destination / "uv.lock").read_text() == shipped, (
        "uv resolved anew instead of taking the lock the template ships:"
        " run `uv run python hooks/locks/refresh.py` and commit hooks/locks/"
    )
    sh(destination, "uv", "sync", "--locked", "--python", str(python))
    version = sh(destination, "uv", "run", "python", "-c", "import sys; print(sys.version)")
    assert version.stdout.startswith(str(answers.get("python_min", "3.11")))
    return destination, answers


def test_readme_checks_pass(project: tuple[Path, dict[str, object]]) -> None:
    path, _ = project
    sh(path, "uv", "run", "ruff", "check")
    sh(path, "uv", "run", "ruff", "format", "--check")
    sh(path, "uv", "run", "mypy")
    sh(path, "uv", "run", "lint-imports")
    result = sh(path, "uv", "run", "pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in result.stdout


def test_command_line_program(project: tuple[Path, dict[str, object]]) -> None:
    path, answers = project
    command = str(answers.get("command_name", "my-service"))
    package = str(answers.get("package_name", "my_service"))
    version = sh(path, "uv", "run", command, "--version")
    assert version.stdout.strip() == f"{command} 0.1.0"
    helped = sh(path, "uv", "run", "python", "-m", package, "--help")
    assert "info" in helped.stdout
    assert "gate" in helped.stdout
    sh(path, "uv", "run", command, "info")
    bad = sh(path, "uv", "run", command, "--definitely-not-a-flag", expect=2)
    assert "Usage:" in bad.stderr
    assert "No such option: --definitely-not-a-flag" in bad.stderr


def test_gate_and_pre_commit_pass(project: tuple[Path, dict[str, object]]) -> None:
    path, answers = project
    command = str(answers.get("command_name", "my-service"))
    sh(path, "uv", "run", command, "gate", "--skip-tests")
    sh(path, "git", "add", "-A")
    sh(path, "uv", "run", "pre-commit", "run", "--all-files")


def test_docs_build_strict(project: tuple[Path, dict[str, object]]) -> None:
    path, _ = project
    # The command exactly as the generated README gives it.
    assert "uv run --group docs mkdocs build --strict" in (path / "README.md").read_text()
    sh(path, "uv", "run", "--group", "docs", "mkdocs", "build", "--strict")
    assert (path / "site" / "index.html").is_file()


def test_unresolved_merge_stops_gate_and_pre_commit(
    project: tuple[Path, dict[str, object]],
) -> None:
    path, answers = project
    command = str(answers.get("command_name", "my-service"))
    readme = path / "README.md"
    original = readme.read_text()
    try:
        readme.write_text(original + "<<<<<<< before updating\na\n=======\nb\n>>>>>>> after\n")
        failed = sh(path, "uv", "run", command, "gate", "--skip-tests", expect=1)
        assert "FAILED at 'no unresolved merges'" in failed.stdout
        sh(path, "git", "add", "-A")
        sh(path, "uv", "run", "pre-commit", "run", "no-conflicts", "--all-files", expect=1)
    finally:
        readme.write_text(original)
        sh(path, "git", "add", "-A")
    (path / "topology.toml.rej").write_text("@@ -1 +1 @@\n")
    try:
        sh(path, "uv", "run", command, "gate", "--skip-tests", expect=1)
    finally:
        (path / "topology.toml.rej").unlink()


def test_import_linter_catches_a_cross_cell_import(
    project: tuple[Path, dict[str, object]],
) -> None:
    path, answers = project
    package = str(answers.get("package_name", "my_service"))
    cells = path / "src" / package / "cells"
    kernel_module = path / "src" / package / "kernel" / "core" / "cell.py"
    planted = [
        # a cell reaching into another cell's internals
        (cells / "orders" / "handlers.py", f"from {package}.cells.payments import handlers\n"),
        # the kernel importing a cell
        (kernel_module, f"from {package}.cells import orders\n"),
    ]
    if not (cells / "orders").is_dir():
        # no example cells: plant two cells of our own
        for name in ("alpha", "beta"):
            (cells / name).mkdir()
            (cells / name / "__init__.py").write_text("")
            (cells / name / "contracts.py").write_text("")
            (cells / name / "handlers.py").write_text("")
        planted = [
            (cells / "alpha" / "handlers.py", f"from {package}.cells.beta import handlers\n"),
            (kernel_module, f"from {package}.cells import alpha\n"),
        ]
    try:
        sh(path, "uv", "run", "lint-imports")
        for module, line in planted:
            original = module.read_text()
            module.write_text(original + line)
            try:
                result = sh(path, "uv", "run", "lint-imports", expect=1)
                assert "BROKEN" in result.stdout
            finally:
                module.write_text(original)
        sh(path, "uv", "run", "lint-imports")
    finally:
        for name in ("alpha", "beta"):
            if (cells / name).is_dir():
                for file in (cells / name).iterdir():
                    file.unlink()
                (cells / name).rmdir()


def test_gate_refuses_a_breaking_contract_change(
    project: tuple[Path, dict[str, object]],
) -> None:
    path, answers = project
    if answers.get("example_cells") is False:
        pytest.skip("the planted change edits an example cell")
    command = str(answers.get("command_name", "my-service"))
    package = str(answers.get("package_name", "my_service"))
    cell = path / "src" / package / "cells" / "orders"
    contracts = cell / "contracts.py"
    original = contracts.read_text()
    record = (cell / "regeneration.toml").read_text()
    assert "le=1000" in original
    try:
        contracts.write_text(original.replace("le=1000", "le=10"))
        # Whoever made the edit records it, so the gate gets past provenance to contracts.
        sh(path, "uv", "run", command, "cell", "regenerated", "orders", "--model", "human")
        diff = sh(path, "uv", "run", command, "contracts", "diff", expect=1)
        assert "BREAKING   orders.PlaceOrder.v1: field 'quantity' maximum tightened" in diff.stdout
        gate = sh(path, "uv", "run", command, "gate", "--skip-tests", expect=1)
        assert "FAILED at 'contracts (no breaking change)'" in gate.stdout
    finally:
        contracts.write_text(original)
        (cell / "regeneration.toml").write_text(record)
    sh(path, "uv", "run", command, "contracts", "diff")


def test_an_edited_template_file_stops_the_gate_in_one_line(
    project: tuple[Path, dict[str, object]],
) -> None:
    path, answers = project
    command = str(answers.get("command_name", "my-service"))
    package = str(answers.get("package_name", "my_service"))
    relative = f"src/{package}/kernel/bus/bus.py"
    kernel_file = path / relative
    original = kernel_file.read_text()
    try:
        kernel_file.write_text(original + "# a local tweak\n")
        failed = sh(path, "uv", "run", command, "gate", "--skip-tests", expect=1)
        assert "FAILED at 'template files unchanged'" in failed.stdout
        assert failed.stderr.strip().splitlines() == [
            f"{relative}: template-owned file was edited; move the change into a cell or a "
            "module of your own, or propose it upstream and take it with `copier update`"
        ]
        sh(path, "git", "add", "-A")
        sh(path, "uv", "run", "pre-commit", "run", "template-files", "--all-files", expect=1)
    finally:
        kernel_file.write_text(original)
        sh(path, "git", "add", "-A")
    sh(path, "uv", "run", "python", "-m", f"{package}.kernel.devtools.checks", "template-files")
