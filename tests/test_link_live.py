"""One network across a Slack channel and a Telegram group, live: ``bamboe run``'s stack with both real
adapters (slack-bolt in HTTP mode, python-telegram-bot polling) on one database, against the Slack
and Telegram stand-ins, driven by the conformance suite's drivers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bamboe.runtime import running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.models import Chat, Member, MemberIdentity, Network
from tests.conftest import free_port, local
from tests.contract.driver import GROUP, PEOPLE, START, private
from tests.contract.drivers import slack as slack_driver
from tests.contract.drivers import telegram as telegram_driver
from tests.slack_standin import SlackStandin
from tests.telegram_standin import StandIn

CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


@asynccontextmanager
async def both(url: str) -> AsyncIterator[tuple[slack_driver.SlackDriver, telegram_driver.TelegramDriver]]:
    """One running stack with the Slack and the Telegram adapter, and a driver for each."""
    clock = VirtualClock(START)
    names = {slack_driver.USERS[key]: {"real_name": name} for key, name in PEOPLE.items()}
    api = StandIn(clock=clock.now)
    await api.start()
    try:
        async with SlackStandin(users=names, channels={slack_driver.CHANNEL: {"name": "lerend-netwerk"}},
                                clock=clock.now) as slack:
            port = free_port()
            settings = Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-test", slack_app_token=None,
                                slack_signing_secret=slack_driver.SECRET, slack_api_url=slack.url,
                                telegram_bot_token=api.token, telegram_api_url=api.url + "/bot",
                                bamboe_http_host="127.0.0.1", bamboe_http_port=port)
            async with running(settings, clock=clock) as app, aiohttp.ClientSession() as http:
                yield (slack_driver.SlackDriver(app, slack, http, port, clock, url),
                       telegram_driver.TelegramDriver(app, api, clock, url))
    finally:
        await api.close()


def code_in(sent: list, to: str) -> str | None:
    for s in reversed(sent):
        if s.to == to and (m := CODE.search(s.text)):
            return m[1]
    return None


async def test_a_slack_channel_and_a_telegram_group_are_one_network(sqlite_url: str) -> None:
    async with both(sqlite_url) as (sl, tg):
        await sl.add_bot("anna")
        await tg.add_bot("anna")
        await sl.drained()
        assert len(await sl.rows(Network)) == 2

        # the trekker asks for a code in the Slack channel; it comes privately, in Slack
        await sl.group_message("anna", "/koppel")
        code = await sl.until(lambda: code_in(sl.sent(), private("anna")), "the code in anna's Slack DM")
        assert all(code not in s.text for s in sl.sent() if s.to == GROUP)
        await tg.group_message("anna", f"/koppel {code}")
        linked_tg = await tg.until(lambda: [s for s in tg.sent() if s.to == GROUP and "hoort nu bij" in s.text],
                                   "the Telegram group hears it is linked")
        linked_sl = await sl.until(lambda: [s for s in sl.sent() if s.to == GROUP and "hoort nu bij" in s.text],
                                   "the Slack channel hears it is linked")
        # each reads the command the way it is typed there
        assert "/ikben" in linked_tg[0].text and "/bamboe ikben" in linked_sl[0].text
        (network,) = await sl.rows(Network)
        assert sorted(c.platform for c in await sl.rows(Chat)) == ["slack", "telegram"]

        await sl.join("cem")
        await tg.join("bram")
        await sl.drained()

        # Anna links her Telegram account to her Slack one: one person from now on
        await tg.private_message("anna", "/ikben")
        code = await tg.until(lambda: code_in(tg.sent(), private("anna")), "the identity code in Telegram")
        await sl.private_message("anna", f"/ikben {code}")
        await sl.until(lambda: [s for s in sl.sent() if s.to == private("anna") and "gekoppeld" in s.text],
                       "the accounts linked")
        people = await sl.rows(Member, Member.network_id == network.id)
        assert len(people) == 3 and len(await sl.rows(MemberIdentity)) == 1

        # the weekly question in both chats; answers from both count in one harvest
        await sl.advance(local(2026, 1, 6, 10, 1))
        nudge_sl = await sl.until(lambda: [s for s in sl.sent() if s.to == GROUP and "Weekvraag" in s.text],
                                  "the question in Slack")
        nudge_tg = await tg.until(lambda: [s for s in tg.sent() if s.to == GROUP and "Weekvraag" in s.text],
                                  "the question in Telegram")
        await sl.group_message("cem", "Ouders komen pas als de schulden al groot zijn.", reply_to=nudge_sl[0])
        await tg.group_message("bram", "Op school zien we de schulden eerder, bij de kinderen.", reply_to=nudge_tg[0])
        await sl.drained()
        await sl.group_message("anna", "/status")
        status = await sl.until(lambda: [s for s in sl.sent() if "Groep:" in s.text], "the status")
        assert "3 leden" in status[0].text
        # the reminder: one, to Anna, on the account that asked for the code (Telegram)
        await sl.advance(local(2026, 1, 8, 10, 1))
        await tg.until(lambda: [s for s in tg.sent() if s.to == private("anna") and "Hoi Anna" in s.text],
                       "Anna's reminder")
        await sl.drained()
        await sl.advance(local(2026, 1, 13, 10, 1))
        harvest_sl = await sl.until(lambda: [s for s in sl.sent() if s.to == GROUP and "Oogst" in s.text],
                                    "the harvest in Slack")
        harvest_tg = await tg.until(lambda: [s for s in tg.sent() if s.to == GROUP and "Oogst" in s.text],
                                    "the harvest in Telegram")
        assert "2 antwoorden" in harvest_sl[0].text and "2 antwoorden" in harvest_tg[0].text
        # one reminder in all: for Anna in Telegram, nothing to her Slack account
        reminders = [s for s in sl.sent() + tg.sent() if s.to != GROUP and s.text.startswith("Hoi ")
                     and "vraag" in s.text]
        assert [s.to for s in reminders] == [private("anna")]
        assert [s for s in sl.sent() if s.to == private("anna") and "Hoi Anna" in s.text] == []
