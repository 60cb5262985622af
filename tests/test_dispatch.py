"""Planned work and the outbox: idempotent planning, leases, late work, retries in order."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bamboe.features import FEATURES
from bot.clock import VirtualClock
from bot.core import Core, store_outgoing
from bot.database import Database, create_engine, upgrade
from bot.delivery import Delivery, Undeliverable
from bot.events import Address, Outgoing
from bot.jobs import Dispatcher, JobKind, plan
from bot.models import Job, Network, OutboxMessage
from tests.conftest import local


async def make_db(url):
    db = Database(create_engine(url))
    await upgrade(db.engine)
    return db


async def add_network(db, clock):
    async with db.transaction() as s:
        net = Network(name="N", created_at=clock.now())
        s.add(net)
        await s.flush()
        return net.id


async def test_planning_is_idempotent_and_runs_once(db):
    clock = VirtualClock(local(2026, 1, 5, 9, 0))
    net = await add_network(db, clock)
    ran = []

    async def work(ctx):
        ran.append(ctx.job.key)

    async with db.transaction() as s:
        assert await plan(s, key="k1", network_id=net, kind="w", due_at=local(2026, 1, 5, 10, 0))
        assert not await plan(s, key="k1", network_id=net, kind="w", due_at=local(2026, 1, 5, 11, 0))
    d1 = Dispatcher(db, clock, {"w": JobKind(work)})
    d2 = Dispatcher(db, clock, {"w": JobKind(work)})
    assert await d1.run_due() == 0
    clock.set(local(2026, 1, 5, 10, 0))
    assert await d1.run_due() + await d2.run_due() == 1
    assert ran == ["k1"]


async def test_expired_lease_is_taken_over_and_fresh_one_is_not(db):
    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    ran = []

    async def work(ctx):
        ran.append(1)

    async with db.transaction() as s:
        s.add(Job(key="crashed", network_id=net, kind="w", due_at=clock.now(), state="claimed",
                  lease_until=clock.now() + timedelta(minutes=5)))
    dispatcher = Dispatcher(db, clock, {"w": JobKind(work)})
    assert await dispatcher.run_due() == 0  # another process holds a live lease
    clock.advance(timedelta(minutes=6))  # that process died; its lease expires
    assert await dispatcher.run_due() == 1 and ran == [1]


async def test_late_work_within_grace_runs_older_is_skipped(db):
    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    ran, skipped = [], []

    async def work(ctx):
        ran.append(ctx.job.key)

    async def skip(ctx):
        skipped.append(ctx.job.key)

    async with db.transaction() as s:
        await plan(s, key="recent", network_id=net, kind="w", due_at=local(2026, 1, 5, 8, 0))
        await plan(s, key="old", network_id=net, kind="w", due_at=local(2026, 1, 4, 10, 0))
    await Dispatcher(db, clock, {"w": JobKind(work, grace=timedelta(hours=3), skip=skip)}).run_due()
    assert ran == ["recent"] and skipped == ["old"]
    async with db.transaction() as s:
        states = dict((await s.execute(select(Job.key, Job.state))).all())
    assert states == {"recent": "done", "old": "skipped"}


async def test_failing_job_is_retried_with_backoff_then_marked_failed(db):
    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    calls = []

    async def boom(ctx):
        calls.append(1)
        raise RuntimeError("nope")

    async with db.transaction() as s:
        await plan(s, key="b", network_id=net, kind="w", due_at=clock.now())
    dispatcher = Dispatcher(db, clock, {"w": JobKind(boom, grace=None)})
    for _ in range(10):
        await dispatcher.run_due()
        clock.advance(timedelta(hours=1))
    async with db.transaction() as s:
        job = await s.scalar(select(Job))
    assert len(calls) == 5 and job.state == "failed"


class FlakySender:
    def __init__(self, fail_times=0, permanent_for=()):
        self.fail_times = fail_times
        self.permanent_for = permanent_for
        self.sent = []

    async def send(self, message: Outgoing):
        if message.text in self.permanent_for:
            raise Undeliverable("blocked")
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("timeout")
        self.sent.append(message.text)
        return f"p{len(self.sent)}"


async def test_outbox_retries_keep_per_chat_order(db):
    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    async with db.transaction() as s:
        await store_outgoing(s, net, [Outgoing(Address("x", "c1"), "status", f"m{i}") for i in range(3)]
                             + [Outgoing(Address("x", None, "u1"), "status", "dm")], clock.now())
    sender = FlakySender(fail_times=1, permanent_for=("dm",))
    delivery = Delivery(db, clock, {"x": sender})
    await delivery.flush()
    assert sender.sent == []  # m0 failed: m1 and m2 wait behind it
    clock.advance(timedelta(minutes=1))
    await delivery.flush()
    assert sender.sent == ["m0", "m1", "m2"]
    async with db.transaction() as s:
        rows = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [(r.state, r.platform_message_id) for r in rows] == [
        ("sent", "p1"), ("sent", "p2"), ("sent", "p3"), ("failed", None)]


async def test_restart_loses_nothing_and_repeats_nothing(sqlite_url):
    clock = VirtualClock(local(2026, 1, 5, 8, 0))
    from adapters.console.harness import Harness
    from tests.conftest import MEMBERS, NETWORK

    first = await Harness.open(sqlite_url, clock.now())
    await first.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
    await first.close()
    # a new process: new engine, new core, same database
    second = await Harness.open(sqlite_url, local(2026, 1, 6, 12, 0))
    second.names = {m["id"]: m["name"] for m in MEMBERS}
    await second.advance(local(2026, 1, 14, 12, 0))
    third = await Harness.open(sqlite_url, local(2026, 1, 14, 12, 0))
    await third.advance(local(2026, 1, 14, 13, 0))
    nudges = [s.at for s in second.recorder.sent + third.recorder.sent if s.kind == "nudge"]
    assert nudges == [local(2026, 1, 6, 12, 0), local(2026, 1, 13, 10, 0)]  # the first one 2 h late, once
    await second.close()
    await third.close()
    assert isinstance(Core, type)


class LimitedSender:
    """Records (time, chat, text); answers 429 once for chat 'slow'; refuses private 'u9'."""

    def __init__(self, clock, limits):
        self.clock = clock
        self.limits = limits
        self.sent = []
        self.throttled = False

    async def send(self, message: Outgoing):
        from bot.delivery import NotStarted, RetryAfter

        if message.address.user_id == "u9" and message.address.chat_id is None:
            raise NotStarted("https://t.me/bamboe_bot?start=hi")
        if message.address.chat_id == "slow" and not self.throttled:
            self.throttled = True
            raise RetryAfter(30)
        self.sent.append((self.clock.now(), message.address.chat_id or message.address.user_id, message.text))
        return str(len(self.sent))


async def test_limits_queue_a_burst_per_chat_in_order_and_429_waits_without_failing(db):
    from bot.delivery import MARGIN, Limits

    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    async with db.transaction() as s:
        await store_outgoing(s, net, [Outgoing(Address("x", chat), "status", f"{chat}{i}")
                                      for i in range(3) for chat in ("a", "b", "slow")], clock.now())
    sender = LimitedSender(clock, Limits(per_chat=1.0))
    delivery = Delivery(db, clock, {"x": sender})
    await delivery.flush()
    # one per chat per second; 'slow' got a 429 (a and b go side by side: their order is the race's)
    assert sorted(t for _, _, t in sender.sent) == ["a0", "b0"]
    assert delivery.next_due == clock.now() + timedelta(seconds=1 * MARGIN)  # a little under the limit
    for _ in range(40):
        clock.advance(timedelta(seconds=1))
        await delivery.flush()
    by_chat = {}
    for at, chat, text in sender.sent:
        by_chat.setdefault(chat, []).append((at, text))
    assert [t for _, t in by_chat["a"]] == ["a0", "a1", "a2"]
    assert [t for _, t in by_chat["slow"]] == ["slow0", "slow1", "slow2"]
    assert by_chat["slow"][0][0] >= local(2026, 1, 5, 10, 0, 30)  # waited as told
    gaps = [b[0] - a[0] for a, b in zip(by_chat["a"], by_chat["a"][1:], strict=False)]
    assert all(g >= timedelta(seconds=1) for g in gaps)
    async with db.transaction() as s:
        rows = list(await s.scalars(select(OutboxMessage)))
    assert {r.state for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)


async def test_private_message_waits_until_the_person_starts_the_bot(db):
    from bot.core import Core
    from bot.events import ChatRef, MessageIn, Person
    from bot.models import Chat, Member

    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    async with db.transaction() as s:
        s.add(Chat(network_id=net, platform="x", chat_id="g1", title="Groep"))
        s.add(Member(network_id=net, platform="x", user_id="u9", name="Nina", role="deelnemer",
                     joined_at=clock.now()))
        await s.flush()
        await store_outgoing(s, net, [Outgoing(Address("x", None, "u9"), "newcomer_briefing", f"brief{i}")
                                      for i in range(2)], clock.now())
    core = Core(db, clock, FEATURES)
    sender = LimitedSender(clock, None)
    delivery = Delivery(db, clock, {"x": sender}, on_not_started=core.private_not_started)
    await delivery.flush()
    await delivery.flush()
    notes = [(c, t) for _, c, t in sender.sent]
    assert len(notes) == 1 and notes[0][0] == "g1"  # one note in the group, not one per message
    assert "Nina" in notes[0][1] and "t.me/bamboe\\_bot?start=hi" in notes[0][1]
    async with db.transaction() as s:
        states = [r.state for r in await s.scalars(select(OutboxMessage).where(OutboxMessage.user_id == "u9")
                                                      .order_by(OutboxMessage.id))]
    assert states == ["waiting", "waiting"]
    sender_ok = FlakySender()
    await core.handle(MessageIn(ChatRef("x", "u9", private=True), Person("u9", "Nina"), "/start"))
    await Delivery(db, clock, {"x": sender_ok}).flush()
    assert sender_ok.sent[:2] == ["brief0", "brief1"]


async def test_a_run_reads_when_the_next_job_is_due_with_each_job_and_keeps_its_writes_in_order(db):
    """The job's own row is written with the writes it put off (one statement on PostgreSQL):
    its outbox rows keep their order, the network and its chats come with the claim, and
    :attr:`Dispatcher.upcoming` is the next job due (a postponed job's new time included)."""
    from bot.core import Ctx, network_job
    from bot.models import Chat, Member

    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    async with db.transaction() as s:
        s.add(Chat(network_id=net, platform="console", chat_id="g1", title=""))
        s.add_all([Member(network_id=net, platform="console", user_id=f"u{k}", name=f"M{k}", role="deelnemer",
                          joined_at=clock.now()) for k in range(3)])
        await plan(s, key="say", network_id=net, kind="say", due_at=clock.now())
        await plan(s, key="later", network_id=net, kind="say", due_at=clock.now() + timedelta(hours=5))
        await plan(s, key="wait", network_id=net, kind="wait", due_at=clock.now())
    seen = []

    async def say(ctx: Ctx, jc) -> None:
        seen.append((ctx.network.id, [c.chat_id for c in ctx.chats]))
        for k in (2, 0, 1):
            ctx.out.append(Outgoing(Address("console", None, f"u{k}"), "info", f"to u{k}"))
        ctx.group("info", "to the group")

    async def wait(jc) -> None:
        jc.postpone_to = clock.now() + timedelta(hours=2)

    dispatcher = Dispatcher(db, clock, {"say": JobKind(network_job(say)), "wait": JobKind(wait)})
    assert await dispatcher.run_due() == 2
    assert seen == [(net, ["g1"])]
    assert dispatcher.upcoming == clock.now() + timedelta(hours=2)  # the postponed one, before "later"
    async with db.transaction() as s:
        rows = (await s.execute(select(OutboxMessage.text, OutboxMessage.chat_key, OutboxMessage.member_id)
                                .order_by(OutboxMessage.id))).all()
        states = dict((await s.execute(select(Job.key, Job.state))).all())
    assert [text for text, _, _ in rows] == ["to u2", "to u0", "to u1", "to the group"]
    assert [key for _, key, _ in rows] == ["u:u2", "u:u0", "u:u1", "c:g1"]
    assert all(member is not None for _, _, member in rows[:3])
    assert states == {"say": "done", "later": "pending", "wait": "pending"}


async def test_a_job_that_removes_its_own_row_is_not_a_failure(db):
    from bot.jobs import unplan

    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)

    async def drop(ctx):
        await unplan(ctx.session, ctx.job.network_id, "w")

    async with db.transaction() as s:
        await plan(s, key="a", network_id=net, kind="w", due_at=clock.now())
        await plan(s, key="b", network_id=net, kind="v", due_at=clock.now() + timedelta(hours=1))
    dispatcher = Dispatcher(db, clock, {"w": JobKind(drop), "v": JobKind(drop)})
    assert await dispatcher.run_due() == 1
    assert dispatcher.upcoming == clock.now() + timedelta(hours=1)
    async with db.transaction() as s:
        assert dict((await s.execute(select(Job.key, Job.state))).all()) == {"b": "pending"}


