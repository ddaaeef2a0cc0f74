"""Accounts: find, register (after checking the credentials against Harvest), replace a
token, change settings. The token is sealed at once and never part of a message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.accounts import KIND_FLAGS, AccountRecord
from domain.autofill import parse_working_days
from domain.model import is_harvest_administrator
from infra.app import App
from infra.config import ConfigError
from infra.harvest.client import HarvestClient
from infra.harvest.errors import (
    HarvestAuthError,
    HarvestRequestError,
    HarvestTokenUnusable,
    HarvestUnavailable,
)
from infra.harvest.patience import Patience
from producers.services.errors import InvalidInput, NotFound, ServiceError

# A person waits for the check: fail fast rather than retry for minutes as a sync would
# (its waits on Harvest get Patience.interactive(), seconds rather than HARVEST_PATIENCE_S).
CHECK_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class HarvestAccess:
    """What Harvest said about a token that passed the check."""

    company: str
    user: str


def find_account(app: App, key: str) -> AccountRecord:
    """By id or name."""
    with app.uow() as u:
        account = u.accounts.find(key)
    if account is None:
        raise NotFound(f"unknown account {key!r}")
    return account


def get_account(app: App, account_id: int) -> AccountRecord:
    with app.uow() as u:
        account = u.accounts.get(account_id)
    if account is None:
        raise NotFound(f"unknown account {account_id}")
    return account


def all_accounts(app: App) -> list[AccountRecord]:
    with app.uow() as u:
        return u.accounts.all()


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", f"unknown time zone {timezone!r}") from None
    return timezone


def check_new_account(name: str, timezone: str) -> None:
    """What can be refused before a token is asked for."""
    check_timezone(timezone)
    if not name.strip():
        raise InvalidInput("name", "must not be empty")


def check_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise InvalidInput("token", "paste the Harvest personal access token")
    return token


def add_account(app: App, *, name: str, harvest_account_id: int, token: str, timezone: str = "UTC") -> int:
    """Register an account as given (no call to Harvest); returns its id."""
    check_new_account(name, timezone)
    if harvest_account_id < 1:
        raise InvalidInput("harvest_account_id", "Harvest account ids are whole numbers from 1")
    sealed = app.cipher.seal(check_token(token))
    with app.uow() as u:
        if u.accounts.find(name) is not None:
            raise ServiceError(f"an account named {name!r} already exists")
        account_id = u.accounts.add(
            name=name.strip(), harvest_account_id=harvest_account_id, token_sealed=sealed, timezone=timezone
        )
        u.commit()
    return account_id


def connect_account(
    app: App, *, name: str, harvest_account_id: int, token: str, timezone: str = "UTC"
) -> tuple[int, HarvestAccess]:
    """Check the name, then the credentials against Harvest, and only then store the account."""
    check_new_account(name, timezone)
    with app.uow() as u:
        if u.accounts.find(name) is not None:
            raise InvalidInput("name", f"an account named {name!r} already exists")
    access = check_harvest_access(app, harvest_account_id, check_token(token))
    account_id = add_account(
        app, name=name, harvest_account_id=harvest_account_id, token=token, timezone=timezone
    )
    return account_id, access


def replace_token(app: App, account: AccountRecord, token: str, *, check: bool = False) -> None:
    """Store a new token and clear 'needs attention'; with `check`, only one Harvest accepts."""
    token = check_token(token)
    if check:
        check_harvest_access(app, account.harvest_account_id, token)
    sealed = app.cipher.seal(token)
    with app.uow() as u:
        u.accounts.set_token(account.id, sealed)
        u.commit()


def check_harvest_access(app: App, harvest_account_id: int, token: str) -> HarvestAccess:
    """Ask Harvest who the token belongs to (/v2/users/me) and for the company (/v2/company):
    both must answer, and the person must be an Administrator (roles need one). The reasons
    never quote the token."""
    if harvest_account_id < 1:
        raise InvalidInput("harvest_account_id", "Harvest account ids are whole numbers from 1")
    try:
        client = HarvestClient(
            app.settings.harvest_api_url,
            token=token,
            harvest_account_id=harvest_account_id,
            user_agent=app.settings.harvest_user_agent,
            timeout_s=min(app.settings.harvest_timeout_s, CHECK_TIMEOUT_S),
            patience=Patience.interactive(),
        )
    except HarvestTokenUnusable:
        raise InvalidInput("token", "the token has blanks or control characters: copy it again") from None
    try:
        me = client.get("/users/me")
        user = " ".join(p for p in (me.get("first_name"), me.get("last_name")) if p) or "its owner"
        if not is_harvest_administrator(me):
            raise InvalidInput(
                "token",
                f"this token belongs to {user}, who is not an Administrator in Harvest: "
                "make a personal access token as an Administrator",
            )
        company = client.get("/company")
    except HarvestAuthError as exc:
        raise InvalidInput("token", _refusal(exc, harvest_account_id)) from None
    except HarvestUnavailable:
        raise ServiceError("Harvest did not answer; nothing was saved, try again in a minute") from None
    except HarvestRequestError as exc:
        raise ServiceError(f"Harvest refused the check: {exc}") from None
    finally:
        client.close()
    return HarvestAccess(company=str(company.get("name") or f"account {harvest_account_id}"), user=user)


def _refusal(exc: HarvestAuthError, harvest_account_id: int) -> str:
    if exc.status == 401:
        return (
            f"Harvest did not accept this token for account id {harvest_account_id}: check the token, "
            "and that the account id is the one Harvest shows beside it"
        )
    return "the token may not read the company (403): make a personal access token as an Administrator"


def settings_values(
    *,
    flags: Mapping[str, bool] | None = None,
    timezone: str | None = None,
    working_days: str | Sequence[int] | None = None,
    full_reconcile_days: int | None = None,
    start_date: date | None = None,
    clear_start_date: bool = False,
) -> dict[str, object]:
    """Validated settings as account columns. `flags`: kind (clients_projects, people,
    actuals, autofill) -> on."""
    values: dict[str, object] = {KIND_FLAGS[kind]: bool(on) for kind, on in (flags or {}).items()}
    if timezone:
        values["timezone"] = check_timezone(timezone)
    if working_days is not None:
        values["working_days"] = list(_working_days(working_days))
    if full_reconcile_days is not None:
        values["full_reconcile_days"] = full_reconcile_days
    if start_date is not None or clear_start_date:
        values["actuals_start_date"] = start_date
    return values


def _working_days(days: str | Sequence[int]) -> tuple[int, ...]:
    if isinstance(days, str):
        try:
            return parse_working_days(days)
        except ValueError as exc:
            raise InvalidInput("working_days", str(exc)) from None
    chosen = sorted({int(d) for d in days})
    if not chosen:
        raise InvalidInput("working_days", "at least one working day is needed")
    if chosen[0] < 1 or chosen[-1] > 7:
        raise InvalidInput("working_days", "working days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
    return tuple(chosen)


def update_settings(app: App, account_id: int, values: Mapping[str, object]) -> AccountRecord:
    """Store validated settings (settings_values); returns the account as it is now."""
    with app.uow() as u:
        u.accounts.update_settings(account_id, **values)
        u.commit()
    return get_account(app, account_id)


def rotate_key(app: App) -> int:
    """Re-seal every stored token under the newest key; returns how many. All or none: a token
    that none of the keys opens stops it, naming its accounts, with nothing re-sealed."""
    unopened = []
    with app.uow() as u:
        sealed = u.accounts.sealed_tokens()
        for account_id, token in sealed:
            try:
                u.accounts.set_sealed_token(account_id, app.cipher.reseal(token))
            except ConfigError:
                unopened.append(str(account_id))
        if unopened:
            raise ConfigError(
                f"the tokens of account(s) {', '.join(unopened)} cannot be opened with any key of"
                " HARVEST_SYNC_SECRET_KEY (keep the key they were sealed with in the list);"
                " nothing was re-sealed"
            )
        u.commit()
    return len(sealed)
