# Owned by the monocell template: `copier update` replaces this file.
"""Commands that only a developer runs, refused in one line where their libraries are absent.

jinja2, questionary and tomlkit are development dependencies: the service's
wheel and image (`uv sync --no-dev`) do not carry them, yet they carry this
command line. A developer command there stops with the reason, not a traceback.
"""

import importlib.util

import typer

DEVELOPMENT_LIBRARIES = ("jinja2", "questionary", "tomlkit")


def require_development_libraries(command: str) -> None:
    """Exit 2 naming the missing libraries if `command` cannot run in this install."""
    missing = [name for name in DEVELOPMENT_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        typer.echo(
            f"error: `{command}` is a development command and {', '.join(missing)} "
            f"{verb} not installed here: run it in a development checkout (`uv sync`)",
            err=True,
        )
        raise typer.Exit(2)
