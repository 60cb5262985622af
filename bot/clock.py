"""The one clock everything time-based reads.

Production uses :class:`SystemClock`; tests, ``bamboe demo`` and ``bamboe simulate`` drive a
:class:`VirtualClock`. All instants are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time (aware, UTC)."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to; never goes backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the virtual current instant."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant`` (ignored when it lies in the past)."""
        instant = instant.astimezone(UTC)
        if instant > self._now:
            self._now = instant

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.set(self._now + delta)
