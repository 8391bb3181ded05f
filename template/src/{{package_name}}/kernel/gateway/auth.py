# Owned by the monocell template: `copier update` replaces this file.
"""Who is calling: an API key (`X-API-Key`) or a JWT (`Authorization: Bearer`).

Authentication answers 401 (with `WWW-Authenticate`) when credentials are
missing or wrong; authorization (`require_scopes`) answers 403 when a known
caller lacks a scope the route needs. Neither ever echoes the credential.
"""

from collections.abc import Mapping, Sequence

from ..config.gateway_settings import GatewaySettings
from ..core.principal import Principal
from .keys import find_key
from .problems import Problem
from .tokens import (
    KeySetUnavailableError,
    TokenError,
    TokenVerifier,
    scopes_of,
)

API_KEY_HEADER = "x-api-key"
BEARER = "bearer "


class Authenticator:
    """Turns request headers into a `Principal` (`key:<id>` or `jwt:<sub>`), or a `Problem`."""

    def __init__(self, settings: GatewaySettings, realm: str) -> None:
        self.keys = settings.api_keys
        self.verifier = TokenVerifier(settings.jwt) if settings.jwt is not None else None
        scheme = "Bearer" if self.verifier is not None else "ApiKey"
        self.challenge = {"WWW-Authenticate": f'{scheme} realm="{realm}"'}

    async def authenticate(self, headers: Mapping[str, Sequence[str]]) -> Principal:
        """`headers`: the values of each header by lowercase name (`endpoint.read_headers`)."""
        presented_keys = headers.get(API_KEY_HEADER, ())
        authorizations = headers.get("authorization", ())
        if len(presented_keys) > 1:
            raise self._refuse("X-API-Key: expected exactly one value")
        if len(authorizations) > 1:
            raise self._refuse("Authorization: expected exactly one value")
        presented_key = presented_keys[0] if presented_keys else None
        authorization = authorizations[0] if authorizations else ""
        if presented_key is not None:
            key = find_key(presented_key, self.keys)
            if key is None:
                raise self._refuse("the API key is not valid")
            return Principal(subject=f"key:{key.id}", scopes=frozenset(key.scopes))
        if authorization[: len(BEARER)].lower() == BEARER:
            if self.verifier is None:
                raise self._refuse("bearer tokens are not accepted here; use X-API-Key")
            try:
                claims = await self.verifier.verify(authorization[len(BEARER) :].strip())
            except TokenError as error:
                raise self._refuse(str(error)) from None
            except KeySetUnavailableError:
                raise Problem(
                    503,
                    "the token issuer's keys cannot be fetched now",
                    headers={"Retry-After": "5"},
                ) from None
            return Principal(subject=f"jwt:{claims['sub']}", scopes=scopes_of(claims))
        raise self._refuse("credentials required: an X-API-Key header or a bearer token")

    def _refuse(self, detail: str) -> Problem:
        return Problem(401, detail, headers=self.challenge)


def require_scopes(principal: Principal, needed: frozenset[str]) -> None:
    """403 unless the caller holds every scope the route needs."""
    missing = needed - principal.scopes
    if missing:
        raise Problem(403, f"missing scope: {', '.join(sorted(missing))}", reason="missing_scope")
