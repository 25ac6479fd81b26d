"""Pseudonyms of the research dataset: HMAC-SHA256 of a kind and an id under a secret key.

The same key gives the same pseudonym for the same household (or sensor) in every export, so
datasets exported at different times can be joined; without the key a pseudonym cannot be turned
back into an id. Changing the key (EXPORT_PSEUDONYM_KEY) makes new datasets unlinkable to old
ones. The key defaults to one derived from SECRET_KEY, so rotating SECRET_KEY changes the
pseudonyms too unless EXPORT_PSEUDONYM_KEY is set.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

PSEUDONYM_HEX_DIGITS = 20  # 80 bits: collisions are negligible for any study size


def pseudonym_key() -> bytes:
    """The configured key, or one derived from SECRET_KEY (read at call time)."""
    configured = str(getattr(settings, "EXPORT_PSEUDONYM_KEY", "") or "")
    if configured:
        return configured.encode()
    return hmac.new(
        str(settings.SECRET_KEY).encode(), b"energyleaf.exports.pseudonym", hashlib.sha256
    ).digest()


def pseudonym_key_id(key: bytes) -> str:
    """A short fingerprint of the key for the manifest: tells whether two datasets share a key
    without revealing it."""
    return hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:12]


def pseudonym(key: bytes, kind: str, identifier: int) -> str:
    """The pseudonym of `kind` ("household", "sensor") number `identifier`: lowercase hex."""
    message = f"{kind}:{identifier}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_DIGITS]