async def test_a_job_that_replaces_its_own_row_keeps_the_new_one_pending_even_with_the_same_id(db):
    from sqlalchemy import delete

    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    ran = []

    async def step(ctx):
        ran.append(ctx.job.key)
        if ctx.job.key == "step:1":
            await ctx.session.execute(delete(Job).where(Job.id == ctx.job.id))
            await ctx.session.flush()
            await plan(ctx.session, key="step:2", network_id=net, kind="w", due_at=ctx.now + timedelta(minutes=1))
            if ctx.session.bind.dialect.name == "sqlite":  # SQLite hands out the deleted (highest) id again
                assert await ctx.session.scalar(select(Job.id).where(Job.key == "step:2")) == ctx.job.id

    async with db.transaction() as s:
        await plan(s, key="step:1", network_id=net, kind="w", due_at=clock.now())
    dispatcher = Dispatcher(db, clock, {"w": JobKind(step)})
    assert await dispatcher.run_due() == 1
    async with db.transaction() as s:
        assert dict((await s.execute(select(Job.key, Job.state))).all()) == {"step:2": "pending"}
    clock.advance(timedelta(minutes=1))
    assert await dispatcher.run_due() == 1
    assert ran == ["step:1", "step:2"]


async def test_the_dispatcher_knows_the_next_job_its_own_transactions_planned(db):
    """``known_due`` (what the virtual chat moves by instead of asking the database before every
    step): the last read, lowered by a committed plan due sooner; a later plan, or one whose
    transaction rolled back, changes nothing; each plan is taken once."""
    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    net = await add_network(db, clock)
    dispatcher = Dispatcher(db, clock, {"w": JobKind(lambda ctx: None)})
    async with db.transaction() as s:
        await plan(s, key="noon", network_id=net, kind="w", due_at=local(2026, 1, 5, 12, 0))
    dispatcher.upcoming = await dispatcher.next_due()
    assert dispatcher.known_due() == local(2026, 1, 5, 12, 0)
    async with db.transaction() as s:
        await plan(s, key="later", network_id=net, kind="w", due_at=local(2026, 1, 5, 15, 0))
    assert dispatcher.known_due() == local(2026, 1, 5, 12, 0)
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await plan(s, key="gone", network_id=net, kind="w", due_at=local(2026, 1, 5, 10, 30))
            raise RuntimeError("rolled back")
    assert dispatcher.known_due() == local(2026, 1, 5, 12, 0)
    async with db.transaction() as s:
        await plan(s, key="soon", network_id=net, kind="w", due_at=local(2026, 1, 5, 11, 0))
    assert dispatcher.known_due() == local(2026, 1, 5, 11, 0) == await dispatcher.next_due()
    assert db.planned is None  # taken


