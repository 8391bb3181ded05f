# Owned by the monocell template: `copier update` replaces this file.
"""TLS for the NATS connections, from `[bus] tls_ca`, `tls_cert` and `tls_key`.

Every connection of the service (`serve`, `worker`, `nats provision`) is made
with the same client context:

- `tls_ca`: the certificate authority that signed the servers' certificates
  (a private CA; without it the system's trust store is used, as for any
  `tls://` URL);
- `tls_cert` and `tls_key`: this process's own certificate, for servers that
  verify clients (mutual TLS, `verify: true` in nats-server's `tls` block).

Paths are relative to topology.toml. A context is built only when one of them
is set or a URL says `tls://`; otherwise connections stay plain, and a server
that requires TLS then refuses them with its reason in one line. Problems with
the files (missing, unreadable, not PEM, a key that does not match) are
reported here, before anything connects, naming the setting.

When TLS is asked for, it is required: nats-py upgrades a connection only
when the server's first message says `tls_required`, so against a plain
server it would go on in plaintext and send the user's password in the
clear. `TlsOnlyClient` refuses such a server before anything is sent.
"""

import ssl
from pathlib import Path
from typing import Any

from nats import errors as nats_errors
from nats.aio.client import Client

from ..config.topology import BusSettings, nats_servers
from ..core.errors import UnavailableError


class TlsSettingsError(UnavailableError):
    """A TLS setting names a file that cannot serve as what it should be."""


def wants_tls(bus: BusSettings) -> bool:
    """Whether connections need a TLS context: a file is set, or a URL says tls://."""
    return bool(bus.tls_ca or bus.tls_cert or bus.tls_key) or any(
        url.startswith("tls://") for url in nats_servers(bus.url)
    )


def client_context(bus: BusSettings) -> ssl.SSLContext | None:
    """The TLS context of every NATS connection, or None for plain connections."""
    if not wants_tls(bus):
        return None
    if bool(bus.tls_cert) != bool(bus.tls_key):
        given, missing = ("tls_cert", "tls_key") if bus.tls_cert else ("tls_key", "tls_cert")
        raise TlsSettingsError(f"bus.{given} is set but bus.{missing} is not: give both or neither")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if bus.tls_ca:
        _readable("tls_ca", bus.tls_ca)
        try:
            context.load_verify_locations(cafile=bus.tls_ca)
        except ssl.SSLError as error:
            raise TlsSettingsError(
                f"bus.tls_ca: {bus.tls_ca} is not a PEM certificate ({error.reason or error})"
            ) from None
    if bus.tls_cert:
        _readable("tls_cert", bus.tls_cert)
        _readable("tls_key", bus.tls_key)
        try:
            context.load_cert_chain(certfile=bus.tls_cert, keyfile=bus.tls_key)
        except ssl.SSLError as error:
            raise TlsSettingsError(
                f"bus.tls_cert/tls_key: {bus.tls_cert} and {bus.tls_key} are not a PEM "
                f"certificate and its private key ({error.reason or error})"
            ) from None
    return context


def _readable(setting: str, path: str) -> None:
    try:
        with Path(path).open("rb"):
            pass
    except OSError as error:
        raise TlsSettingsError(f"bus.{setting}: cannot read {path}: {error.strerror}") from None


class TlsOnlyClient(Client):
    """A nats-py client that never talks to a server in plaintext.

    The check sits in `_process_info`, the one step nats-py takes between
    reading the server's INFO and sending CONNECT (which carries the
    credentials), on the first connection and on every reconnect. It is a
    private method: nats-py has no public hook there, and the test of this
    module fails if a new nats-py moves it. A server that offers TLS without
    requiring it (`allow_non_tls`) is upgraded as if it required it.
    """

    async def _process_info(self, info: dict[str, Any], initial_connection: bool = False) -> None:
        if initial_connection and self.options.get("tls") is not None:
            if not (info.get("tls_required") or info.get("tls_available")):
                server = self._current_server.uri.netloc if self._current_server else "server"
                raise nats_errors.Error(
                    f"nats: {server.rsplit('@', 1)[-1]} does not offer TLS, and TLS is "
                    "configured ([bus] tls_* or a tls:// URL): nothing was sent to it"
                )
            self._server_info["tls_required"] = True  # nats-py upgrades only on this
        await super()._process_info(info, initial_connection=initial_connection)
