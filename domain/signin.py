"""Who may use the console, and how failed sign-ins slow the next attempt down.

Failures are counted per user name and per address. The first few are free (typing errors);
after that each failure doubles the wait before the next attempt, up to a cap, so guessing a
password costs hours per thousand guesses. An hour without failures forgets them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

USER_ROLES = ("admin", "viewer")  # admin changes things; viewer sees everything, changes nothing
PASSWORD_MIN_LENGTH = 12
FREE_FAILURES = 3
MAX_WAIT_S = 900.0
FORGET_AFTER = timedelta(hours=1)


def wait_after(failures: int) -> float:
    """Seconds the next attempt must wait after `failures` failures in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES + 1), MAX_WAIT_S)


def seconds_to_wait(failures: int, last_failed_at: datetime, now: datetime) -> float:
    if now - last_failed_at > FORGET_AFTER:
        return 0.0
    ready_at = last_failed_at + timedelta(seconds=wait_after(failures))
    return max(0.0, (ready_at - now).total_seconds())


def check_user_name(name: str) -> str:
    """A user name: 1 to 64 printable characters without blanks; raises ValueError."""
    if not name or len(name) > 64 or not name.isprintable() or any(c.isspace() for c in name):
        raise ValueError("a user name is 1 to 64 characters without blanks")
    return name


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"a password needs at least {PASSWORD_MIN_LENGTH} characters")
    return password


def check_role(role: str) -> str:
    if role not in USER_ROLES:
        raise ValueError(f"a role is one of {', '.join(USER_ROLES)}, got {role!r}")
    return role
