"""Every console block of a generated project's documents runs as written.

README.md, AGENTS.md and every page of docs/ of a fresh render (names unlike
the defaults; with the example cells, and without) run one document at a time, each in a copy of
the project of its own: the commands in order, in one shell state (exported
variables carry on to the next command), each command's output compared with
the `# ` lines under it. There `<name>` stands for a value the output shows
(a key, an order id), which later lines reuse, and `...` for any text. `serve`
runs in the background until the next `serve` or the end of the document.
A block marked `<!-- not run: REASON -->` is only parsed, by `docs check` (a
gate step of the generated project, run by its own conformance of the gate).
A block marked `<!-- eventually: REASON -->` shows what an event handled after
the reply leads to: each of its commands is run again until its output matches,
for 15 s at most, as a reader would look again a moment later.
The blocks are read by the generated kernel (`kernel.devtools.docs`), so there
is one reading of the rules.

What the documents say about the machine moves onto free ports here:
127.0.0.1:8000 (the gateway), 9464 (metrics), the default bus URL (a plain
development NATS) and nats.internal:4222 (the operator's NATS, started from
the project's own generated `deploy/nats/nats-server.conf`).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import TEMPLATE, free_port, generated_env, run_copier, sh
from test_kernel import ANSWERS

VARIANTS: dict[str, dict[str, object]] = {
    "examples": {**ANSWERS, "example_cells": True},
    "bare": {
        "project_name": "Back Office",
        "package_name": "back_office",
        "dist_name": "back-office-service",
        "command_name": "bo",
        "example_cells": False,
    },
}
DOCUMENTS = [
    "README.md",
    "AGENTS.md",
    *sorted(
        path.relative_to(TEMPLATE / "template").as_posix().removesuffix(".jinja")
        for path in (TEMPLATE / "template" / "docs").rglob("*.md*")
    ),
]
PLACEHOLDER = re.compile(r"<([a-z][a-z0-9 -]*)>")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Interrupt a process group as Ctrl-C would; kill it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()[-3000:]}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listened on {port} within 30 s:\n{log.read_text()[-3000:]}")


class Session:
    """One reader following one document: a shell state, placeholders, servers."""

    def __init__(
        self, project: Path, scratch: Path, nats_server: str, answers: dict[str, object]
    ) -> None:
        self.project, self.scratch, self.nats_server = project, scratch, nats_server
        prefix = str(answers["package_name"]).upper()
        self.serve_line = re.compile(rf"^uv run {answers['command_name']} serve\b")
        self.taken: set[int] = set()
        self.gateway_port, self.metrics_port = self.port(), self.port()
        self.values: dict[str, str] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.serving: subprocess.Popen[bytes] | None = None
        self.operator_nats: int | None = None
        development_nats = self.start_nats("development-nats", ["-js"])
        self.env = {
            **generated_env(),
            f"{prefix}_GATEWAY_PORT": str(self.gateway_port),
            f"{prefix}_BUS_URL": f"nats://127.0.0.1:{development_nats}",
        }

    def port(self) -> int:
        """A free port none of this session's servers was given (they bind later)."""
        while (port := free_port()) in self.taken:
            pass
        self.taken.add(port)
        return port

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)

    def start_nats(self, name: str, arguments: list[str], env: dict[str, str] | None = None) -> int:
        port, store, log = self.port(), self.scratch / name, self.scratch / f"{name}.log"
        listen = ["-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [self.nats_server, *arguments, *listen],
                stdout=output,
                stderr=output,
                env=env,
                start_new_session=True,
            )
        self.processes.append(process)
        wait_for_port(port, process, log)
        return port

    def run_block(self, block: dict[str, Any]) -> None:
        for command in block["commands"]:
            where = f"{block['path']}:{command['line']}"
            text = self.as_here(command["text"], where)
            if self.serve_line.match(text):
                assert not command["expected"], f"{where}: output shown under a server"
                self.serve(text, where)
            else:
                self.run(text, command["expected"], where, eventually=bool(block["eventually"]))

    def as_here(self, text: str, where: str) -> str:
        """The command with placeholders filled in and documented addresses moved here."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.values, f"{where}: <{name}> is used before any output shows it"
            return self.values[name]

        text = PLACEHOLDER.sub(value, text)
        text = text.replace("127.0.0.1:8000", f"127.0.0.1:{self.gateway_port}")
        text = re.sub(r"\b9464\b", str(self.metrics_port), text)
        if "nats.internal:4222" in text:
            text = text.replace("nats.internal:4222", f"127.0.0.1:{self.operator_nats_port()}")
        return text

    def operator_nats_port(self) -> int:
        """The NATS the runbook's operator reaches: the project's own config and passwords."""
        if self.operator_nats is None:
            config = self.project / "deploy" / "nats" / "nats-server.conf"
            assert config.is_file(), "nats.internal is used before `topology deploy` wrote it"
            self.operator_nats = self.start_nats("operator-nats", ["-c", str(config)], self.env)
        return self.operator_nats

    def serve(self, text: str, where: str) -> None:
        if self.serving is not None:
            stop(self.serving)  # the reader stops the one started earlier
        log = self.scratch / f"serve-{len(self.processes)}.log"
        with log.open("wb") as output:
            self.serving = subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                cwd=self.project,
                env=self.env,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        self.processes.append(self.serving)
        url = f"http://127.0.0.1:{self.gateway_port}/healthz"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.serving.poll() is None, (
                f"{where}: `{text}` exited {self.serving.returncode}:\n{log.read_text()[-3000:]}"
            )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        pytest.fail(f"{where}: `{text}` did not answer {url} within 90 s")

    def run(self, text: str, expected: list[str], where: str, eventually: bool = False) -> None:
        """Run one command; with `eventually`, again until its output matches (15 s at most)."""
        deadline = time.monotonic() + (15 if eventually else 0)
        while True:
            output = self.run_once(text, where)
            try:
                self.match(output, expected, where)
                return
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)

    def run_once(self, text: str, where: str) -> list[str]:
        """Run one command in the session's shell state; its output lines."""
        carried = self.scratch / "env"
        script = f"set -eo pipefail\n{text}\nenv -0 > {carried}\n"
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert result.returncode == 0, (
            f"{where}: `{text}` exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        self.env = dict(
            entry.split("=", 1) for entry in carried.read_text().split("\0") if "=" in entry
        )
        return result.stdout.splitlines()

    def match(self, output: list[str], expected: list[str], where: str) -> None:
        """Each shown line matches a line of the output, in order; placeholders bind.

        Values bind only once every line matched, so a retried command starts clean.
        """
        remaining = iter(output)
        bound: dict[str, str] = {}
        for shown in expected:
            pattern, names = self.pattern(shown, bound)
            found = next((m for line in remaining if (m := pattern.fullmatch(line.rstrip()))), None)
            assert found is not None, (
                f"{where}: no output line is `{shown}`; the output was:\n" + "\n".join(output)
            )
            for group, name in names.items():
                bound[name] = found.group(group)
        self.values.update(bound)

    def pattern(self, shown: str, bound: dict[str, str]) -> tuple[re.Pattern[str], dict[str, str]]:
        """A shown line as a regular expression: `...` any text, `<name>` a value."""
        known = {**self.values, **bound}
        parts, names, position = [], {}, 0
        for match in re.finditer(rf"{PLACEHOLDER.pattern}|\.\.\.", shown):
            parts.append(re.escape(shown[position : match.start()]))
            position = match.end()
            name = match.group(1)
            if name is None:
                parts.append(".*")
            elif name in known:
                parts.append(re.escape(known[name]))
            elif name in names.values():
                parts.append(f"(?P={next(g for g, n in names.items() if n == name)})")
            else:
                group = f"value{len(names)}"
                names[group] = name
                parts.append(f"(?P<{group}>.+?)")
        parts.append(re.escape(shown[position:].rstrip()))
        return re.compile("".join(parts)), names


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def rendered(variant: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp(f"docs-{variant}") / "project"
    answers = VARIANTS[variant]
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    result = run_copier(
        "copy", "--trust", "--defaults", *data, str(TEMPLATE), str(destination), lock=True
    )
    assert result.returncode == 0, result.stderr
    sh(destination, "uv", "sync", "--locked")
    return destination


@pytest.fixture(scope="module")
def blocks(variant: str, rendered: Path) -> dict[str, list[dict[str, Any]]]:
    """The console blocks of every document, as the generated kernel reads them."""
    package = VARIANTS[variant]["package_name"]
    listed = sh(rendered, "uv", "run", "python", "-m", f"{package}.kernel.devtools.docs", "blocks")
    by_document: dict[str, list[dict[str, Any]]] = {}
    for block in json.loads(listed.stdout):
        by_document.setdefault(block["path"], []).append(block)
    return by_document


def test_every_document_with_blocks_is_run_here(blocks: dict[str, list[dict[str, Any]]]) -> None:
    assert set(blocks) <= set(DOCUMENTS)
    assert {"README.md", "AGENTS.md", "docs/runbooks/move-a-cell.md"} <= set(blocks)


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS)
def test_console_blocks_run_as_written(
    document: str,
    variant: str,
    rendered: Path,
    blocks: dict[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    runnable = [block for block in blocks.get(document, []) if block["not_run"] is None]
    if not runnable:
        return
    project = tmp_path / "acme-orders"
    shutil.copytree(rendered, project, ignore=shutil.ignore_patterns(".venv", "data"))
    if document != "README.md":
        # Every other page is read by someone who has run the service as README.md's
        # first block shows: databases migrated.
        sh(project, "uv", "run", str(VARIANTS[variant]["command_name"]), "db", "upgrade")
    nats_server = str(rendered / ".venv" / "bin" / "nats-server")
    session = Session(project, tmp_path, nats_server, VARIANTS[variant])
    try:
        for block in runnable:
            session.run_block(block)
    finally:
        session.close()


def test_a_changed_output_or_an_unknown_value_fails_the_document(tmp_path: Path) -> None:
    """The runner itself: shown output is compared, placeholders must be bound first."""
    session = Session.__new__(Session)
    session.project, session.scratch, session.values, session.taken = tmp_path, tmp_path, {}, set()
    session.env, session.gateway_port, session.metrics_port = generated_env(), 1, 2
    session.run("echo 'id: 7f3a'", ["id: <order id>"], "README.md:3")
    assert session.values == {"order id": "7f3a"}
    session.run("echo 'again: 7f3a, done'", ["again: <order id>, ..."], "README.md:5")
    with pytest.raises(AssertionError, match=r"README.md:7: no output line is `id: <order id>`"):
        session.run("echo 'id: 0000'", ["id: <order id>"], "README.md:7")
    with pytest.raises(AssertionError, match=r"README.md:9: <key> is used before"):
        session.as_here("curl -H 'X-API-Key: <key>'", "README.md:9")
    with pytest.raises(AssertionError, match=r"README.md:11: `false` exited 1"):
        session.run("false", [], "README.md:11")
    # A block shown eventually: looked at again until the page's output arrives; not before.
    later = "if [ -e seen ]; then echo 'status: paid'; else touch seen; echo 'status: new'; fi"
    with pytest.raises(AssertionError, match=r"README.md:13: no output line is `status: paid`"):
        session.run(later, ["status: paid"], "README.md:13")
    (tmp_path / "seen").unlink()
    session.run(later, ["status: paid"], "README.md:15", eventually=True)
    with pytest.raises(AssertionError, match=r"README.md:17: `exit 3` exited 3"):
        session.run("exit 3", ["status: paid"], "README.md:17", eventually=True)