@pytest.mark.parametrize("failure", ["user", "bug"])
async def test_a_failed_command_keeps_nothing_and_the_member_hears_why(db, failure, caplog):
    """A command that wrote rows, planned a job and then failed: its whole transaction is gone
    (the network the event created too: the answer's transaction makes it again, once), and the
    member gets the specific message (a user error) or the general one (a bug), on SQLite and on
    PostgreSQL (where the failed statement would otherwise have aborted the transaction)."""
    from bot import i18n
    from bot.core import Core
    from bot.events import ChatRef, MessageIn, Person
    from bot.models import Chat, LogEntry, Member
    from bot.parsing import UserError
    from bot.registry import Command, Feature

    async def broken(ctx, _args):  # noqa: ANN001, ANN202
        ctx.session.add(LogEntry(network_id=ctx.network.id, nr=1, kind="decision", text="half", created_at=ctx.now,
                                 author_id=ctx.member.id))
        await ctx.session.flush()
        await plan(ctx.session, key="half", network_id=ctx.network.id, kind="x", due_at=ctx.now)
        ctx.reply("hint", "not this")
        if failure == "user":
            raise UserError("errors.unknown_button")
        await ctx.session.execute(select(Job).where(Job.id == "not a number"))  # fails on PostgreSQL
        raise RuntimeError("a bug")

    clock = VirtualClock(local(2026, 1, 5, 10, 0))
    core = Core(db, clock, [*FEATURES, Feature("broken", commands=(Command("kapot", broken),))])
    caplog.set_level(logging.ERROR)
    replies = await core.handle(MessageIn(ChatRef("x", "g1", "Groep"), Person("u1", "Ada"), "/kapot"))
    key = "errors.unknown_button" if failure == "user" else "errors.internal"
    assert [r.text for r in replies if r.kind == "error"] == [i18n.t("nl", key)]
    assert all(r.text != "not this" for r in replies)
    async with db.transaction() as s:
        assert list(await s.scalars(select(LogEntry))) == []
        assert list(await s.scalars(select(Job).where(Job.key == "half"))) == []
        assert [c.chat_id for c in await s.scalars(select(Chat))] == ["g1"]
        assert [m.name for m in await s.scalars(select(Member))] == ["Ada"]
        assert len(list(await s.scalars(select(Network)))) == 1
        stored = list(await s.scalars(select(OutboxMessage.text)))
    assert i18n.t("nl", key) in stored and "not this" not in stored
    assert ("handler failed" in caplog.text) == (failure == "bug")
