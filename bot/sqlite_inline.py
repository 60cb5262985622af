"""SQLite without a thread and without awaiting: the standard ``sqlite3`` module under SQLAlchemy's
asyncio API.

aiosqlite runs every call on a worker thread and hands the result back through the event loop:
right for a server, whose loop must never block, but each call then costs two thread switches,
and SQLAlchemy's asyncio layer adds two greenlet switches per call on top (a transaction with
one statement makes about eight such calls). ``bamboe simulate``, the demo and the tests' virtual
chat (:class:`adapters.console.harness.Harness`) run one story on a private database and nothing
else waits on their loop, so there the calls run in the loop's thread, straight into ``sqlite3``.

:class:`InlineDialect` is SQLAlchemy's pysqlite dialect (the one its aiosqlite dialect is built
on, so the SQL, the types and the pragmas are exactly those of ``bamboe run`` on SQLite), declared
usable by :func:`sqlalchemy.ext.asyncio.create_async_engine`: its calls never wait, so the asyncio
layer runs each of them at once. (A statement awaits one finished coroutine, because the asyncio
layer insists that executing one awaits something.) It is registered as ``sqlite+bamboe_inline``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy import pool, util
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.exc import MissingGreenlet

#: SQLAlchemy's bridge from a blocking call to the event loop (``await_only`` before 2.1)
_await = getattr(util, "await_", None) or util.await_only

#: the URL's driver name (``sqlite+bamboe_inline:///path``)
DRIVER = "bamboe_inline"


async def _done() -> None:
    """A coroutine that finishes at once."""


def _await_once() -> None:
    # AsyncConnection.execute() refuses a statement during which nothing was awaited
    try:
        _await(_done())
    except MissingGreenlet:  # called outside SQLAlchemy's asyncio layer: nothing to satisfy
        pass


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        _await_once()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _Cursor:
        _await_once()
        return super().executemany(sql, parameters)

    async def _async_soft_close(self) -> None:
        """Nothing to do: what SQLAlchemy's asyncio layer calls on a driver's cursor once a
        statement ran (an asyncio driver closes it there and keeps the rows it fetched)."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class InlineDialect(SQLiteDialect_pysqlite):
    """pysqlite for the asyncio engine: blocking calls, run in the event loop's thread."""

    driver = DRIVER
    supports_statement_cache = True
    is_async = True

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        """As aiosqlite's dialect: a queue that waits for a free connection without blocking the loop."""
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def do_begin(self, dbapi_connection: Any) -> None:
        """Begin with the write lock, as :func:`bot.database.create_engine`'s ``begin`` event does
        for aiosqlite (here on the driver's connection: SQLAlchemy's own execution of the
        statement cost a tenth of a short transaction; an error is still SQLAlchemy's)."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()

    def create_connect_args(self, url: Any) -> tuple[list[Any], dict[str, Any]]:
        """pysqlite's, with ``check_same_thread`` off (a connection may be closed by the
        collector in another thread, as aiosqlite's may)."""
        args, kwargs = super().create_connect_args(url)
        kwargs.update(check_same_thread=False, factory=_Connection)
        return args, kwargs


registry.register(f"sqlite.{DRIVER}", __name__, "InlineDialect")
