# Owned by the monocell template: `copier update` replaces this file.
"""`cell new`: create a working cell and register it everywhere, all or nothing.

A new cell touches five places: its package under `cells/`, its tests, the
composition root (`app.py`), `topology.toml` and the contracts snapshot. The
plan is computed in memory first (names checked, files rendered, edits
prepared), then applied; any failure or interrupt while applying restores
every file it touched, so no half-made cell is left behind.

The skeleton lives in `kernel/devtools/skeleton/` (Jinja2), so `copier update`
improves the cells you create after it.
"""

import ast
import datetime
import keyword
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ..core.cell import Risk
from ..core.contracts import Message
from ..ops.postgres_roles import RoleNameError, role_of
from . import snapshot

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
RESERVED = {"app", "cells", "kernel", "tests", "probe"}
SKELETON = Path(__file__).parent / "skeleton"


class ScaffoldError(Exception):
    """The cell cannot be created; the message is one line naming the problem."""


class ApplyError(Exception):
    """Writing the cell failed and was rolled back; the message is one line naming the file."""


@dataclass(frozen=True)
class Project:
    """Where a project's parts live."""

    root: Path
    package: str
    command_name: str

    @property
    def source(self) -> Path:
        return self.root / "src" / self.package

    @property
    def cells(self) -> Path:
        return self.source / "cells"


@dataclass(frozen=True)
class Request:
    """What the user asked for."""

    name: str
    purpose: str
    risk: Risk
    placement: str


@dataclass
class Plan:
    """Everything `apply` will write, computed before anything is written."""

    cell_files: dict[str, str]
    test_path: Path
    test_text: str
    edits: dict[Path, str] = field(default_factory=dict)
    contracts: dict[str, str] = field(default_factory=dict)


def check_name(project: Project, name: str) -> None:
    """Refuse a name that cannot be a new cell, with the reason."""
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"cell name: expected a lowercase identifier of 1-32 characters "
            f"(a-z, 0-9, _; starting with a letter), got {name!r}"
        )
    if "__" in name:
        raise ScaffoldError(
            f"cell name: {name!r} contains '__', which joins a cell to a message type in "
            "NATS consumer names (two cells could share one); use single underscores"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"cell name: {name!r} is a Python keyword")
    if name in RESERVED:
        raise ScaffoldError(f"cell name: {name!r} is reserved by the project layout")
    if name.startswith("test"):
        # The cell's test module imports its contracts, e.g. TestItemAdded for `test`.
        raise ScaffoldError(
            f"cell name: {name!r} starts with 'test', so pytest would collect its contract "
            f"classes ({camel(name)}ItemAdded, ...) as tests; choose another name"
        )
    try:
        role_of(project.package, name)  # its data's PostgreSQL role must stay unique
    except RoleNameError as error:
        raise ScaffoldError(f"cell name: {error}") from None
    kernel_modules = {path.stem for path in (project.source / "kernel").iterdir()}
    if name in kernel_modules:
        raise ScaffoldError(f"cell name: {name!r} clashes with the kernel module kernel.{name}")
    if (project.cells / name).exists():
        raise ScaffoldError(f"cell name: a cell named {name!r} already exists")


def check_purpose(purpose: str) -> str:
    """One line, no quotes that would break the generated code."""
    cleaned = purpose.strip()
    if not cleaned or len(cleaned) > 200 or any(c in cleaned for c in '"\\\n\r'):
        raise ScaffoldError(
            "purpose: expected one line of 1-200 characters without double quotes or backslashes"
        )
    return cleaned


def docstring(text: str) -> str:
    """`text` as a module docstring wrapped to the project's line length (100)."""
    lines = textwrap.wrap(text, 94, break_long_words=False, break_on_hyphens=False)
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    return '"""' + "\n".join(lines) + '\n"""'


