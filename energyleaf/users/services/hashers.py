"""The password hasher for the bcrypt hashes of accounts imported from the old platform."""

from __future__ import annotations

from typing import Any

import bcrypt
from django.contrib.auth.hashers import BCryptPasswordHasher


class TruncatingBCryptPasswordHasher(BCryptPasswordHasher):
    """Django's plain bcrypt hasher (algorithm `bcrypt`), hashing the first 72 bytes of the
    password as bcrypt always did: the old platform's bcrypt hashes were made that way, so a
    longer password still matches. The bcrypt package refuses more than 72 bytes since its
    version 5, which would turn a login with a long password into an error. The first login
    re-hashes the password with the default hasher, which reads all of it."""

    def encode(self, password: str, salt: Any) -> str:
        data = bcrypt.hashpw(password.encode()[:72], salt)
        return f"{self.algorithm}${data.decode('ascii')}"
