"""``harvest-sync simulator``: run the Harvest simulator as a standalone process."""

from __future__ import annotations

import os
import signal
import threading
from datetime import date
from types import FrameType

import click

from simulator.server import SimulatorServer

DEFAULT_TOKEN = "sim-token"


def tenant_token(token: str, index: int) -> str:
    """The token of the `index`-th account of a simulator serving several (`--accounts N`):
    the first keeps the token itself, each other one its own, derived from it, so that a
    client holding one account's token cannot read another's."""
    return token if index == 0 else f"{token}-{index}"


def _parse_rate_limit(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, float]:
    """``100/15`` -> (100 requests, 15.0 seconds)."""
    try:
        count, _, seconds = value.partition("/")
        parsed = int(count), float(seconds)
    except ValueError:
        parsed = (0, 0.0)
    if parsed[0] < 1 or parsed[1] <= 0:
        raise click.BadParameter("expected REQUESTS/SECONDS, e.g. 100/15")
    return parsed


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("expected YYYY-MM-DD") from exc


_rate = click.FloatRange(0.0, 1.0)


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the generated data.")
@click.option("--people", default=20, show_default=True, type=click.IntRange(min=0))
@click.option("--projects", default=10, show_default=True, type=click.IntRange(min=0))
@click.option("--clients", default=5, show_default=True, type=click.IntRange(min=0))
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=0))
@click.option("--entries-per-day", default=2.0, show_default=True, type=click.FloatRange(min=0.0))
@click.option("--end-date", default=None, callback=_parse_date, help="Last day of data (default today, UTC).")
@click.option("--account-id", default=1000001, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--accounts",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Accounts to serve, ids from --account-id up, each with its own seed and token"
    " (the N-th after the first: TOKEN-N).",
)
@click.option(
    "--token-env",
    default="SIMULATOR_TOKEN",
    show_default=True,
    help=f"Environment variable holding the account's token (default token: {DEFAULT_TOKEN}).",
)
@click.option(
    "--rate-limit",
    default="100/15",
    show_default=True,
    callback=_parse_rate_limit,
    help="REQUESTS/SECONDS per token.",
)
@click.option("--no-rate-limit", is_flag=True, help="Disable rate limiting.")
@click.option("--error-rate", default=0.0, type=_rate, help="Fraction of requests answered 5xx.")
@click.option("--rate-limit-fault-rate", default=0.0, type=_rate, help="Fraction answered 429.")
@click.option("--timeout-rate", default=0.0, type=_rate, help="Fraction delayed past a client timeout.")
@click.option("--slow-rate", default=0.0, type=_rate, help="Fraction of requests delayed.")
@click.option("--slow-seconds", default=0.0, type=click.FloatRange(min=0.0), help="Delay of slow requests.")
@click.option(
    "--retry-after-s",
    default=None,
    type=click.IntRange(min=-1),
    help="Retry-After of every 429: N seconds, -1 for no header (default: the real wait).",
)
@click.option("--updated-since-inclusive/--updated-since-exclusive", default=False, show_default=True)
def simulator_command(
    host: str,
    port: int,
    seed: int,
    people: int,
    projects: int,
    clients: int,
    days: int,
    entries_per_day: float,
    end_date: date | None,
    account_id: int,
    accounts: int,
    token_env: str,
    rate_limit: tuple[int, float],
    no_rate_limit: bool,
    error_rate: float,
    rate_limit_fault_rate: float,
    timeout_rate: float,
    slow_rate: float,
    slow_seconds: float,
    retry_after_s: int | None,
    updated_since_inclusive: bool,
) -> None:
    """Serve a simulated Harvest API v2 account until SIGINT or SIGTERM."""
    # The token never comes from argv: command lines leak through ps and shell history.
    token = os.environ.get(token_env) or DEFAULT_TOKEN
    sim = SimulatorServer(host=host, port=port)
    sim.configure(
        rate_limit_requests=rate_limit[0],
        rate_limit_window_s=rate_limit[1],
        rate_limit_enabled=not no_rate_limit,
        error_rate=error_rate,
        rate_limit_fault_rate=rate_limit_fault_rate,
        timeout_rate=timeout_rate,
        slow_rate=slow_rate,
        slow_seconds=slow_seconds,
        retry_after_s=retry_after_s,
        updated_since_inclusive=updated_since_inclusive,
    )
    for index in range(accounts):
        sim.add_account(
            account_id=account_id + index,
            token=tenant_token(token, index),
            seed=seed + index,
            people=people,
            projects=projects,
            clients=clients,
            days=days,
            entries_per_day=entries_per_day,
            end_date=end_date,
        )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim.start()
    served = f"account_id={account_id}" + (f"..{account_id + accounts - 1}" if accounts > 1 else "")
    click.echo(f"Harvest simulator serving {sim.base_url} {served} control={sim.control_url}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
