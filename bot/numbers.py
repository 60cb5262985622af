"""Per-network numbers: what members see and type (``/actie 3 klaar``), never a database id.

Meetings, rounds, actions, announcements, ideas and decisions are numbered 1, 2, 3 … in each
network (column ``nr``, unique per network). :func:`next_nr` takes the next number from the
``counters`` row of the network and kind in one atomic upsert, so two replicas that insert at the
same moment get different numbers (the second waits for the first's transaction). Buttons carry
database ids, which never change; :func:`by_nr` and :func:`by_id` both look only inside the
member's network.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Counter

T = TypeVar("T")


async def next_nr(session: AsyncSession, network_id: int, kind: str) -> int:
    """The next number of ``kind`` in the network (1 for the first)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (insert(Counter).values(network_id=network_id, kind=kind, last=1)
                 .on_conflict_do_update(index_elements=["network_id", "kind"], set_={"last": Counter.last + 1})
                 .returning(Counter.last))
    return int(await session.scalar(statement))


async def by_nr(session: AsyncSession, model: type[T], network_id: int, nr: int, **where: Any) -> T | None:
    """The row of ``model`` with number ``nr`` in the network (and the given column values)."""
    if not 0 < nr < 2**31:  # not a number that was ever handed out (nor one the database can compare)
        return None
    query = select(model).where(model.network_id == network_id, model.nr == nr)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return await session.scalar(query)


async def by_id(session: AsyncSession, model: type[T], network_id: int, row_id: int) -> T | None:
    """The row of ``model`` with database id ``row_id`` (from a button), only if it is the network's."""
    if not 0 < row_id < 2**63:
        return None
    row = await session.get(model, row_id)
    return row if row is not None and row.network_id == network_id else None
