# Owned by the monocell template: `copier update` replaces this file.
"""API keys: generated at random, stored only as hashes, compared in constant time.

A key is 32 random bytes (43 URL-safe characters), so a plain SHA-256 is enough
to store it: nobody can guess their way back from the hash, and unlike a
password hash (scrypt, argon2) it costs microseconds on every request.
`<cli> gateway hash-key` prints a new key and the hash to put in the settings.
"""

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from ..config.gateway_settings import ApiKey

HASH_PREFIX = "sha256:"
MIN_KEY_LENGTH = 32


def new_key() -> str:
    """A fresh random API key."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The form a key is stored in; refuses keys too short to be stored this way, and
    keys no caller could present: a header carries visible ASCII (`é` arrives as
    the bytes of its UTF-8, which the server reads as two other characters)."""
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"key: expected at least {MIN_KEY_LENGTH} characters, got {len(key)}")
    odd = next((char for char in key if not "!" <= char <= "~"), None)
    if odd is not None:
        raise ValueError(
            f"key: expected visible ASCII characters only (it travels in an HTTP header), "
            f"got {odd!r} at position {key.index(odd) + 1}"
        )
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def find_key(presented: str, known: Sequence[ApiKey]) -> ApiKey | None:
    """The stored key matching `presented`, or None.

    Every stored hash is compared, with `hmac.compare_digest`, so the time taken
    says nothing about which key, or how much of it, matched.
    """
    digest = HASH_PREFIX + hashlib.sha256(presented.encode(errors="replace")).hexdigest()
    match = None
    for candidate in known:
        if hmac.compare_digest(digest, candidate.hash):
            match = candidate
    return match
