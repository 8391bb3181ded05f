"""The kernel's own tests, run inside a generated project.

The kernel belongs to the template, so its tests live here (`tests/kernel/`),
not in every generated project: an owner's suite then tests the owner's cells,
and a kernel test can never turn an owner's build red. They still run where
the kernel runs: rendered with a project's answers into that project's
`tests/kernel/`, against its installed package, with its NATS fixture.

The project uses names that are all different from the defaults, with the
example cells on, so a kernel test that only works under "My Service" fails here.
"""

import re
import shutil
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml
from conftest import TEMPLATE, run_copier, sh

KERNEL_TESTS = TEMPLATE / "tests" / "kernel"

ANSWERS: dict[str, str] = {
    "project_name": "Acme Orders",
    "package_name": "acme_orders",
    "dist_name": "acme-orders-service",
    "command_name": "acme",
}


def render_kernel_tests(destination: Path, answers: dict[str, object]) -> list[Path]:
    """Render every file of tests/kernel/ into `destination` ('.jinja' dropped)."""
    environment = jinja2.Environment(  # noqa: S701 - Python source, not HTML
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    written = []
    for source in sorted(KERNEL_TESTS.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(KERNEL_TESTS)
        target = destination / relative.with_name(relative.name.removesuffix(".jinja"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix != ".jinja":  # data (a vendored schema) is copied as it is
            shutil.copyfile(source, target)
            written.append(target)
            continue
        text = environment.from_string(source.read_text()).render(answers)
        target.write_text(text)
        written.append(target)
    return written


def test_kernel_tests_render_with_any_answers(tmp_path: Path) -> None:
    """Every kernel test file renders with only the answers it may use."""
    for example_cells in (True, False):
        written = render_kernel_tests(
            tmp_path / str(example_cells), {**ANSWERS, "example_cells": example_cells}
        )
        assert len(written) > 20
        for path in written:
            if path.suffix == ".json":  # vendored data, copied verbatim
                continue
            text = path.read_text()
            assert "{{" not in text, path
            assert "my_service" not in text, path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("kernel") / "project"
    data = [arg for key, value in ANSWERS.items() for arg in ("--data", f"{key}={value}")]
    result = run_copier(
        "copy", "--trust", "--defaults", *data, str(TEMPLATE), str(destination), lock=True
    )
    assert result.returncode == 0, result.stderr
    sh(destination, "uv", "sync", "--locked")
    render_kernel_tests(destination / "tests" / "kernel", {**ANSWERS, "example_cells": True})
    return destination


@pytest.mark.slow
def test_kernel_tests_pass_in_a_generated_project(project: Path) -> None:
    # Settings in the shell of whoever runs the tests must not reach them.
    owner_settings = {"ACME_ORDERS_GATEWAY_PORT": "8000", "ACME_ORDERS_TOPOLOGY": "/nowhere"}
    result = sh(
        project,
        *("uv", "run", "pytest", "tests/kernel", "-q", "-p", "no:cacheprovider"),
        env=owner_settings,
    )
    assert " passed" in result.stdout
    assert " failed" not in result.stdout


@pytest.mark.slow
def test_kernel_tests_meet_the_generated_checks(project: Path) -> None:
    """The kernel's tests obey the same ruff and mypy rules as the owner's."""
    sh(project, "uv", "run", "ruff", "check", "tests/kernel")
    sh(project, "uv", "run", "ruff", "format", "--check", "tests/kernel")
    sh(project, "uv", "run", "mypy")


@pytest.mark.slow
def test_the_names_answers_may_not_take_cover_everything_the_project_installs(
    project: Path,
) -> None:
    """copier.yml refuses a package, distribution or command name that would shadow
    an installed module, a locked distribution or a program; the lists are written
    by hand, so check them against the lock and a real install of every group."""
    sh(project, "uv", "sync", "--locked", "--all-groups")
    questions = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    refused = {
        name
        for key in ("python_keywords", "stdlib_modules", "dependency_modules")
        for name in questions[key]["default"].split()
    }
    listing = "import importlib.metadata as m; print(*m.packages_distributions())"
    installed = sh(project, ".venv/bin/python", "-c", listing).stdout.split()
    own = {ANSWERS["package_name"]}
    modules = {name for name in installed if name.isidentifier() and not name.startswith("_")}
    assert sorted(modules - refused - own) == []

    distributions = set(questions["dependency_distributions"]["default"].split())
    locked = {
        package["name"] for package in tomllib.loads((project / "uv.lock").read_text())["package"]
    }
    own = {ANSWERS["dist_name"]}
    assert sorted(locked - distributions - own) == []

    reserved = set(questions["reserved_commands"]["default"].split())
    command = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")  # what command_name accepts
    programs = {path.name for path in (project / ".venv" / "bin").iterdir()}
    own = {ANSWERS["command_name"]}
    assert sorted(name for name in programs - reserved - own if command.match(name)) == []
