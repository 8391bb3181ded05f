"""Rendering: every choice of every question, checked in the tree and the answers file."""

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import COMBINATIONS

DEFAULT_ANSWERS = {
    "project_name": "My Service",
    "package_name": "my_service",
    "dist_name": "my-service",
    "command_name": "my-service",
    "description": "A service built monolithic-first with monocell cells.",
    "author_name": "Your Name",
    "author_email": "you@example.com",
    "license": "MIT",
    "copyright_holder": "Your Name",
    "python_min": "3.11",
    "example_cells": True,
    "ci_provider": "github",
    "github_repository": "your-name/my-service",
}

LICENSE_FIRST_LINE = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "BSD 3-Clause License",
    "proprietary": "Copyright (c)",
}
PYPROJECT_LICENSE = {
    "MIT": "MIT",
    "Apache-2.0": "Apache-2.0",
    "BSD-3-Clause": "BSD-3-Clause",
    "proprietary": "LicenseRef-Proprietary",
}


def expected_answers(asked: dict[str, object]) -> dict[str, object]:
    """The defaults, with the names Copier derives from a changed project name."""
    expected = {**DEFAULT_ANSWERS, **asked}
    slug = re.sub(r"[^a-z0-9]+", "_", str(expected["project_name"]).lower())[:32].strip("_")
    expected.setdefault("package_name", slug)
    if "package_name" not in asked:
        expected["package_name"] = slug
    if "dist_name" not in asked:
        expected["dist_name"] = str(expected["package_name"]).replace("_", "-")
    if "command_name" not in asked:
        expected["command_name"] = expected["dist_name"]
    return expected


