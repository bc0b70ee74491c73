"""Password hashing with Argon2id (argon2-cffi).

A login for an unknown or locked user still runs one full verification against a dummy hash, so
the time a failure takes does not tell an attacker whether the account exists.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cati.settings import Settings

MIN_PASSWORD_LENGTH = 8


class WeakPassword(ValueError):
    """The password does not meet the minimum rules; the message says which."""


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _for(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def check_password_rules(password: str) -> None:
    """Raise :class:`WeakPassword` unless the password is long enough and not blank."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("password must not be blank")


def hash_password(password: str, settings: Settings) -> str:
    """An Argon2id hash of ``password`` with the configured cost."""
    return _for(settings).hash(password)


def verify_password(stored_hash: str, password: str, settings: Settings) -> bool:
    """True when ``password`` matches ``stored_hash``; never raises for a wrong password."""
    try:
        return bool(_for(settings).verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def spend_verification_time(password: str, settings: Settings) -> None:
    """Do the work of one verification and throw the result away (unknown or locked user)."""
    verify_password(_dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib), password, settings)
