# Owned by the monocell template: `copier update` replaces this file.
"""The gateway's one settings object: the `[gateway]` table of topology.toml.

    [gateway]
    host = "127.0.0.1"                 # bind address; 0.0.0.0 only behind a proxy
    port = 8000
    workers = 1
    allowed_hosts = ["127.0.0.1", "localhost"]   # Host header allowlist ("*.example.com")
    max_body_bytes = 65536
    max_header_bytes = 8192
    cors_origins = []                  # closed by default
    rate_limit = "20/second"           # per authenticated caller, `limits` notation, one limit
    address_rate_limit = "100/second"  # per client address, before authentication
    rate_limit_storage = "memory://"   # where the counts live (see `ratelimit`)
    timeout = 5.0                      # deadline of the bus call, seconds
    read_timeout = 10.0                # seconds a client has to send the headers, then the body
    trusted_proxies = []               # proxies whose X-Forwarded-For is believed (none)
    docs = false                       # interactive docs page at /docs

    [[gateway.api_keys]]               # keys are stored hashed: `<cli> gateway hash-key`
    id = "ci"
    hash = "sha256:..."
    scopes = ["orders:write"]

    [gateway.jwt]                      # optional: bearer tokens
    issuer = "https://issuer.example"
    audience = "orders-api"
    algorithms = ["RS256"]
    jwks_url = "https://issuer.example/.well-known/jwks.json"   # or `key` (PEM / secret)

Every key can be overridden from the environment: `<PKG>_GATEWAY_<KEY>` for the
table's keys and `<PKG>_GATEWAY_JWT_<KEY>` for the jwt table (PKG = the package
name in upper case). Text values are taken as they are; lists, numbers and
tables are JSON (`<PKG>_GATEWAY_API_KEYS='[{"id": "ci", "hash": "sha256:..."}]'`).
An empty variable counts as unset (the deployment files pass them through so).
Secrets (the JWT key) belong in the environment, not in the file. A
`<PKG>_GATEWAY_*` variable that names no key is refused, as a misspelt key is.

A bad value stops start-up with one line naming the key (or the variable it
came from) and what was expected.
"""

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import jwt
import limits
import limits.storage
import msgspec
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.util import MissingModule, get_dependency

from .validation import split_message

PACKAGE = __package__.partition(".")[0]
ENV_PREFIX = f"{PACKAGE.upper()}_GATEWAY_"

# msgspec checks a pattern with `re.search`: `\Z` (not `$`, which also matches
# before a trailing newline) ends each one.
HOST_PATTERN = r"^(\*|(\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])\Z"
ORIGIN_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z"
KEY_HASH_PATTERN = r"^sha256:[0-9a-f]{64}\Z"
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}\Z"
# The storages `storage_from_string` knows, by scheme (not re-exported in its type hints).
STORAGE_SCHEMES: Mapping[str, type] = limits.storage.SCHEMES  # type: ignore[attr-defined]
JWKS_URL_PATTERN = r"^(https://\S+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?/\S*)?\Z"
# What each pattern means, for messages (a raw regex helps nobody).
PATTERN_MEANING = {
    HOST_PATTERN: "a host name, '*.' + a domain, '*', or a bracketed IPv6 address",
    ORIGIN_PATTERN: "an origin like 'https://app.example' (scheme, host, optional port)",
    KEY_HASH_PATTERN: "'sha256:' and 64 lowercase hex digits (`gateway hash-key` prints it)",
    NAME_PATTERN: "1 to 64 of A-Z a-z 0-9 _ . : -",
    JWKS_URL_PATTERN: "an https:// URL, or http:// to 127.0.0.1, localhost or [::1]",
}

# Asymmetric algorithms first; "none" is not in the list, so it cannot be configured.
Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
]  # fmt: skip
Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A gateway setting is not valid; the message is one line naming the key."""


class ApiKey(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One accepted API key, stored as the hash `<cli> gateway hash-key` prints."""

    id: Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
    hash: Annotated[str, msgspec.Meta(pattern=KEY_HASH_PATTERN)]
    scopes: tuple[Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)], ...] = ()


class JwtSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Bearer tokens: who issues them, for whom, signed how, checked with which key."""

    issuer: Annotated[str, msgspec.Meta(min_length=1)]
    audience: Annotated[str, msgspec.Meta(min_length=1)]
    algorithms: Annotated[tuple[Algorithm, ...], msgspec.Meta(min_length=1)]
    key: str = ""
    # HTTPS, or plain HTTP to this machine only (a local identity provider).
    jwks_url: Annotated[str, msgspec.Meta(pattern=JWKS_URL_PATTERN)] = ""
    leeway: Annotated[float, msgspec.Meta(ge=0, le=300)] = 0.0

    def __repr__(self) -> str:  # the key may be a shared secret: never print it
        return f"JwtSettings(issuer={self.issuer!r}, audience={self.audience!r}, key=***)"


class GatewaySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The `[gateway]` table (see the module documentation)."""

    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    allowed_hosts: tuple[Annotated[str, msgspec.Meta(pattern=HOST_PATTERN)], ...] = (
        "127.0.0.1",
        "localhost",
    )
    max_body_bytes: Annotated[int, msgspec.Meta(ge=64, le=64 * 1024 * 1024)] = 64 * 1024
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * 1024)] = 8 * 1024
    cors_origins: tuple[Annotated[str, msgspec.Meta(pattern=ORIGIN_PATTERN)], ...] = ()
    rate_limit: str = "20/second"
    address_rate_limit: str = "100/second"
    rate_limit_storage: str = "memory://"
    timeout: Seconds = 5.0
    read_timeout: Seconds = 10.0
    trusted_proxies: tuple[str, ...] = ()
    docs: bool = False
    api_keys: tuple[ApiKey, ...] = ()
    jwt: JwtSettings | None = None

    def __post_init__(self) -> None:
        """Checks that span keys or need a library; msgspec has checked each value."""
        if not self.allowed_hosts:  # every request, /healthz too, would be a 400
            raise ValueError("allowed_hosts: expected at least one host, or ['*'] for any")
        _check_rate_limit(self.rate_limit)
        _check_rate_limit(self.address_rate_limit, "address_rate_limit")
        for proxy in self.trusted_proxies:
            _check_proxy(proxy)
        _check_storage(self.rate_limit_storage)
        ids = [key.id for key in self.api_keys]
        duplicate = next((key_id for key_id in ids if ids.count(key_id) > 1), None)
        if duplicate is not None:
            raise ValueError(f"api_keys: id {duplicate!r} is used twice")
        hashes = [key.hash for key in self.api_keys]
        shared = next((key for key in self.api_keys if hashes.count(key.hash) > 1), None)
        if shared is not None:  # one key, two principals: which one calls would be a guess
            twin = next(
                key.id for key in self.api_keys if key.hash == shared.hash and key is not shared
            )
            raise ValueError(f"api_keys: ids {shared.id!r} and {twin!r} have the same hash")
        if self.jwt is not None:
            _check_jwt(self.jwt)


def _check_rate_limit(rate: str, key: str = "rate_limit") -> None:
    """Exactly one limit of at least one request: the limiter enforces one, and 0 refuses all."""
    expected = f"expected one rate like '20/second' or '1000/hour', got {rate[:40]!r}"
    if rate != rate.strip():  # `limits` parses with `$`: "20/second\n" would pass
        raise ValueError(f"{key}: {expected} (no surrounding spaces or newlines)")
    try:
        items = limits.parse_many(rate)
    except ValueError:  # also an amount too long for int()
        raise ValueError(f"{key}: {expected}") from None
    if len(items) != 1:
        raise ValueError(f"{key}: {expected} (one limit only)")
    if items[0].amount < 1:
        raise ValueError(f"{key}: {expected} (at least 1 request)")


def _check_proxy(proxy: str) -> None:
    """An address or network (CIDR) of a proxy whose X-Forwarded-For is believed."""
    try:
        ipaddress.ip_network(proxy)
    except ValueError:
        raise ValueError(
            f"trusted_proxies: expected addresses or networks like '10.0.0.5' or "
            f"'10.0.0.0/8', got {proxy[:60]!r}"
        ) from None


def _check_storage(uri: str) -> None:
    """A `limits` storage this process can build: known scheme, client library installed.

    Only memory:// needs nothing: the others need a client this service does not
    depend on. `limits` itself says what is missing; building a storage does not connect.
    """
    schemes = sorted(
        name.removeprefix("async+") for name in STORAGE_SCHEMES if name.startswith("async+")
    )
    scheme = uri.partition("://")[0] if "://" in uri else ""
    if scheme not in schemes:
        raise ValueError(
            f"rate_limit_storage: expected a URI like 'memory://' with a scheme of "
            f"{', '.join(schemes)}; got {uri[:40]!r}"
        )
    unusable = f"rate_limit_storage: {scheme}:// cannot be used here"
    clients = list(getattr(STORAGE_SCHEMES[f"async+{scheme}"], "DEPENDENCIES", ()))
    # Checked before building: a storage that fails half-built can complain again when collected.
    if clients and all(get_dependency(name)[0] is MissingModule for name in clients):
        raise ValueError(
            f"{unusable}: none of its client libraries ({', '.join(clients)}) is installed; "
            "use 'memory://'"
        )
    try:
        storage_from_string(f"async+{uri}")
    except (ConfigurationError, ValueError) as error:
        reason = str(error).partition(" See ")[0].rstrip(".")  # without the link to the docs
        raise ValueError(f"{unusable} ({reason}); use 'memory://'") from None


