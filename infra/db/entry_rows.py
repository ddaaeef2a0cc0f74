"""How a version of a time entry is written: the table's columns, a page of versions as one
array literal per column (for a set-based upsert), and as lines of COPY text (for a first
sync's inserts). Formatting only; the statements are in infra.db.time_entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

from domain.actuals import Applied, HarvestEntry
from infra.db.bulk import pg_array, pg_int_array

RAW_COLUMNS = (
    "harvest_user_id",
    "harvest_project_id",
    "spent_date",
    "hours",
    "billable",
    "is_running",
    "harvest_updated_at",
)
APPLIED_COLUMNS = (
    "applied_person_id",
    "applied_project_id",
    "applied_role_id",
    "applied_date",
    "applied_minutes",
    "applied_billable",
)
WRITE_COLUMNS = ("harvest_id", *RAW_COLUMNS, *APPLIED_COLUMNS, "hold_reason")
STORED_COLUMNS = WRITE_COLUMNS
WRITE_TYPES = (
    "bigint",
    "bigint",
    "bigint",
    "date",
    "numeric(12,6)",
    "boolean",
    "boolean",
    "timestamptz",
    "bigint",
    "bigint",
    "bigint",
    "date",
    "integer",
    "boolean",
    "text",
)
# A page of writes as rows: one array parameter per column (see _columns).
UNNEST_WRITES = (
    "unnest("
    + ", ".join(f"CAST(:c{i} AS {type_}[])" for i, type_ in enumerate(WRITE_TYPES))
    + f") AS w({', '.join(WRITE_COLUMNS)})"
)
UPDATES = ", ".join(f"{c} = excluded.{c}" for c in WRITE_COLUMNS[1:])


class Write(NamedTuple):
    """A version to store and what of it counts (None: nothing). A tuple: a first sync makes
    one per entry, and a tuple is three times cheaper to build than a frozen dataclass."""

    entry: HarvestEntry
    applied: Applied | None
    hold_reason: str | None


def array_columns(writes: Sequence[Write]) -> dict[str, str]:
    """One array literal per written column, named c0, c1, ... in WRITE_COLUMNS order."""
    entries = [w.entry for w in writes]
    applied = [w.applied for w in writes]
    raw = [
        pg_int_array([e.harvest_id for e in entries]),
        pg_int_array([e.harvest_user_id for e in entries]),
        pg_int_array([e.harvest_project_id for e in entries]),
        _dates([e.spent_date for e in entries]),
        "{" + ",".join([str(e.hours) for e in entries]) + "}",
        _bools([e.billable for e in entries]),
        _bools([e.is_running for e in entries]),
        "{" + ",".join([e.updated_at.isoformat() for e in entries]) + "}",
    ]
    if any(a is None for a in applied):
        # Held entries count nothing: their applied columns are NULL.
        null = "NULL"
        cols = [
            "{" + ",".join([str(a.person_id) if a else null for a in applied]) + "}",
            "{" + ",".join([str(a.project_id) if a else null for a in applied]) + "}",
            "{" + ",".join([str(a.role_id) if a else null for a in applied]) + "}",
            "{" + ",".join([_DAY_TEXT[a.date] if a else null for a in applied]) + "}",
            "{" + ",".join([str(a.minutes) if a else null for a in applied]) + "}",
            "{" + ",".join([_BOOL[a.billable] if a else null for a in applied]) + "}",
        ]
    else:
        present = [a for a in applied if a is not None]
        cols = [
            pg_int_array([a.person_id for a in present]),
            pg_int_array([a.project_id for a in present]),
            pg_int_array([a.role_id for a in present]),
            _dates([a.date for a in present]),
            pg_int_array([a.minutes for a in present]),
            _bools([a.billable for a in present]),
        ]
    reasons = pg_array([w.hold_reason for w in writes])
    return {f"c{i}": v for i, v in enumerate([*raw, *cols, reasons])}


_BOOL = {True: "t", False: "f"}
_NO_APPLIED = "\\N\t" * 6
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(w: Write) -> str:
    """One row of WRITE_COLUMNS in COPY's text format (str() of a date, Decimal or aware
    datetime is a form PostgreSQL reads back exactly)."""
    e, a = w.entry, w.applied
    day = _DAY_TEXT[e.spent_date]
    applied = (
        f"{a.person_id}\t{a.project_id}\t{a.role_id}\t{_DAY_TEXT[a.date]}\t{a.minutes}\t{_BOOL[a.billable]}\t"
        if a is not None
        else _NO_APPLIED
    )
    reason = "\\N" if w.hold_reason is None else w.hold_reason.translate(_COPY_ESCAPES)
    return (
        f"{e.harvest_id}\t{e.harvest_user_id}\t{e.harvest_project_id}\t{day}\t{e.hours}\t"
        f"{_BOOL[e.billable]}\t{_BOOL[e.is_running]}\t{e.updated_at.isoformat()}\t{applied}{reason}\n"
    )


class _DayText(dict):  # type: ignore[type-arg]
    """date -> ISO text, filled on first use: a page holds a day or two of entries."""

    def __missing__(self, day: date) -> str:
        if len(self) > 100_000:
            self.clear()
        text = self[day] = day.isoformat()
        return text


_DAY_TEXT = _DayText()


_date_text = date.isoformat


def _dates(values: list[date]) -> str:
    return "{" + ",".join(map(_date_text, values)) + "}"


def _bools(values: list[bool]) -> str:
    return "{" + ",".join([_BOOL[v] for v in values]) + "}"
