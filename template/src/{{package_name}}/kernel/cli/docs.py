# Owned by the monocell template: `copier update` replaces this file.
"""`docs check`: the console blocks of the documents name commands that exist (a gate step)."""

import sys
from pathlib import Path

import typer

from ... import COMMAND_NAME
from ..devtools import docs
from ..devtools.checks import project_root
from ..runtime.registry import PACKAGE

app = typer.Typer(
    help="Keep the documents' console blocks in step with the command line.",
    no_args_is_help=True,
)


@app.command()
def check(context: typer.Context) -> None:
    """Parse every command of README.md, AGENTS.md and docs/ with this program's own parser."""
    # The root of this very command line, from the running context: importing it is a cycle.
    program = docs.Program(
        command_name=COMMAND_NAME,
        package=PACKAGE,
        cli=context.find_root().command,
        root=project_root(Path.cwd()),
        tools=Path(sys.executable).parent,
    )
    if not docs.project_documents(program.root):  # the wrong folder, most likely
        typer.echo(f"docs: no README.md, AGENTS.md or docs/*.md in {program.root}", err=True)
        raise typer.Exit(1)
    findings = docs.check(program)
    for problem in findings.problems:
        typer.echo(problem, err=True)
    if findings.problems:
        count = len(findings.problems)
        typer.echo(f"{count} command(s) in the documents would fail as written", err=True)
        raise typer.Exit(1)
    typer.echo(f"docs: {findings.checked} commands checked, all name what exists")