def render(copie: Any, answers: dict[str, object]) -> tuple[Path, dict[str, Any]]:
    result = copie.copy(extra_answers=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    project: Path = result.project_dir
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return project, recorded


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_combination_renders_what_was_asked(copie: Any, combination: str) -> None:
    asked = COMBINATIONS[combination]
    project, recorded = render(copie, asked)
    expected = expected_answers(asked)
    pkg = expected["package_name"]

    # The answers file records every asked question, and only those.
    for key, value in asked.items():
        assert recorded[key] == value, key
    assert "python_keywords" not in recorded
    assert "stdlib_modules" not in recorded
    assert ("copyright_holder" in recorded) == (expected["license"] != "proprietary")
    assert ("github_repository" in recorded) == (expected["ci_provider"] == "github")

    # pyproject.toml: names, license, Python floor, script.
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == expected["dist_name"]
    assert pyproject["project"]["license"] == PYPROJECT_LICENSE[str(expected["license"])]
    assert pyproject["project"]["requires-python"] == f">={expected['python_min']}"
    script = f"{pkg}.kernel.cli.main:main"
    assert pyproject["project"]["scripts"] == {expected["command_name"]: script}
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + str(
        expected["python_min"]
    ).replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == expected["python_min"]
    classifiers = pyproject["project"]["classifiers"]
    for minor in ("3.11", "3.12", "3.13"):
        listed = f"Programming Language :: Python :: {minor}" in classifiers
        assert listed == (minor >= str(expected["python_min"]))

    # LICENSE text matches the choice.
    license_text = (project / "LICENSE").read_text()
    assert license_text.lstrip().startswith(LICENSE_FIRST_LINE[str(expected["license"])])
    if expected["license"] != "proprietary":
        holder = expected["copyright_holder"] if "copyright_holder" in asked else "Your Name"
        assert str(holder) in license_text
        assert "[yyyy]" not in license_text
        assert "[name of copyright owner]" not in license_text
    notice = project / "NOTICE"
    assert notice.is_file() == (expected["license"] == "Apache-2.0")
    if notice.is_file():
        assert notice.read_text().splitlines()[0] == expected["project_name"]

    # Package layout and example cells.
    src = project / "src" / str(pkg)
    assert (src / "kernel" / "cli" / "main.py").is_file()
    assert (src / "cells" / "__init__.py").is_file()
    has_examples = bool(expected["example_cells"])
    assert (src / "cells" / "orders").is_dir() == has_examples
    assert (src / "cells" / "payments").is_dir() == has_examples
    app = (src / "app.py").read_text()
    assert ("orders.cell" in app) == has_examples
    topology = tomllib.loads((project / "topology.toml").read_text())
    assert ("orders" in topology.get("cells", {})) == has_examples

    # CI files only for GitHub Actions; the gate on the Python floor, tests on the newer ones.
    workflows = project / ".github" / "workflows"
    assert workflows.is_dir() == (expected["ci_provider"] == "github")
    if expected["ci_provider"] == "github":
        jobs = yaml.safe_load((workflows / "ci.yml").read_text())["jobs"]
        gate_python = jobs["gate"]["steps"][1]["with"]["python-version"]
        assert gate_python == expected["python_min"]
        newer = [v for v in ("3.11", "3.12", "3.13") if v > str(expected["python_min"])]
        tested = jobs["tests"]["strategy"]["matrix"]["python"] if "tests" in jobs else []
        assert tested == newer
        readme = (project / "README.md").read_text()
        assert ("tests again on the newer Pythons" in readme) == bool(newer)  # as CI does
        assert (project / ".github" / "dependabot.yml").is_file()
        assert (workflows / "template-update.yml").is_file()


def test_a_project_named_like_a_dependency_gets_a_distribution_name_of_its_own(
    copie: Any,
) -> None:
    """The default distribution name steps aside from a dependency's, as the package
    name's does from a module's: "-service" appended, so `uv lock` can resolve."""
    project, recorded = render(copie, {"project_name": "Python Dateutil"})
    assert recorded["package_name"] == "python_dateutil"  # no module of that name
    assert recorded["dist_name"] == "python-dateutil-service"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "python-dateutil-service"


@pytest.mark.parametrize(
    ("project_name", "package", "command"),
    [
        ("Test Runner", "testing_runner", "testing-runner"),  # test_* is pytest's prefix
        ("Test", "testing_service", "testing-service"),  # `test` is a stdlib package
        ("Pip", "pip", "pip-service"),  # the command would shadow pip
        ("Git", "git", "git-service"),
    ],
)
def test_defaults_derived_from_ordinary_names_pass_their_own_checks(
    copie: Any, project_name: str, package: str, command: str
) -> None:
    """Copier validates the defaults too: each of these stopped with a traceback."""
    _, recorded = render(copie, {"project_name": project_name})
    assert (recorded["package_name"], recorded["command_name"]) == (package, command)


def test_defaults_tree(copie: Any) -> None:
    project, recorded = render(copie, {})
    for key, value in DEFAULT_ANSWERS.items():
        assert recorded[key] == value, key
    expected_files = [
        ".copier-answers.yml",
        ".editorconfig",
        ".gitignore",
        ".pre-commit-config.yaml",
        "AGENTS.md",
        "CHANGELOG.md",
        "LICENSE",
        "README.md",
        "mkdocs.yml",
        "pyproject.toml",
        "topology.toml",
        "docs/index.md",
        "docs/architecture.md",
        "docs/adr/0001-monolithic-first-cellular.md",
        "src/my_service/__init__.py",
        "src/my_service/__main__.py",
        "src/my_service/app.py",
        "src/my_service/py.typed",
        "src/my_service/kernel/__init__.py",
        "src/my_service/kernel/core/cell.py",
        "src/my_service/kernel/core/contracts.py",
        "tests/conftest.py",
        "tests/cells/test_orders.py",
    ]
    missing = [name for name in expected_files if not (project / name).is_file()]
    assert missing == []
    assert (project / ".git").is_dir(), "the hook makes the project a git repository"


def test_no_template_syntax_leaks_into_the_project(copie: Any) -> None:
    project, _ = render(copie, {})
    leaks = []
    for path in project.rglob("*"):
        if not path.is_file() or ".git" in path.parts or path.suffix == ".lock":
            continue
        if "kernel" in path.parts:  # copied verbatim, never rendered (its f-strings use {{)
            continue
        if path.name.endswith(".jinja"):
            leaks.append(f"{path.name}: .jinja suffix left")
            continue
        text = path.read_text(encoding="utf-8")
        # GitHub expressions `${{ ... }}` are workflow syntax, not template leftovers.
        text = re.sub(r"\$\{\{.*?\}\}", "", text)
        if "{{" in text or "{%" in text:
            leaks.append(str(path.relative_to(project)))
    # The architecture diagram uses `{{...}}` as Mermaid's hexagon shape on purpose.
    assert leaks == ["docs/architecture.md"]


def test_template_owned_files_say_so(copie: Any) -> None:
    project, _ = render(copie, {})
    owned = [
        *sorted((project / "src" / "my_service" / "kernel").rglob("*.py")),
        project / ".pre-commit-config.yaml",
        project / ".github" / "workflows" / "ci.yml",
        project / ".github" / "dependabot.yml",
    ]
    unmarked = [
        str(path.relative_to(project))
        for path in owned
        if "Owned by the monocell template" not in "".join(path.read_text().splitlines()[:3])
    ]
    assert unmarked == []


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [
        ("Json", "json_service"),
        ("Class", "class_service"),
        ("Msgspec", "msgspec_service"),
        ("A Very Long Project Name That Goes On And On", "a_very_long_project_name_that_go"),
        ("Shop--2 Go", "shop_2_go"),
        ("Q", "q"),  # one letter: was refused as not ending with a letter or digit
    ],
)
def test_derived_package_name_is_always_acceptable(
    copie: Any, project_name: str, package_name: str
) -> None:
    _, recorded = render(copie, {"project_name": project_name})
    assert recorded["package_name"] == package_name
    assert recorded["dist_name"] == package_name.replace("_", "-")


def test_no_generated_file_hard_codes_a_default_name(copie: Any) -> None:
    """Every name the user answered reaches every file: none says "my-service"."""
    project, _ = render(
        copie,
        {
            "project_name": "Acme Orders",
            "package_name": "acme_orders",
            "dist_name": "acme-orders-service",
            "command_name": "acme",
            "github_repository": "acme/orders",
        },
    )
    found = []
    for path in sorted(project.rglob("*")):
        if not path.is_file() or ".git" in path.parts or path.suffix == ".lock":
            continue
        text = path.read_text(encoding="utf-8")
        for default in ("my-service", "my_service", "My Service", "MY_SERVICE"):
            if default in text or default in str(path):
                found.append(f"{path.relative_to(project)}: {default}")
    assert found == []
