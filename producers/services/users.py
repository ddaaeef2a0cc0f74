"""Console users: adding one (argon2 hash), and signing in, slowed down after failures per
user name and per address, each failure logged and counted."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.signin import FORGET_AFTER, check_password, check_role, check_user_name, seconds_to_wait
from infra.app import App
from infra.db.users import ConsoleUser, LoginFailureRepository, UserRepository
from producers.services.errors import InvalidInput, ServiceError

log = structlog.get_logger(__name__)
HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters


class SignInRefused(ServiceError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@cache
def _decoy_hash() -> str:
    """Verified against when the name is unknown, so both cases take the same time."""
    return HASHER.hash("no such user, no such password")


def check_new_user(name: str, role: str) -> None:
    """What can be refused before a password is asked for."""
    for field, check, value in (("name", check_user_name, name), ("role", check_role, role)):
        try:
            check(value)
        except ValueError as exc:
            raise InvalidInput(field, str(exc)) from None


def add_user(app: App, name: str, role: str, password: str) -> int:
    check_new_user(name, role)
    try:
        check_password(password)
    except ValueError as exc:
        raise InvalidInput("password", str(exc)) from None
    with app.uow() as u:
        users = UserRepository(u.conn)
        if users.find(name) is not None:
            raise ServiceError(f"a user named {name!r} already exists")
        user_id = users.add(name, HASHER.hash(password), role)
        u.commit()
    return user_id


def get_user(app: App, user_id: int) -> ConsoleUser | None:
    with app.uow() as u:
        return UserRepository(u.conn).get(user_id)


def sign_in(app: App, name: str, password: str, address: str, now: datetime | None = None) -> ConsoleUser:
    """The user, if the name and password match and no recent failures make it wait."""
    now = now or datetime.now(UTC)
    keys = [f"user:{name.casefold()}", f"address:{address}"]
    with app.uow() as u:
        failures = LoginFailureRepository(u.conn)
        waits = [seconds_to_wait(n, at, now) for n, at in failures.state(keys).values()]
        if max(waits, default=0.0) > 0:
            _failed(app, name, address, "throttled")
            wait = math.ceil(max(waits))
            raise SignInRefused(f"Too many failed sign-ins: try again in {wait} s.", "throttled")
        user = UserRepository(u.conn).find(name)
        if not _matches(user.password_hash if user else _decoy_hash(), password) or user is None:
            failures.record(keys, now, forget_after=FORGET_AFTER)
            u.commit()
            _failed(app, name, address, "invalid")
            raise SignInRefused("Wrong user name or password.", "invalid")
        failures.clear(keys[0])
        if HASHER.check_needs_rehash(user.password_hash):
            UserRepository(u.conn).set_password_hash(user.id, HASHER.hash(password))
        u.commit()
    log.info("console_signed_in", user=user.name, address=address)
    return user


def _matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _failed(app: App, name: str, address: str, reason: str) -> None:
    app.metrics.sign_in_failed(reason)
    log.warning("console_sign_in_failed", user=name[:64], address=address, reason=reason)


def list_users(app: App) -> list[ConsoleUser]:
    with app.uow() as u:
        return UserRepository(u.conn).all()