def string_literal(text: str, column: int, indent: int) -> str:
    """`text` as a Python string starting at `column` of a line indented `indent`: one
    literal, or parenthesised pieces when that would pass 100 columns."""
    if column + len(text) + 3 <= 100:  # the quotes and a trailing comma
        return f'"{text}"'
    width = 100 - indent - 6  # the pieces' indent, their quotes
    pieces = textwrap.wrap(text, width, break_long_words=False, drop_whitespace=False)
    if "".join(pieces) != text:  # never expected: keep the text exactly as given
        return f'"{text}"'
    inner = " " * (indent + 4)
    return "(\n" + "".join(f'{inner}"{piece}"\n' for piece in pieces) + " " * indent + ")"


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def plan(project: Project, request: Request, placements: tuple[str, ...]) -> Plan:
    """Render the cell and prepare every edit, without writing anything."""
    check_name(project, request.name)
    if request.placement not in placements:
        raise ScaffoldError(
            f"placement: expected one of {', '.join(placements)}, got {request.placement!r}"
        )
    if request.risk is Risk.HIGH and request.placement == "inprocess":
        raise ScaffoldError(
            "placement: a high-risk cell runs in the sandbox or a worker, not 'inprocess' "
            "(serve would refuse it)"
        )
    base = camel(request.name)
    purpose = check_purpose(request.purpose)
    context = {
        "name": request.name,
        "purpose": purpose,
        "docstring": docstring(f"The {request.name} cell: {purpose}"),
        # after `    purpose=` in the Cell(...) call of the cell's __init__.py
        "purpose_literal": string_literal(purpose, column=12, indent=4),
        "risk": request.risk.value,
        "placement": request.placement,
        "package": project.package,
        "command_name": project.command_name,
        "command": f"Record{base}Item",
        "reply": f"{base}ItemRecorded",
        "event": f"{base}ItemAdded",
        "handler": f"record_{request.name}_item",
        "today": datetime.date.today().isoformat(),
    }
    import jinja2  # a development dependency: imported where used, see cli/dev_only.py

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SKELETON),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 -- renders Python and Markdown, never HTML
    )

    def render(template: str) -> str:
        return environment.get_template(template).render(context)

    result = Plan(
        cell_files={
            "__init__.py": render("__init__.py.j2"),
            "contracts.py": render("contracts.py.j2"),
            "handlers.py": render("handlers.py.j2"),
            "tables.py": render("tables.py.j2"),
            "migrations/__init__.py": render("migrations/__init__.py.j2"),
            "migrations/versions/__init__.py": render("migrations/versions/__init__.py.j2"),
            "migrations/versions/v0001_create_items.py": render(
                "migrations/versions/v0001_create_items.py.j2"
            ),
            "SPEC.md": render("SPEC.md.j2"),
            "examples.toml": render("examples.toml.j2"),
        },
        test_path=project.root / "tests" / "cells" / f"test_{request.name}.py",
        test_text=render("test_cell.py.j2"),
    )
    if result.test_path.exists():
        raise ScaffoldError(f"tests: {result.test_path.relative_to(project.root)} already exists")
    app = project.source / "app.py"
    result.edits[app] = register_in_app(app.read_text(encoding="utf-8"), request.name)
    topology = project.root / "topology.toml"
    result.edits[topology] = register_in_topology(
        topology.read_text(encoding="utf-8") if topology.exists() else "",
        request.name,
        request.placement,
    )
    result.contracts = contract_files(
        result.cell_files["contracts.py"], request.name, project.package
    )
    return result


def register_in_app(source: str, name: str) -> str:
    """Add `from .cells import <name>` and `<name>.cell` to CELLS in the composition root."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cells_assignment = next(
        (
            node
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            and any(
                isinstance(target, ast.Name) and target.id == "CELLS"
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
        ),
        None,
    )
    if cells_assignment is None or not isinstance(cells_assignment.value, ast.Tuple):
        raise ScaffoldError("app.py: expected `CELLS: tuple[Cell, ...] = (...)`; add it by hand")
    entries = [ast.unparse(element) for element in cells_assignment.value.elts]
    entries.append(f"{name}.cell")
    annotation = (
        f": {ast.unparse(cells_assignment.annotation)}"
        if isinstance(cells_assignment, ast.AnnAssign)
        else ""
    )
    body = "".join(f"    {entry},\n" for entry in entries)
    new_assignment = f"CELLS{annotation} = (\n{body})\n"
    start, end = cells_assignment.lineno - 1, cells_assignment.end_lineno or cells_assignment.lineno
    lines[start:end] = [new_assignment]

    imports = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "cells"
    ]
    if imports:
        node = imports[0]
        names = sorted({alias.name for alias in node.names} | {name})
        statement = f"from .cells import {', '.join(names)}\n"
        if len(statement) > 100:
            statement = "from .cells import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"
        lines[node.lineno - 1 : node.end_lineno or node.lineno] = [statement]
    else:
        kernel_import = next(
            (
                node
                for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "kernel"
            ),
            None,
        )
        if kernel_import is None:
            raise ScaffoldError("app.py: expected `from .kernel import Cell`; add the cell by hand")
        lines.insert(kernel_import.lineno - 1, f"from .cells import {name}\n")
    return "".join(lines)


def register_in_topology(text: str, name: str, placement: str) -> str:
    """Add `[cells.<name>] placement = ...`, keeping every comment (tomlkit)."""
    import tomlkit  # a development dependency: imported where used, see cli/dev_only.py

    document = tomlkit.parse(text)
    cells = document.get("cells")
    if cells is None:
        cells = tomlkit.table(is_super_table=True)
        document["cells"] = cells
    if name in cells:
        raise ScaffoldError(f"topology.toml: cells.{name} already exists; remove it first")
    table = tomlkit.table()
    table["placement"] = placement
    cells[name] = table
    return tomlkit.dumps(document)


def contract_files(contracts_source: str, name: str, package: str) -> dict[str, str]:
    """The snapshot files of the new cell's messages, from its rendered contracts module."""
    # Named as the module will be, so message types derive as they will on import.
    namespace: dict[str, object] = {"__name__": f"{package}.cells.{name}.contracts"}
    # The code was rendered a moment ago from the kernel's own skeleton.
    exec(compile(contracts_source, f"cells/{name}/contracts.py", "exec"), namespace)  # noqa: S102
    files = {}
    for value in namespace.values():
        if isinstance(value, type) and issubclass(value, Message) and "message_type" in vars(value):
            # `cell new` makes a draft cell: its snapshot says so (see snapshot.py).
            schema = snapshot.schema_of(value, draft=True)
            files[f"{value.message_type}.json"] = snapshot.render(schema)
    return files


