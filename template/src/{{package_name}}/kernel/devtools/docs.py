# Owned by the monocell template: `copier update` replaces this file.
"""The console blocks of the project's documents, checked against the command line.

A page that says `uv run acme db upgrade --all` rots the day `--all` is
renamed, and nobody notices until a newcomer pastes it. So every console block
in README.md, AGENTS.md and docs/ is read here, and every command it gives to
this project's program must name a command, options and arguments that exist
(parsed by the program's own Click parser, not by a copy of its rules). `uv run
TOOL` must name a tool installed in this environment, `uv run python FILE` a
file of the project. The gate runs this check (`docs check`).

Blocks are also meant to be run as written: the monocell template's tests run
the blocks of the documents it generates in a fresh project, one document at a
time, commands in order, and compare
what each prints with the `# ` lines under it (`<name>` stands for a value
shown there and used by later commands; `...` for any text). A block that must
not run (it needs Docker, say, or takes minutes) says why, on the line above
its fence: `<!-- not run: needs Docker -->`. A block whose output arrives a
moment later (a status set by an event handled after the reply) is marked
`<!-- eventually: REASON -->`: it is run as written, and each of its commands
is run again until it prints what the page shows, for a few seconds at most, so
its commands must be safe to repeat. Both reasons are required.
"""

import json
import re
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Typer carries its own copy of Click; the parser and its errors are those of that copy.
from typer._click.core import Command as CliCommand
from typer._click.core import Context
from typer._click.exceptions import BadParameter, MissingParameter, UsageError
from typer.exceptions import Exit

