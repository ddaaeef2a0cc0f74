"""Runtime knobs of the simulator, changeable in process (configure) or over /_sim/config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class SimConfig:
    """Rate limit, fault injection and filter semantics shared by all accounts."""

    rate_limit_requests: int = 100
    rate_limit_window_s: float = 15.0
    rate_limit_enabled: bool = True
    # /v2/reports/* has its own, tighter window (Harvest: 100 requests per 15 minutes).
    reports_rate_limit_requests: int = 100
    reports_rate_limit_window_s: float = 900.0
    error_rate: float = 0.0
    rate_limit_fault_rate: float = 0.0
    timeout_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    updated_since_inclusive: bool = False
    # Running timers' hours grow with the clock in Harvest while updated_at stays put.
    # Off by default so ground-truth comparisons in tests are stable.
    live_timer_hours: bool = False
    # Seed for fault dice; None draws from the OS so chaos runs differ.
    fault_seed: int | None = None
    # What every 429 says in Retry-After: None the real wait, N >= 0 always N (a server whose
    # hint is wrong), -1 no header at all; clients must not trust the hint blindly.
    retry_after_s: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every setting."""
        return asdict(self)

    def apply(self, **changes: Any) -> None:
        """Validate and apply a subset of settings; unknown names raise ValueError."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        staged = dict(changes)
        for name, value in changes.items():
            staged[name] = _check(name, value)
        for name, value in staged.items():
            setattr(self, name, value)


_RATES = {"error_rate", "rate_limit_fault_rate", "timeout_rate", "slow_rate"}
_BOOLS = {"rate_limit_enabled", "updated_since_inclusive", "live_timer_hours"}


def _check(name: str, value: Any) -> Any:
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == "retry_after_s":
        return _check_retry_after(value)
    if name == "fault_seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("fault_seed must be an integer or null")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if name in _RATES and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")
    if name in ("rate_limit_requests", "reports_rate_limit_requests"):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer")
        return int(value)
    if value < 0 or (name in ("rate_limit_window_s", "reports_rate_limit_window_s") and value == 0):
        raise ValueError(f"{name} must be positive")
    return float(value)


def _check_retry_after(value: Any) -> int | None:
    if value is None:
        return None
    # 2.0 from a JSON client is fine; 1.5 is not a value Retry-After can carry.
    whole = not isinstance(value, bool) and isinstance(value, int | float) and value % 1 == 0
    if not whole or value < -1:
        raise ValueError(
            "retry_after_s must be null (the real wait), -1 (no Retry-After header) "
            "or a whole number of seconds >= 0"
        )
    return int(value)