def apply(project: Project, request: Request, result: Plan) -> Path:
    """Write the plan; on any failure or interrupt, restore everything it touched.

    A file that cannot be written (permissions, a full disk, an immutable file)
    is reported as an `ApplyError` naming it, after the rollback.
    """
    target = project.cells / request.name
    contracts_dir = project.root / "contracts"
    writes = {contracts_dir / name: text for name, text in result.contracts.items()}
    writes |= result.edits
    originals: dict[Path, str] = {}
    created: list[Path] = []  # removed on failure, newest first
    staging: Path | None = None
    try:
        originals = {path: path.read_text(encoding="utf-8") for path in writes if path.exists()}
        staging = Path(tempfile.mkdtemp(prefix=f".new-{request.name}-", dir=project.cells))
        for filename, text in result.cell_files.items():
            (staging / filename).parent.mkdir(parents=True, exist_ok=True)
            (staging / filename).write_text(text, encoding="utf-8")
        staging.rename(target)
        created.append(target)
        for directory in (result.test_path.parent, contracts_dir):
            if not directory.exists():
                created.append(directory)
                directory.mkdir(parents=True)
        created.append(result.test_path)
        result.test_path.write_text(result.test_text, encoding="utf-8")
        for path, text in writes.items():
            if path not in originals:
                created.append(path)
            path.write_text(text, encoding="utf-8")
    except BaseException as error:
        unrestored = rollback(created, originals)
        if isinstance(error, OSError) or unrestored:
            raise ApplyError(failure(project.root, error, unrestored)) from None
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    tidy([*target.rglob("*.py"), result.test_path, project.source / "app.py"])
    return target


def rollback(created: list[Path], originals: dict[Path, str]) -> list[Path]:
    """Remove what was created and put back what was edited; return what could not be.

    Each path is its own attempt, so one that fails does not stop the others.
    """
    failed: list[Path] = []
    for path in reversed(created):
        try:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():  # False too below a file: it was never written
                path.unlink()
        except OSError:
            failed.append(path)
    for path, text in originals.items():
        try:
            if path.read_text(encoding="utf-8") != text:  # never written, e.g. it was read-only
                path.write_text(text, encoding="utf-8")
        except OSError:
            failed.append(path)
    return failed


def failure(root: Path, error: BaseException, unrestored: list[Path]) -> str:
    """One line: what failed, and whether the rollback left the project as it was."""
    if isinstance(error, OSError):
        name = error.filename if error.filename is not None else "a file"
        cause = f"cannot write {shown(root, name)} ({error.strerror or error})"
    elif isinstance(error, KeyboardInterrupt):
        cause = "interrupted"
    else:
        cause = f"failed ({type(error).__name__}: {error})"
    if not unrestored:
        return f"cell new: {cause}; nothing was written"
    paths = ", ".join(shown(root, path) for path in unrestored)
    return f"cell new: {cause}; could not restore {paths}: check them by hand"


def shown(root: Path, path: object) -> str:
    """A path relative to the project root when it is inside it."""
    candidate = Path(str(path))
    return str(candidate.relative_to(root)) if candidate.is_relative_to(root) else str(candidate)


def tidy(paths: list[Path]) -> None:
    """Sort imports and format the new code with the project's ruff, when it is installed.

    Names chosen by the user can make rendered lines long; ruff wraps them the
    same way the project's format check expects. Without ruff the files are
    still valid Python, just not reformatted.
    """
    files = [str(path) for path in paths if path.is_file()]
    for args in (("check", "--fix", "--select", "I", "--quiet"), ("format", "--quiet")):
        subprocess.run(  # noqa: S603 -- this interpreter's ruff, on files just written
            [sys.executable, "-m", "ruff", *args, *files],
            check=False,
            capture_output=True,
        )
