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
"""

import ssl
from pathlib import Path

from ..config.topology import BusSettings
from ..core.errors import UnavailableError


class TlsSettingsError(UnavailableError):
    """A TLS setting names a file that cannot serve as what it should be."""


def wants_tls(bus: BusSettings) -> bool:
    """Whether connections need a TLS context: a file is set, or a URL says tls://."""
    urls = [part.strip() for part in bus.url.split(",")]
    return bool(bus.tls_ca or bus.tls_cert or bus.tls_key) or any(
        url.startswith("tls://") for url in urls
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
