"""SQLite without a thread: the standard ``sqlite3`` module behind SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call on a worker thread and hands the result back through the event loop:
right for a server, whose loop must never block, but each query then costs two thread switches,
and on a busy machine waiting for the worker to be scheduled dominates. ``bamboe simulate``, the
demo and the tests' virtual chat (:class:`adapters.console.harness.Harness`) run one story on a
private database and nothing else waits on their loop, so there the calls run inline instead.

:func:`connect` returns an object shaped like an ``aiosqlite.Connection`` (what SQLAlchemy's
``sqlite+aiosqlite`` dialect drives, including the two private attributes it uses to set the
isolation level), so the dialect, the SQL, the pragmas and the transactions are exactly those of
``bamboe run`` on SQLite; only the thread is gone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any


class _Now:
    """Stands in for aiosqlite's queue of calls for the worker thread: runs them at once."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, as aiosqlite does
            future.set_exception(exc)


class Cursor:
    """An aiosqlite-shaped cursor over a ``sqlite3`` cursor."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        """Run one statement."""
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        """Run one statement for each set of parameters."""
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        """The next row."""
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """The next ``size`` rows."""
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def fetchall(self) -> list[Any]:
        """All remaining rows."""
        return self._cursor.fetchall()

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    @property
    def description(self) -> Any:
        """The columns of the last query."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The row id of the last inserted row."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows per ``fetchmany``."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class Connection:
    """An aiosqlite-shaped connection whose calls run in the caller's thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection  # both names are read by SQLAlchemy's aiosqlite adapter
        self._connection: sqlite3.Connection | None = connection
        self._tx = _Now()

    @property
    def isolation_level(self) -> str | None:
        """The ``sqlite3`` isolation level (SQLAlchemy sets it through ``_tx``)."""
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        """A new cursor (used as ``async with``, like aiosqlite's)."""
        return Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        """Run one statement on a new cursor."""
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        """Commit."""
        self._conn.commit()

    async def rollback(self) -> None:
        """Roll back."""
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Register an SQL function."""
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's forced termination)."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def connector(path: str) -> Callable[[], Any]:
    """An ``async_creator`` for :func:`sqlalchemy.ext.asyncio.create_async_engine`: opens ``path``."""

    async def connect() -> Connection:
        return Connection(sqlite3.connect(path, check_same_thread=False))

    return connect
