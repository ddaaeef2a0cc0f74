"""Engine factory. pool_pre_ping replaces connections a database restart has killed."""

from __future__ import annotations

import sqlalchemy as sa


def make_engine(database_url: str, *, pool_size: int = 5) -> sa.Engine:
    return sa.create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"connect_timeout": 10, "application_name": "harvest-sync"},
    )
