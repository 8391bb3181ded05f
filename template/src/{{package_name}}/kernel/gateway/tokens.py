# Owned by the monocell template: `copier update` replaces this file.
"""JWT bearer tokens, checked with PyJWT: pinned algorithms, exp/aud/iss required.

The algorithms come from the settings, never from the token's header, so a
token that says `alg: none` or swaps RS256 for HS256 is refused. With
`jwks_url` the signing key is looked up by the token's `kid` in the issuer's
published key set (cached; fetched in a thread so the event loop never blocks).
"""

import asyncio
from collections.abc import Mapping
from typing import Any

import jwt

from ..config.gateway_settings import JwtSettings

REQUIRED_CLAIMS = ["exp", "aud", "iss", "sub"]


class TokenError(Exception):
    """The token is not acceptable; the message is safe to show to the caller."""


class KeySetUnavailableError(Exception):
    """The issuer's key set could not be fetched: not the caller's fault."""


class TokenVerifier:
    """Verifies bearer tokens against one issuer's settings."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if settings.jwks_url
            else None
        )

    async def verify(self, token: str) -> Mapping[str, Any]:
        """The token's claims, or `TokenError` saying what is wrong with it."""
        try:
            key: Any = self.settings.key
            if self._jwks is not None:
                key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(self.settings.algorithms),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise KeySetUnavailableError(str(error)) from None
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("the token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise TokenError("the token is not meant for this service (aud)") from None
        except jwt.InvalidIssuerError:
            raise TokenError("the token comes from an unknown issuer (iss)") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenError(f"the token lacks the {error.claim!r} claim") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("the token is signed with an algorithm not accepted here") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenError("the token is malformed or its signature does not match") from None
        for name in ("exp", "nbf", "iat"):  # PyJWT takes "1796..." as a number too
            value = claims.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TokenError(f"the token's {name!r} claim is not a NumericDate (RFC 7519)")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            # An empty subject would make every such token one shared caller.
            raise TokenError("the token's 'sub' claim is empty")
        return claims


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes from `scope` (space-separated, RFC 8693) or `scp` (a list).

    Split on the space character only (RFC 6749 3.3): `str.split()` also splits on
    every other Unicode space, so `"orders:write\u00a0x"`, one scope elsewhere,
    would grant `orders:write` here.
    """
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(token for token in scope.split(" ") if token)
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(item for item in scp if isinstance(item, str))
    return frozenset()