def _check_jwt(settings: JwtSettings) -> None:
    """One key source, matching the algorithms, usable by PyJWT."""
    if bool(settings.key) == bool(settings.jwks_url):
        raise ValueError("jwt: expected exactly one of `key` and `jwks_url`")
    symmetric = {alg.startswith("HS") for alg in settings.algorithms}
    if len(symmetric) > 1:
        raise ValueError("jwt.algorithms: do not mix HS* (shared secret) with public-key ones")
    if settings.jwks_url and symmetric == {True}:
        raise ValueError("jwt.jwks_url: JWKS publishes public keys; HS* algorithms need `key`")
    if settings.key:
        if symmetric == {True} and len(settings.key.encode()) < 32:
            raise ValueError("jwt.key: expected a shared secret of at least 32 bytes")
        for name in settings.algorithms:
            try:
                jwt.get_algorithm_by_name(name).prepare_key(settings.key)
            except (jwt.InvalidKeyError, ValueError, TypeError):
                raise ValueError(f"jwt.key: not a valid key for {name}") from None


def load_gateway_settings(
    table: Mapping[str, Any],
    *,
    source: str = "topology.toml",
    environ: Mapping[str, str],
    names: Mapping[str, str] | None = None,
) -> GatewaySettings:
    """Check the `[gateway]` table with environment overrides; raise `SettingsError`.

    A bad value that came from a variable is reported under the variable's name,
    or under `names[variable]` (`serve` passes its flags as variables).
    """
    _refuse_unknown_variables(environ)
    overrides = _overrides(GatewaySettings, ENV_PREFIX, environ, exclude=frozenset({"jwt"}))
    origins = {key: ENV_PREFIX + key.upper() for key in overrides}  # key -> its variable
    raw = {**table, **overrides}
    jwt_raw = dict(raw.get("jwt") or {}) if isinstance(raw.get("jwt", {}), Mapping) else None
    if jwt_raw is not None:
        jwt_overrides = _overrides(JwtSettings, f"{ENV_PREFIX}JWT_", environ)
        origins.update({f"jwt.{key}": f"{ENV_PREFIX}JWT_{key.upper()}" for key in jwt_overrides})
        jwt_raw.update(jwt_overrides)
        if jwt_raw:
            raw["jwt"] = jwt_raw
    try:
        return msgspec.convert(raw, GatewaySettings)
    except msgspec.ValidationError as error:
        key, what = _explain(str(error))
        variable = next(
            (name for k, name in origins.items() if key == k or key.startswith((f"{k}.", f"{k}["))),
            None,
        )
        if variable is None and key.partition(".")[0] == "jwt" and "jwt" not in table:
            # The table came from variables alone (the file has none): name them all,
            # not the first one set (which is seldom the one at fault).
            variable = f"{ENV_PREFIX}JWT_*"
            what = f"gateway.jwt: {what}"
        if variable is not None:
            raise SettingsError(f"{(names or {}).get(variable, variable)}: {what}") from None
        where = ".".join(part for part in ("gateway", key) if part)
        raise SettingsError(f"{source}: {where}: {what}") from None


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """A `<PKG>_GATEWAY_*` variable naming no key is refused: misspelt
    (`_API_KEY` for `_API_KEYS`), it would leave the file's value in force unnoticed."""
    known = {ENV_PREFIX + field.upper() for field in GatewaySettings.__struct_fields__}
    known |= {f"{ENV_PREFIX}JWT_{field.upper()}" for field in JwtSettings.__struct_fields__}
    known.discard(ENV_PREFIX + "JWT")  # a table: its keys are variables of their own
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in known:
            raise SettingsError(
                f"{name}: unknown variable; expected {ENV_PREFIX}<KEY> for a [gateway] key "
                f"or {ENV_PREFIX}JWT_<KEY> for a [gateway.jwt] key"
            )


def _overrides(
    cls: type[msgspec.Struct],
    prefix: str,
    environ: Mapping[str, str],
    exclude: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Values from `<prefix><KEY>` variables: text as is, everything else as JSON."""
    found: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        name = prefix + field.name.upper()
        value = environ.get(name, "")
        if field.name in exclude or not value:  # empty counts as unset: compose's ${VAR:-}
            continue
        if _is_text(field.type):
            found[field.name] = value
            continue
        try:
            found[field.name] = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, too many digits, nested too deep
            raise SettingsError(f"{name}: expected a JSON value, got {value[:40]!r}") from None
    return found


def _is_text(annotation: object) -> bool:
    """True for `str` and `Annotated[str, ...]` fields."""
    return annotation is str or getattr(annotation, "__origin__", None) is str


def _explain(message: str) -> tuple[str, str]:
    """Split msgspec's `<what> - at `$.a.b`` into the key `a.b` and `<what>`."""
    what, where = split_message(message)
    what = what.replace("Object contains unknown field", "unknown key")
    for pattern, meaning in PATTERN_MEANING.items():
        what = what.replace(f"`str` matching regex {pattern!r}", meaning)
    named = re.match(r"^([a-z_.]+): (.*)$", what)
    if named:  # a cross-key check names its key
        return ".".join(part for part in (where, named.group(1)) if part), named.group(2)
    return where, what
