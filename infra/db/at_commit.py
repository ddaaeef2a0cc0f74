"""Writes sent at commit: statements whose results nobody reads (a run's end, the cursor it
moved, its inbox row) go to PostgreSQL together, in one round trip, just before the commit.

A daily sync of a small account is a dozen round trips, each a wait on a busy server; three
of them were such writes at its very end (issue 16: thousands of dailies a minute). Those
every sync sends are Prepared statements: parsed and planned once per database session, not
at every commit.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg2.extensions
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from infra.db.prepared import Prepared, forgotten_on_failure


def driver_sql(statement: sa.TextClause) -> str:
    """A text statement in the driver's own paramstyle (%(name)s), compiled once at import."""
    return str(statement.compile(dialect=postgresql.psycopg2.dialect()))


class AtCommit:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._pending: list[tuple[Prepared | str, Mapping[str, object]]] = []

    def add(self, statement: Prepared | str, params: Mapping[str, object]) -> None:
        """`statement`: Prepared, or SQL from driver_sql(); `params` as the driver adapts them
        (psycopg2.extras.Json for a JSON document)."""
        self._pending.append((statement, params))

    def send(self) -> None:
        """Send what is pending, in one round trip; the transaction goes on."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        prepared = [statement for statement, _ in pending if isinstance(statement, Prepared)]
        raw = self._conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            # mogrify binds the values client-side, exactly as psycopg2's execute() itself does.
            text = b";\n".join(cursor.mogrify(self._text(statement), params) for statement, params in pending)
        finally:
            cursor.close()
        # Through the connection, not the raw cursor: its events and error handling apply.
        sql = text.decode(psycopg2.extensions.encodings[raw.encoding])
        with forgotten_on_failure(self._conn, prepared):
            self._conn.exec_driver_sql(sql, execution_options={"no_parameters": True})

    def _text(self, statement: Prepared | str) -> str:
        return statement.text_for(self._conn) if isinstance(statement, Prepared) else statement
