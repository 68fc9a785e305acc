"""The scan path's writes as plain DB-API statements.

A scan writes three rows (the request log, the basket totals, one basket line). Run
through SQLAlchemy's statement machinery each costs more CPU than the database spends
on it, and the scan path is what a store's Saturday peak is made of; so these few
statements are written once per dialect here and run on the session's own DB-API
connection, inside the same transaction as everything else. Values are bound exactly
as SQLAlchemy binds them (its own bind processors), so rows read or compared by the
ORM elsewhere look the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from store_server.timeutil import utcnow

if TYPE_CHECKING:  # the basket service writes its lines through this module
    from store_server.baskets.service import LineChange

_LINE_COLUMNS = (
    "basket_id",
    "gtin",
    "scanned_gtin",
    "name",
    "category",
    "qty",
    "unit_price_cents",
    "weight_g",
    "line_total_cents",
    "tax_rate",
    "age_restricted",
    "added_at",
)
_LINE_INTO = f"INSERT INTO basket_line ({', '.join(_LINE_COLUMNS)})"
_LINE_VALUES = ", ".join(f":{column}" for column in _LINE_COLUMNS)

_SQL = {
    "insert_request": (
        "INSERT INTO handheld_request (device_id, request_id, type, basket_id, reply, created_at)"
        " VALUES (:device_id, :request_id, :type, :basket_id, :reply, :created_at)"
        " ON CONFLICT (device_id, request_id) DO NOTHING RETURNING request_id"
    ),
    "delete_request": (
        "DELETE FROM handheld_request WHERE device_id = :device_id AND request_id = :request_id"
    ),
    "update_totals": (
        "UPDATE basket SET total_cents = :total_cents, tax_cents = :tax_cents,"
        " item_count = :item_count, updated_at = :updated_at"
        " WHERE id = :id AND status = 'open' AND updated_at = :seen"
        # The device still holds the token it said hello with (not revoked, not enrolled
        # again since): checked in the write itself, so it costs the scan no statement.
        " AND EXISTS (SELECT 1 FROM device WHERE id = :device_id"
        " AND token_hash = :token_hash AND revoked_at IS NULL)"
    ),
    "insert_line": f"{_LINE_INTO} VALUES ({_LINE_VALUES}) RETURNING id",
    "update_line": (
        "UPDATE basket_line SET qty = :qty, line_total_cents = :line_total_cents"
        " WHERE id = :line_id"
    ),
    "delete_line": "DELETE FROM basket_line WHERE id = :line_id",
}

# PostgreSQL: a scan's three writes in one statement, so one round trip. Each step runs
# only if the one before it wrote (a logged request id stops it, and so does a basket
# changed since it was read), which keeps the lock order of the three statements:
# request log, then basket, then line. The request row is written even when the
# basket turns out stale; the caller deletes it then, as with separate statements.
_ONE_SCAN_HEAD = (
    "WITH req AS (" + _SQL["insert_request"] + "),"
    " bsk AS (" + _SQL["update_totals"] + " AND EXISTS (SELECT 1 FROM req) RETURNING id),"
)
_ONE_SCAN_TAIL = (
    " SELECT EXISTS (SELECT 1 FROM req), EXISTS (SELECT 1 FROM bsk), (SELECT id FROM line)"
)
_ONE_SCAN = {
    "insert": _ONE_SCAN_HEAD + f" line AS ({_LINE_INTO} SELECT {_LINE_VALUES}"
    " WHERE EXISTS (SELECT 1 FROM bsk) RETURNING id)" + _ONE_SCAN_TAIL,
    "update": _ONE_SCAN_HEAD
    + " line AS ("
    + _SQL["update_line"]
    + " AND EXISTS (SELECT 1 FROM bsk) RETURNING id)"
    + _ONE_SCAN_TAIL,
}


def _pyformat(sql: str) -> str:
    return re.sub(r":(\w+)", r"%(\1)s", sql)


class ScanStatements:
    """The statements for one dialect (SQLite or PostgreSQL)."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name == "postgresql":
            self.sql = {name: _pyformat(text) for name, text in _SQL.items()}
            self.sql.update({f"scan_{k}": _pyformat(text) for k, text in _ONE_SCAN.items()})
            # Several statements in one: a round trip to the server each saved.
            self.one_statement_scans = True
        elif dialect.name == "sqlite":
            self.sql = dict(_SQL)
            self.one_statement_scans = False  # in-process: no round trips to save
        else:
            raise ValueError(f"no scan statements for {dialect.name}")
        process = DateTime().dialect_impl(dialect).bind_processor(dialect)
        self._time: Callable[[datetime], Any] = process or (lambda value: value)
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error

    def _execute(self, cursor: Any, name: str, params: dict[str, Any]) -> None:
        """Run one statement; driver errors become SQLAlchemy's (OperationalError,
        IntegrityError, …) as everywhere else in the server."""
        try:
            cursor.execute(self.sql[name], params)
        except self._dbapi_error as exc:
            raise DBAPIError.instance(self.sql[name], params, exc, self._dbapi_error) from exc

    def write_line_change(
        self,
        cursor: Any,
        row: dict[str, Any],
        basket_id: str,
        *,
        seen: datetime,
        token_hash: str,
        totals: dict[str, Any],
        changes: Sequence[LineChange],
    ) -> tuple[bool, bool]:
        """A scan or removal: its request log row, the basket's totals and its line
        changes, in lock order (request log, basket, lines). Returns (request logged,
        basket current): nothing else is written when the request was logged before,
        and only the request row when the basket changed since ``seen`` or the device
        no longer holds ``token_hash`` (the caller then deletes it with
        :meth:`delete_request`).

        On PostgreSQL one inserted or updated line goes with the rest in one statement."""
        request = self._request_params(row)
        basket = self._totals_params(basket_id, seen, totals)
        basket.update(device_id=row["device_id"], token_hash=token_hash)
        if self.one_statement_scans and len(changes) == 1 and changes[0].kind != "delete":
            change = changes[0]
            self._execute(
                cursor, f"scan_{change.kind}", {**request, **basket, **self._line_params(change)}
            )
            logged, current, line_id = cursor.fetchone()
            if current and change.kind == "insert":
                change.line.set_id(line_id)
            return bool(logged), bool(current)
        self._execute(cursor, "insert_request", request)
        if cursor.fetchone() is None:
            return False, False
        self._execute(cursor, "update_totals", basket)
        if cursor.rowcount != 1:
            return True, False
        self.write_changes(cursor, changes)
        return True, True

    def delete_request(self, cursor: Any, device_id: str, request_id: str) -> None:
        self._execute(cursor, "delete_request", {"device_id": device_id, "request_id": request_id})

    def write_changes(self, cursor: Any, changes: Sequence[LineChange]) -> None:
        for change in changes:
            self._execute(cursor, f"{change.kind}_line", self._line_params(change))
            if change.kind == "insert":
                change.line.set_id(cursor.fetchone()[0])

    def _request_params(self, row: dict[str, Any]) -> dict[str, Any]:
        """The request log row (``insert_request``)."""
        return {**row, "created_at": self._time(row["created_at"])}

    def _totals_params(
        self, basket_id: str, seen: datetime, totals: dict[str, Any]
    ) -> dict[str, Any]:
        """The basket's new totals, written only at version ``seen`` (``update_totals``)."""
        return {
            **totals,
            "updated_at": self._time(totals["updated_at"]),
            "id": basket_id,
            "seen": self._time(seen),
        }

    def _line_params(self, change: LineChange) -> dict[str, Any]:
        """The values ``{kind}_line`` takes for a line change."""
        line = change.line
        if change.kind == "delete":
            return {"line_id": line.id}
        if change.kind == "update":
            return {"line_id": line.id, "qty": line.qty, "line_total_cents": line.line_total_cents}
        return {
            "basket_id": line.basket_id,
            "gtin": line.gtin,
            "scanned_gtin": line.scanned_gtin,
            "name": line.name,
            "category": line.category,
            "qty": line.qty,
            "unit_price_cents": line.unit_price_cents,
            "weight_g": line.weight_g,
            "line_total_cents": line.line_total_cents,
            "tax_rate": line.tax_rate,
            "age_restricted": line.age_restricted,
            "added_at": self._time(utcnow()),
        }


_BY_DIALECT: dict[str, ScanStatements] = {}


def scan_cursor(session: Session) -> tuple[ScanStatements, Any]:
    """The statements for the session's database and a cursor in its transaction."""
    connection = session.connection()
    dialect = connection.dialect
    statements = _BY_DIALECT.get(dialect.name)
    if statements is None:
        statements = _BY_DIALECT[dialect.name] = ScanStatements(dialect)
    driver = connection.connection.driver_connection
    assert driver is not None, "a session's connection is never detached from its driver"
    return statements, driver.cursor()
