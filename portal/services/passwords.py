"""Password hashing with Argon2id (argon2-cffi), the OWASP-recommended KDF."""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _

from portal.services import ServiceError

MIN_LENGTH = 10


@lru_cache(maxsize=2)
def _hasher(profile: str) -> PasswordHasher:
    if profile == "fast":  # test suite only: hashing cost is not what the tests check
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


def _current() -> PasswordHasher:
    return _hasher(current_app.config["PASSWORD_HASH_PROFILE"])


def hash_password(password: str) -> str:
    return _current().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check so unknown accounts are not told apart by timing.
        _current().hash(password)
        return False
    try:
        return _current().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_strength(password: str, *personal: str) -> None:
    """A new password is at least 10 characters, mixes letters with digits or symbols and is not the login ID."""
    if len(password) < MIN_LENGTH:
        raise ServiceError(_("Use at least %(n)d characters.", n=MIN_LENGTH), "weak_password")
    has_letter = any(c.isalpha() for c in password)
    has_other = any(not c.isalpha() for c in password)
    if not (has_letter and has_other):
        raise ServiceError(_("Mix letters with digits or symbols."), "weak_password")
    lowered = password.lower()
    if any(p and len(p) >= 3 and p.lower() in lowered for p in personal):
        raise ServiceError(_("The password must not contain your login ID or name."), "weak_password")