# A fence is three or more backticks or tildes, as in CommonMark; it may be indented (a block
# in a list item): the indent is not part of the commands. Only the info strings below are
# console blocks, but every fence is followed to its close: a ```` block may show a page.
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)\Z")
CONSOLE = {"console", "shell", "bash", "sh", "shell-session"}
INLINE_COMMAND = re.compile(r"`(uv run [^`]+)`")
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9 -]*>")
# `cat > file <<'EOF'`: the lines up to `EOF` are the command's input, not commands.
HERE_DOCUMENT = re.compile(r"<<-?[ \t]*(?P<quote>['\"]?)(?P<word>[A-Za-z_][A-Za-z0-9_]*)(?P=quote)")
# The marker, and anything that looks like an attempt at one (to refuse a typo).
NOT_RUN = re.compile(r"^<!--\s*not run\s*(?P<colon>:?)(?P<reason>.*?)-->\s*\Z", re.IGNORECASE)
EVENTUALLY = re.compile(r"^<!--\s*eventually\s*(?P<colon>:?)(?P<reason>.*?)-->\s*\Z", re.IGNORECASE)
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")"}
REDIRECTIONS = {">", ">>", "<", ">&", "<&", "<<", "<<<"}
# `uv run` options that take a value: the tool comes after them.
UV_RUN_VALUE_OPTIONS = {
    "--group",
    "--with",
    "--extra",
    "--python",
    "-p",
    "--package",
    "--directory",
    "--project",
    "--env-file",
}
# With these, the tool may come from outside this environment.
UV_RUN_OTHER_ENVIRONMENT = {"--group", "--with", "--extra", "--all-groups", "--all-extras"}
# Commands that run the words after them as a command of their own.
WRAPPERS = {"env", "exec", "nohup", "time", "command"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# With these, the command runs in another project: not this one's to check.
UV_RUN_OTHER_PROJECT = {"--directory", "--project"}
# Python's options that take the next word as their value (`-c` and `-m` end the options).
PYTHON_VALUE_OPTIONS = {"-W", "-X"}


@dataclass
class Command:
    """One command of a block (continuation lines joined) and the output shown under it."""

    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A console block: where it starts, its commands, why it is not run (if it is not),
    and why its output shows only eventually (if it does)."""

    path: str
    line: int
    commands: list[Command]
    not_run: str | None = None
    eventually: str | None = None


class DocumentError(ValueError):
    """A document whose blocks cannot be read: the message names the file and line."""


def project_documents(root: Path) -> list[Path]:
    """README.md, AGENTS.md and every page under docs/, in that order."""
    docs = root / "docs"
    # A folder named like a page is none; a broken link is, and read_blocks names it.
    found = docs.rglob("*.md") if docs.is_dir() else iter(())
    pages = sorted(page for page in found if not page.is_dir())
    return [path for path in (root / "README.md", root / "AGENTS.md") if path.is_file()] + pages


def read_blocks(path: Path, root: Path, inline: bool = False) -> list[Block]:
    """Every console block of one Markdown file; DocumentError on a malformed one.

    With `inline`, each `uv run ...` in inline code is a block of its own too
    (never run: it is a mention, like a table's "what, which command").
    """
    name = path.relative_to(root).as_posix()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise DocumentError(
            f"{name}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except OSError as error:  # a broken link, a folder, no permission
        raise DocumentError(f"{name}: cannot be read ({error.strerror})") from None
    blocks: list[Block] = []
    number = 0
    while number < len(lines):
        fence = FENCE.match(lines[number])
        if fence is None or (fence["fence"][0] == "`" and "`" in fence["info"]):
            if inline:
                blocks += [
                    Block(name, number + 1, [Command(number + 1, span)], "inline code")
                    for span in INLINE_COMMAND.findall(lines[number])
                ]
            number += 1
            continue
        start = number + 1  # 1-based line of the fence
        end = next((n for n in range(number + 1, len(lines)) if _closes(fence, lines[n])), None)
        is_console = fence["info"].strip().lower() in CONSOLE
        if end is None and is_console:
            raise DocumentError(
                f"{name}:{start}: console block is never closed with {fence['fence']}"
            )
        if end is None:
            break  # an unclosed block of another kind runs to the end of the page
        if is_console:
            body = [line.removeprefix(fence["indent"]) for line in lines[number + 1 : end]]
            not_run = _marker_reason(NOT_RUN, "that is not run", "not run", lines, number, name)
            eventually = _marker_reason(
                EVENTUALLY, "shown eventually", "eventually", lines, number, name
            )
            blocks.append(Block(name, start, _commands(body, start + 1), not_run, eventually))
        number = end + 1
    return blocks


def _closes(fence: re.Match[str], line: str) -> bool:
    """Whether `line` closes `fence`: the same character, at least as many, and nothing else."""
    close = FENCE.match(line)
    return (
        close is not None
        and not close["info"].strip()
        and close["fence"][0] == fence["fence"][0]
        and len(close["fence"]) >= len(fence["fence"])
    )


def _marker_reason(
    pattern: re.Pattern[str], what: str, word: str, lines: list[str], fence: int, name: str
) -> str | None:
    """The reason of a `<!-- WORD: ... -->` line just above the fence, if there is one."""
    above = next((n for n in range(fence - 1, -1, -1) if lines[n].strip()), None)
    if above is None:
        return None
    marker = pattern.match(lines[above].strip())
    if marker is None:
        return None
    reason = marker.group("reason").strip()
    if not marker.group("colon") or not reason:
        raise DocumentError(f"{name}:{above + 1}: a block {what} says why: <!-- {word}: REASON -->")
    return reason


def _commands(body: list[str], first_line: int) -> list[Command]:
    """The commands of a block's lines: `$ ` lines if it uses prompts, else its non-`#` lines."""
    prompted = any(line.startswith("$ ") for line in body)
    commands: list[Command] = []
    pending = ""  # a command continued with a trailing backslash
    until = None  # the word that ends the here-document of the last command
    for offset, line in enumerate(body):
        if prompted and (until is not None or pending):
            # A transcript shows the shell's `> ` prompt before a command's next line.
            line = line.removeprefix("> ")
        if until is not None:
            commands[-1].text += "\n" + line
            until = None if line.lstrip("\t") == until else until
            continue
        if pending:
            pending += "\n" + line
            if not line.endswith("\\"):
                commands[-1].text = pending
                pending = ""
            continue
        if prompted:
            is_command = line.startswith("$ ")
        else:
            is_command = bool(line.strip()) and not line.startswith("#")
        if is_command:
            text = line[2:] if prompted else line
            commands.append(Command(first_line + offset, text))
            if text.endswith("\\"):
                pending = text
            elif here := HERE_DOCUMENT.search(text):
                until = here["word"]
        elif commands and line.strip():
            # Output shown under the command: `# ` lines, or any line of a prompted block.
            shown = line if prompted else line.removeprefix("#").removeprefix(" ")
            commands[-1].expected.append(shown)
    return commands


def invocations(text: str) -> list[list[str]]:
    """The simple commands of a shell line, as words (assignments and redirections dropped)."""
    # `<your model id>` stands for a word; the shell would read `<` as a redirection.
    text = PLACEHOLDER.sub("PLACEHOLDER", _without_input(text).replace("\\\n", " "))
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    simple: list[list[str]] = [[]]
    redirected = False
    for word in words:
        if word in SEPARATORS:
            simple.append([])
            redirected = False
        elif word in REDIRECTIONS:
            redirected = True  # what follows is a file name, then nothing of the command
            if simple[-1] and simple[-1][-1].isdigit():
                simple[-1].pop()  # the `2` of `2>`
        elif not redirected:
            if not simple[-1] and ASSIGNMENT.match(word):
                continue  # NAME=value before the command
            simple[-1].append(word)
    return [words for words in simple if words]


def _without_input(text: str) -> str:
    """`text` without the lines of its here-documents: input, not commands."""
    kept: list[str] = []
    until = None
    for line in text.split("\n"):
        if until is not None:
            until = None if line.lstrip("\t") == until else until
            continue
        kept.append(line)
        if here := HERE_DOCUMENT.search(line):
            until = here["word"]
    return "\n".join(kept)


@dataclass(frozen=True)
class Program:
    """What a command line may call: this project's program and this environment's tools."""

    command_name: str
    package: str
    cli: CliCommand
    root: Path
    tools: Path  # the environment's scripts folder


@dataclass
class Findings:
    """What `check` read: how many commands, and every one that would fail."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)


def check(program: Program) -> Findings:
    """Every command of every console block that would fail to parse, one line each."""
    findings = Findings()
    found = findings.problems
    for path in project_documents(program.root):
        try:
            blocks = read_blocks(path, program.root, inline=True)
        except DocumentError as error:
            found.append(str(error))
            continue
        for block in blocks:
            findings.checked += len(block.commands)
            for command in block.commands:
                where = f"{block.path}:{command.line}"
                try:
                    calls = invocations(command.text)
                except ValueError as error:  # shlex: an unbalanced quote
                    found.append(f"{where}: cannot read the command ({error})")
                    continue
                for words in calls:
                    problem = _check_invocation(program, words)
                    if problem:
                        found.append(f"{where}: `{' '.join(words)}`: {problem}")
    return findings


def _check_invocation(program: Program, words: list[str]) -> str | None:
    """Why one simple command would not run as written, or None."""
    while words and words[0] in WRAPPERS:  # `exec uv run ...`: the command is what follows
        wrapper, words = words[0], words[1:]
        while wrapper == "env" and words and ASSIGNMENT.match(words[0]):
            words = words[1:]  # `env NAME=value ...`
    if not words:
        return None
    other_environment = False
    if words[:2] == ["uv", "run"]:
        rest = words[2:]
        while rest and rest[0].startswith("-"):
            word = rest.pop(0)
            option = word.split("=", 1)[0]
            other_environment |= option in UV_RUN_OTHER_ENVIRONMENT
            if option in UV_RUN_OTHER_PROJECT:
                return None
            if option in UV_RUN_VALUE_OPTIONS and "=" not in word and rest:
                rest.pop(0)  # the value of `--with httpx`; `--with=httpx` is one word
        if not rest:
            return "`uv run` names no command"
        words = rest
    elif words[0] != program.command_name:
        return None  # curl, export, docker, ...: not this project's to check
    tool, arguments = words[0], words[1:]
    if tool == "...":  # `uv run ...`: a mention of any command
        return None
    if tool == program.command_name:
        return _check_arguments(program.cli, program.command_name, arguments)
    if tool == "python":
        return _check_python(program, arguments)
    if "/" in tool:  # `uv run scripts/seed.sh`: a file of the project, not a tool
        return None if (program.root / tool).is_file() else f"no file {tool} in the project"
    if not other_environment and not (program.tools / tool).exists():
        return f"no `{tool}` installed in this environment"
    return None


def _check_python(program: Program, arguments: list[str]) -> str | None:
    """`python [options] (FILE | -m MODULE | -c CODE) ...`: this program's arguments or a file."""
    rest = list(arguments)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        option = rest.pop(0)
        if option == "--":
            break
        if option.startswith("-c"):
            return None  # code on the command line
        if option.startswith("-m"):
            module = option[2:] or (rest.pop(0) if rest else "")
            if module != program.package:
                return None  # pytest, another module: not a file to look for
            return _check_arguments(program.cli, program.command_name, rest)
        if option in PYTHON_VALUE_OPTIONS and rest:
            rest.pop(0)
    script = rest[0] if rest else "-"
    if script != "-" and not (program.root / script).is_file():
        return f"no file {script} in the project"
    return None


def _check_arguments(cli: CliCommand, name: str, arguments: list[str]) -> str | None:
    """Parse `arguments` with the program's own parser, without running anything."""
    if "--help" in arguments:
        arguments = arguments[: arguments.index("--help")]
    command, context, rest = cli, Context(cli, info_name=name), list(arguments)
    while hasattr(command, "get_command"):  # a group: its options, then a subcommand
        try:
            _, rest, _ = command.make_parser(context).parse_args(args=rest)
        except UsageError as error:  # `acme --verbose db`: no such option of the group
            return error.format_message()
        if not rest or rest[0] == "...":
            return None  # `acme`, `acme --version` or `acme ...`: nothing more to check
        subcommand = command.get_command(context, rest[0])
        if subcommand is None:
            return f"no command `{rest[0]}` in `{context.command_path}`"
        command, rest = subcommand, rest[1:]
        context = Context(command, info_name=subcommand.name, parent=context)
    rest = ["PLACEHOLDER" if word == "..." else word for word in rest]  # `-m ...`: a value
    try:  # with a copy: Click's parser consumes the list it is given
        command.make_context(context.info_name, list(rest), parent=context.parent)
    except MissingParameter as error:
        return error.format_message()
    except BadParameter as error:
        # `--port <port>` stands for a value, and a file may not exist yet; `--port eight`
        # or a number out of range fails whenever it is run.
        if "PLACEHOLDER" in rest or "exist" in error.format_message():
            return None
        return error.format_message()
    except UsageError as error:  # no such option, extra arguments, a misused flag
        return error.format_message()
    except Exit:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m <package>.kernel.devtools.docs blocks [ROOT]`: the blocks as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "blocks" or len(args) > 2:
        print("usage: python -m <package>.kernel.devtools.docs blocks [ROOT]", file=sys.stderr)
        return 2
    root = Path(args[1]) if len(args) == 2 else Path.cwd()
    try:
        blocks = [block for path in project_documents(root) for block in read_blocks(path, root)]
    except DocumentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps([asdict(block) for block in blocks], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
