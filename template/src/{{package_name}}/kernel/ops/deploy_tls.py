# Owned by the monocell template: `copier update` replaces this file.
"""TLS in the deployment files, following `[bus] tls_ca`, `tls_cert` and `tls_key`.

When the processes connect with TLS (one of those set, or a `tls://` URL; see
`kernel.bus.nats_tls`), `topology deploy` writes the server side to match:

- nats-server gets a `tls` block with its certificate and key in `SERVER_DIR`
  of its container and, when the processes have client certificates, the CA
  that signed them and `verify: true` (mutual TLS). Compose mounts
  `deploy/nats/tls/` there, Kubernetes the Secret `<project>-nats-tls`;
- every process (`serve`, the workers, `nats provision`) dials `tls://` and
  finds the files of its settings in `CLIENT_DIR`, named by
  `<PKG>_BUS_TLS_CA`, `_CERT` and `_KEY`. Compose mounts the very files the
  settings name, Kubernetes the Secret `<project>-bus-tls`.

The mounts are read-only, and no certificate or key is copied into the
generated files: they only name where each one goes. The server's certificate
must name the host the processes dial, `nats` (the compose service and the
Kubernetes Service). The files are checked as the processes check them, so a
missing one stops `topology deploy` with one line naming the setting.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ..bus.nats_tls import TlsSettingsError, client_context, wants_tls
from ..config.topology import TLS_SETTINGS, BusSettings

# Where nats-server reads its certificate, key and client CA in its container.
SERVER_DIR = "/etc/nats-tls"
# Where every process reads the files of its [bus] TLS settings.
CLIENT_DIR = "/etc/bus-tls"
# The host name the processes dial, which the server's certificate must carry.
SERVER_HOST = "nats"
# Each client setting's file name in CLIENT_DIR (and key in the Secret).
CLIENT_FILES = {"tls_ca": "ca.pem", "tls_cert": "client-cert.pem", "tls_key": "client-key.pem"}
SERVER_CERT, SERVER_KEY, SERVER_CLIENT_CA = "server-cert.pem", "server-key.pem", "client-ca.pem"
# The server's files in the compose deployment, relative to `deploy/`.
COMPOSE_SERVER_DIR = "nats/tls"


@dataclass(frozen=True)
class ClientFile:
    """One [bus] TLS setting: its file in the containers and where compose takes it from."""

    setting: str
    name: str
    source: str

    @property
    def target(self) -> str:
        return f"{CLIENT_DIR}/{self.name}"

    def variable(self, package: str) -> str:
        return f"{package.upper()}_BUS_{self.setting.upper()}"


@dataclass(frozen=True)
class DeployTls:
    """What the deployment needs for TLS: the processes' files, and whether clients are verified."""

    client: tuple[ClientFile, ...]

    @property
    def verify(self) -> bool:
        """Mutual TLS: the processes have certificates, so the server asks for them."""
        return any(file.setting == "tls_cert" for file in self.client)

    @property
    def server_files(self) -> tuple[str, ...]:
        return (SERVER_CERT, SERVER_KEY, *((SERVER_CLIENT_CA,) if self.verify else ()))

    def server_block(self, project: str) -> str:
        """nats-server's `tls` block: every client connection must then be TLS."""
        lines = [
            f"# TLS: {', '.join(self.server_files)} in {SERVER_DIR} (compose:\n",
            f"# deploy/{COMPOSE_SERVER_DIR}/; Kubernetes: the Secret {project}-nats-tls)\n",
            "tls: {\n",
            f'  cert_file: "{SERVER_DIR}/{SERVER_CERT}"\n',
            f'  key_file: "{SERVER_DIR}/{SERVER_KEY}"\n',
        ]
        if self.verify:
            lines += [f'  ca_file: "{SERVER_DIR}/{SERVER_CLIENT_CA}"\n', "  verify: true\n"]
        lines += ["  timeout: 2\n", "}\n"]
        return "".join(lines)

    def environment(self, package: str) -> list[tuple[str, str]]:
        """The variables that point a process's [bus] TLS settings at its mounted files."""
        return [(file.variable(package), file.target) for file in self.client]

    def instructions(self, project: str, directory: Path) -> list[str]:
        """Which files the operator puts where, one line each."""
        lines = [
            f"TLS: nats-server reads {', '.join(self.server_files)} (a certificate for the "
            f"host {SERVER_HOST!r}) from {directory / COMPOSE_SERVER_DIR}/ with compose, "
            f"from the Secret {project}-nats-tls on Kubernetes"
        ]
        if self.client:
            lines.append(
                f"TLS: the processes read {', '.join(f.source for f in self.client)} with "
                f"compose (relative to {directory}), the Secret {project}-bus-tls "
                f"({', '.join(f.name for f in self.client)}) on Kubernetes"
            )
        return lines


def deploy_tls(bus: BusSettings, directory: Path) -> DeployTls | None:
    """The TLS of the deployment, or None when the processes connect in plain text.

    Raises `TlsSettingsError` (one line naming the setting) for a file that the
    processes could not use. Compose mounts each file by its path relative to
    `directory` (the deploy directory) when it lies in the project, else as given.
    """
    if not wants_tls(bus):
        return None
    client_context(bus)
    files = []
    for setting in TLS_SETTINGS:
        path = getattr(bus, setting)
        if path:
            source = _source(path, directory)
            if ":" in source or "$" in source:  # compose's separator and interpolation
                raise TlsSettingsError(f"bus.{setting}: compose cannot mount {path} (':' or '$')")
            files.append(ClientFile(setting, CLIENT_FILES[setting], source))
    return DeployTls(client=tuple(files))


def _source(path: str, directory: Path) -> str:
    absolute = Path(path).absolute()
    base = directory.absolute()
    if not absolute.is_relative_to(base.parent):
        return str(absolute)
    relative = os.path.relpath(absolute, base)
    return relative if relative.startswith(".") else f"./{relative}"
