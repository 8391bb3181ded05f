"""`cell new` in a freshly generated project: new cells pass the whole gate, oversized cells fail.

The project has the longest names the questions accept (40 characters each), so
every line the template and `cell new` write with a name in it is checked by the
project's own lint at its worst. Also checks that every command AGENTS.md and
the generated README name exists.
"""

import re
import shutil
from pathlib import Path

import pexpect
import pytest
from conftest import TEMPLATE, generated_env, run_copier, sh

pytestmark = pytest.mark.slow

PACKAGE = "northwind_fulfilment_logistics_platforms"  # 40 characters, the most allowed
COMMAND = PACKAGE.replace("_", "-")
LONGEST_NAMES = {
    "project_name": "Northwind Fulfilment Logistics Platforms",
    "package_name": PACKAGE,
    "dist_name": COMMAND,
    "command_name": COMMAND,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("cells") / "project"
    data = [arg for key, value in LONGEST_NAMES.items() for arg in ("--data", f"{key}={value}")]
    result = run_copier(
        "copy", "--trust", "--defaults", *data, str(TEMPLATE), str(destination), lock=True
    )
    assert result.returncode == 0, result.stderr
    sh(destination, "uv", "sync", "--locked", "--quiet")
    sh(destination, "git", "add", "-A")
    return destination


def test_two_new_cells_pass_the_whole_gate(project: Path) -> None:
    sh(
        project,
        "uv",
        "run",
        COMMAND,
        "cell",
        "new",
        "billing",
        "--purpose",
        "Bills customers for placed orders.",
        "--yes",
    )
    sh(
        project,
        "uv",
        "run",
        COMMAND,
        "cell",
        "new",
        "scanner",
        "--purpose",
        "Scans uploaded files.",
        "--risk",
        "high",
        "--placement",
        "sandbox",
        "--yes",
    )
    # A migration as `db revision` writes it: the gate passes it unfilled (its imports
    # are for the operations written later) and filled (no `noqa` left to go stale).
    sh(project, "uv", "run", COMMAND, "db", "revision", "billing", "-m", "add a note column")
    # A change to the cell's code, reviewed and recorded as AGENTS.md says.
    sh(project, "uv", "run", COMMAND, "cell", "regenerated", "billing", "--model", "human")
    listed = sh(project, "uv", "run", COMMAND, "cell", "list").stdout
    assert re.search(r"^billing\s+inprocess\s+low", listed, re.M)
    assert re.search(r"^scanner\s+sandbox\s+high", listed, re.M)
    sh(project, "uv", "run", COMMAND, "gate")
    sh(project, "git", "add", "-A")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("class", "is a Python keyword"),
        ("Billing", "expected a lowercase identifier"),
        ("my-cell", "expected a lowercase identifier"),
        ("orders", "a cell named 'orders' already exists"),
        ("bus", "clashes with the kernel module kernel.bus"),
        ("app", "is reserved by the project layout"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(
    project: Path, name: str, reason: str
) -> None:
    before = sh(project, "git", "status", "--porcelain").stdout
    result = sh(
        project, "uv", "run", COMMAND, "cell", "new", name, "--purpose", "x.", "--yes", expect=2
    )
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sh(project, "git", "status", "--porcelain").stdout == before


def test_cell_over_budget_fails_cell_check(project: Path) -> None:
    handlers = project / "src" / PACKAGE / "cells" / "payments" / "handlers.py"
    original = handlers.read_text()
    try:
        handlers.write_text(
            original + "\n\n" + "".join(f"# padding line {i:05d} {'x' * 70}\n" for i in range(400))
        )
        result = sh(project, "uv", "run", COMMAND, "cell", "check", expect=1)
        assert "payments: ~" in result.stderr
        assert "over the budget of 8000" in result.stderr
        gate = sh(project, "uv", "run", COMMAND, "gate", "--skip-tests", expect=1)
        assert "FAILED at 'cells (size budget, boundaries, provenance)'" in gate.stdout
    finally:
        handlers.write_text(original)
    sh(project, "uv", "run", COMMAND, "cell", "check")


def test_misnamed_event_fails_cell_check(project: Path) -> None:
    contracts = project / "src" / PACKAGE / "cells" / "payments" / "contracts.py"
    original = contracts.read_text()
    try:
        docstring = '    """The amount of an order was charged."""\n'
        assert docstring in original
        misnamed = f'{docstring}\n    message_type = "billing.Paid.v1"\n'
        contracts.write_text(original.replace(docstring, misnamed))
        result = sh(project, "uv", "run", COMMAND, "cell", "check", expect=1)
        assert (
            "FAIL payments: defines event billing.Paid.v1; only events named payments.… "
            "can be published"
        ) in result.stderr
    finally:
        contracts.write_text(original)
    sh(project, "uv", "run", COMMAND, "cell", "check")


def prompt_cell_new(project: Path) -> pexpect.spawn:
    """`cell new` in a pseudo-terminal, so it prompts like it does for a person."""
    env = {**generated_env(), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    return pexpect.spawn(
        shutil.which("uv") or "uv",
        ["run", COMMAND, "cell", "new"],
        cwd=str(project),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
    )


def test_interactive_prompts_create_a_cell(project: Path) -> None:
    child = prompt_cell_new(project)
    try:
        child.expect("Cell name")
        child.send("Not-A-Name\r")
        child.expect("expected a lowercase identifier")
        child.send("\x15inventory\r")
        child.expect("Purpose, in one line")
        child.send("Tracks stock per warehouse.\r")
        child.expect("Risk")
        child.send("\r")  # low
        child.expect("Placement")
        child.send("\r")  # inprocess
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert (project / "src" / PACKAGE / "cells" / "inventory" / "contracts.py").is_file()
    assert "inventory.cell" in (project / "src" / PACKAGE / "app.py").read_text()
    sh(project, "uv", "run", COMMAND, "cell", "check")


def test_interrupted_prompt_writes_nothing(project: Path) -> None:
    before = sh(project, "git", "status", "--porcelain").stdout
    child = prompt_cell_new(project)
    try:
        child.expect("Cell name")
        child.send("halfway\r")
        child.expect("Purpose, in one line")
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus != 0
    assert sh(project, "git", "status", "--porcelain").stdout == before
    assert not (project / "src" / PACKAGE / "cells" / "halfway").exists()


def named_commands(text: str) -> set[tuple[str, ...]]:
    """The `uv run my-service ...` subcommand paths a document names."""
    found = set()
    for match in re.finditer(rf"uv run {COMMAND}((?: [a-z][a-z-]*)*)", text):
        found.add(tuple(match.group(1).split()))
    return found


def test_every_command_in_agents_and_readme_exists(project: Path) -> None:
    commands = set()
    for document in ("AGENTS.md", "README.md"):
        commands |= named_commands((project / document).read_text())
    assert ("gate",) in commands
    assert ("cell", "new") in commands
    # Every command of every document, with its options, parsed by the program itself.
    checked = sh(project, "uv", "run", COMMAND, "docs", "check")
    assert "all name what exists" in checked.stdout
    # The ones that only read the project also run for real.
    for path in [("info",), ("cell", "list"), ("cell", "check"), ("contracts", "diff")]:
        assert path in commands
        sh(project, "uv", "run", COMMAND, *path)
    for other in ("uv run pytest", "uv run lint-imports", "uv run ruff check", "uv run mypy"):
        assert other in (project / "README.md").read_text() + (project / "AGENTS.md").read_text()


def test_a_follow_up_step_that_fails_is_named_and_the_exit_is_not_zero(project: Path) -> None:
    """The cell is made, but deploy/ could not follow it: the owner is told which command
    to run again, and a script sees the failure."""
    compose = project / "deploy" / "compose.yaml"
    kept = compose.read_text()
    compose.unlink()
    compose.mkdir()  # `topology deploy` cannot write it
    try:
        result = sh(
            project, "uv", "run", COMMAND, "cell", "new", "ledger", "--purpose", "x.", "--yes",
            expect=1,
        )  # fmt: skip
        assert (project / "src" / PACKAGE / "cells" / "ledger" / "handlers.py").is_file()
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: cell new: `uv run {COMMAND} topology deploy` failed (")
        assert "Is a directory" in line
        assert line.endswith("); run it again once that is fixed")
        assert "next:" not in result.stdout
    finally:
        compose.rmdir()
        compose.write_text(kept)
        sh(project, "git", "checkout", "--", ".")
        sh(project, "git", "clean", "-fdq")
