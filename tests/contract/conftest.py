"""The drivers the conformance suite runs over: an explicit list, no discovery.

A new platform adds its module (``tests/contract/drivers/<platform>.py``, with ``open_driver``) here.
A driver module may list ``KNOWN_GAPS`` (test name → why): those tests are expected to fail on that
platform (strict xfail, so a fixed gap shows up as a failure until it is taken off the list).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import pytest

from tests.contract.driver import Driver

#: every platform's driver module under ``tests.contract.drivers``
DRIVERS = [
    "console",
    "slack",
    "telegram",
    "teams",
    "matrix",
]


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Driver]:
    """A platform with the real adapter and its stand-in, on a fresh migrated database; the bot
    not yet in the group."""
    module = importlib.import_module(f"tests.contract.drivers.{request.param}")
    gap = getattr(module, "KNOWN_GAPS", {}).get(request.node.originalname)
    if gap:
        request.node.add_marker(pytest.mark.xfail(reason=gap, strict=True))
    async with module.open_driver(sqlite_url) as found:
        yield found


@pytest.fixture
async def group(driver: Driver) -> Driver:
    """The bot added to the group by Anna (its trekker), Bram and Cem joined, everything sent."""
    await driver.add_bot("anna")
    await driver.delivered("help")
    for user in ("bram", "cem"):
        await driver.join(user)
    await driver.drained()
    return driver
