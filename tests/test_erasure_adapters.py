"""After ``/vergeetmij``, what the adapters keep of their own about the person goes too: delivery
asks each platform's sender to forget every linked account once the notice of the erasure is done,
and each adapter's store drops its rows (Teams end to end: ``tests/test_teams.py``)."""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from sqlalchemy import select

from adapters.common import Bounded
from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.store import MatrixStore
from adapters.slack.adapter import SlackSender
from adapters.slack.store import Directory, Team
from bot.clock import VirtualClock
from bot.core import store_outgoing
from bot.database import Database
from bot.delivery import Delivery
from bot.events import Address, Outgoing
from bot.models import MatrixRoom, Network, OutboxMessage, SlackConversation
from tests.conftest import local


class Forgetful:
    """A sender that records whom it was asked to forget."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.forgotten: list[str] = []

    async def send(self, message: Outgoing) -> str:
        self.sent.append(message.text)
        return "p1"

    async def forget(self, user_id: str) -> None:
        self.forgotten.append(user_id)


class Plain:
    """A sender that keeps nothing of its own (no ``forget``)."""

    async def send(self, message: Outgoing) -> str:
        return "p1"


async def test_delivery_has_every_linked_account_forgotten_once_the_erasure_notice_is_sent(db: Database) -> None:
    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    async with db.transaction() as s:
        net = Network(name="N", created_at=clock.now())
        s.add(net)
        await s.flush()
        await store_outgoing(s, net.id, [
            Outgoing(Address("x", None, "u1"), "status", "gewoon"),
            Outgoing(Address("x", None, "u1"), "privacy", "weg",
                     meta={"scrub": "all", "forget": [["x", "u1"], ["y", "u9"], ["z", "u5"]]})], clock.now())
    x, y = Forgetful(), Forgetful()
    await Delivery(db, clock, {"x": x, "y": y, "z": Plain()}).flush()
    assert x.sent == ["gewoon", "weg"]
    assert (x.forgotten, y.forgotten) == (["u1"], ["u9"])  # after the notice, not after the ordinary message
    async with db.transaction() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "privacy"))
    assert (row.user_id, row.meta, row.text) == (None, {}, "")  # the list of accounts is not kept


async def test_matrix_forgets_the_direct_rooms_and_cached_names_of_an_erased_person(db: Database) -> None:
    store = MatrixStore(db)
    await store.keep_direct_room("!dm-cem:hs", "@cem:hs")
    await store.keep_direct_room("!dm-dewi:hs", "@dewi:hs")
    adapter = MatrixAdapter.__new__(MatrixAdapter)  # only what forget() touches
    adapter.store = store
    adapter._names = Bounded(10)
    adapter._inviters = Bounded(10)
    adapter._names.put(("!group:hs", "@cem:hs"), "Cem Yilmaz")
    adapter._names.put(("!group:hs", "@dewi:hs"), "Dewi")
    adapter._names.put("!group:hs", "Netwerk")
    adapter._inviters.put("!dm-cem:hs", ("@cem:hs", True))
    await adapter.forget("@cem:hs")
    async with db.transaction() as s:
        assert list(await s.scalars(select(MatrixRoom.direct_with))) == ["@dewi:hs"]
    assert await store.direct_with("!dm-cem:hs") is None and await store.direct_room("@cem:hs") is None
    assert dict(adapter._names) == {("!group:hs", "@dewi:hs"): "Dewi", "!group:hs": "Netwerk"}
    assert dict(adapter._inviters) == {}


async def test_slack_forgets_which_workspace_an_erased_person_and_their_direct_channel_are_in(db: Database) -> None:
    store = AsyncSQLAlchemyInstallationStore(client_id="c", engine=db.engine)
    directory = Directory(db.engine, store, "c", lambda token: None)  # type: ignore[arg-type,return-value]
    await directory.remember(Team(None, "T1"), ["C0AAA", "U0CEM", "D0CEM", "U0DEWI"])
    sender = SlackSender(None, directory)  # type: ignore[arg-type]
    sender.im_channels["U0CEM"] = "D0CEM"
    await sender.forget("U0CEM")
    async with db.transaction() as s:
        assert sorted(await s.scalars(select(SlackConversation.conversation_id))) == ["C0AAA", "U0DEWI"]
    assert sender.im_channels == {}
