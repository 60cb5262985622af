"""No command, whatever its arguments, and no button payload, however forged, reaches the generic
internal error (issue 17, item 4): the member always gets a specific answer, and nothing is half
stored. Arguments mix arbitrary text with what breaks parsers: digits that are no ASCII digits
(``²``, ``٣``), numbers beyond a database integer, dates near year 1 and 9999, times out of range,
and the words each command reacts to."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.console.harness import Harness
from bamboe.features import FEATURES
from bot import i18n
from bot.events import ButtonPress
from bot.markup import plain
from bot.registry import Registry
from tests.test_rhythm import command

REGISTRY = Registry.of(FEATURES)
COMMANDS = sorted({c.name for c in REGISTRY.commands})
INTERNAL = {i18n.t(lang, "errors.internal") for lang in ("nl", "en")}
ODD = [
    "²", "³", "¹", "٣", "①", "½", "#²", "#0", "#-1", "0", "-1", "00", "#", "99999999999999999999999",
    "2147483647", "2147483648", "9223372036854775808", "1e9", "0x10",
    "9999-12-31", "0001-01-01", "31-12-9999", "1-1-1", "29-02-2027", "31-04-2026", "0-0", "12-13",
    "9999", "0000", "00:00", "23:59", "24:00", "99:99", "23:00", "14:00-16:00", "16:00-14:00", "²:00",
    "januari", "december", "31", "morgen", "over", "in", "dagen", "weken", "maanden",
]
KEYWORDS = [
    "om", "op", "annuleer", "afzeggen", "klaar", "gedaan", "ja", "nee", "uit", "aan", "stop",
    "citeren", "bewaartermijn", "gekozen", "niet", "groep", "trekker", "deelnemer", "procesbegeleider",
    "beleid", "onderwijs", "professional", "onderzoek", "gezin", "kwartaal", "maand", "jaar", "laatste",
    "vorige", "q1", "k4", *REGISTRY.rhythm_options,
]
token = st.one_of(
    st.sampled_from(ODD),
    st.sampled_from(KEYWORDS),
    st.integers(-(10**3), 10**25).map(str),
    st.dates(date(1, 1, 1), date(9999, 12, 31)).flatmap(lambda d: st.sampled_from([d.isoformat(), f"{d:%d-%m-%Y}"])),
    st.text(max_size=12),
)
arguments = st.lists(token, max_size=6).map(" ".join)


def internal_errors(replies: list) -> list[str]:
    return [s.text for s in replies if s.text in INTERNAL]


@pytest.mark.parametrize("name", COMMANDS)
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(args=arguments)
@example(args="²")
@example(args="99999999999999999999999")
@example(args="² januari 14:00 X")
@example(args="9999-12-31 23:00 X")
@example(args="om 9999-12-31 23:00 X")
async def test_no_arguments_reach_the_internal_error(harness: Harness, caplog: pytest.LogCaptureFixture,
                                                     name: str, args: str) -> None:
    caplog.set_level(logging.ERROR, logger="bot.core")
    for who in ("anna", "cem"):  # the trekker (every branch open) and a participant (role answers)
        replies = await command(harness, who, f"/{name} {args}")
        assert internal_errors(replies) == [], f"/{name} {args}"
        assert replies, f"/{name} {args} got no answer"
    assert not [r for r in caplog.records if r.name == "bot.core"], f"/{name} {args}"


def _payload(prefix: str, parts: list[str]) -> str:
    return ":".join([prefix, *parts])


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.one_of(
    st.builds(_payload, st.sampled_from(sorted(REGISTRY.buttons)), st.lists(token, max_size=3)),
    st.text(max_size=40),
))
@example(payload="action:done:²")
@example(payload="action:busy:99999999999999999999999")
@example(payload="ann:read:²")
@example(payload="ann:read:9223372036854775808")
@example(payload="round:volunteer:²")
@example(payload="forget:yes:1")
async def test_no_button_payload_reaches_the_internal_error(harness: Harness, payload: str) -> None:
    before = len(harness.recorder.sent)
    await harness._handle(ButtonPress(harness.chat, harness.person("cem"), payload, None))
    replies = harness.recorder.sent[before:]
    assert internal_errors(replies) == [], payload


@pytest.mark.parametrize("line, answer", [
    ("/gelezen 99999999999999999999999", "Het getal 999999999999999… is te groot"),
    ("/ronde 2147483648", "Het getal 2147483648 is te groot"),
    ("/gelezen ²", "Ik vind geen mededeling met nummer ²"),
    ("/gelezen #99", "Ik vind geen mededeling met nummer 99."),  # not "nummer #99."
    ("/bijeenkomst 9999-12-31 23:00 X", "De datum \"9999-12-31\" ligt te ver weg. Kies een jaar tussen 1900 en 2200."),
    ("/bijeenkomst ² januari 14:00 X", "De datum \"²\" klopt niet"),
    ("/privacy bewaartermijn ²", "bewaartermijn van 1 tot 60 maanden"),
])
async def test_odd_numbers_and_dates_get_a_specific_answer(harness: Harness, line: str, answer: str) -> None:
    (reply,) = await command(harness, "anna", line)
    assert reply.kind == "error" and answer in plain(reply.text), plain(reply.text)
