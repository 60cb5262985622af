"""Every screen and parser that sees what a member typed runs in linear time (issue 17, item 3).

Adversarial inputs repeat a short unit of the characters the patterns use (``____…``,
``a.a.a.…``, ``06 06 …``) up to 4,000 characters. The work is bounded without trusting the
machine's speed: each function's CPU time on 4n characters is compared with its CPU time on n
characters (the best of three runs). Linear work makes that ratio about 4; a quadratic pattern
makes it about 16 (the e-mail pattern before the fix: 15.8). The bound in between, 9, is far from
both, and CPU time (``time.process_time``) does not count the time other processes take.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.slack import render as slack_render
from adapters.telegram import render as telegram_render
from bot import guard, markup, parsing, privacy
from bot.core import split_command
from bot.features.report.period import parse_period
from bot.parsing import UserError

N = 1000
BOUND = 9.0
TODAY = date(2026, 1, 5)
#: the characters and short pieces the patterns in bot/ and adapters/ are built from
PIECES = [
    *"_aA1029.,+-@ \n\t:/()*`~<>&|!#?;=\"'éß²٣",
    "06", "0031", "+31", "NL", "91", "straat", "laan", "1234 AB", "@a.", "a@", ".nl", "<@U", "<!", "|",
    "bijv.", "kun je ", "heb je al ", "waarom ", "nt ", "?!", " - ", "14:00", "01-02-", "2026", "uur",
]
unit = st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join)


def _quiet(parse: Callable[[str], object]) -> Callable[[str], object]:
    """``parse`` with its bad-input answer (a ``UserError``) counted as an answer."""

    def run(text: str) -> object:
        try:
            return parse(text)
        except UserError as exc:
            return exc

    return run


SCREENS: dict[str, Callable[[str], object]] = {
    "privacy.find": privacy.find,
    "privacy.mask": privacy.mask,
    "guard.classify": guard.classify,
    "markup.escape": markup.escape,
    "markup.spans": markup.spans,
    "markup.plain": markup.plain,
    "split_command": split_command,
    "slack.from_slack": slack_render.from_slack,
    "slack.to_mrkdwn": slack_render.to_mrkdwn,
    "slack.blocks": lambda text: slack_render.blocks(text, ()),
    "telegram.to_html": telegram_render.to_html,
    "telegram.render_parts": telegram_render.render_parts,
    "parsing.take_date": _quiet(lambda text: parsing.take_date(text.split(), TODAY)),
    "parsing.parse_time_range": _quiet(parsing.parse_time_range),
    "parsing.parse_duration": _quiet(parsing.parse_duration),
    "parsing.parse_weekday": _quiet(parsing.parse_weekday),
    "report.parse_period": _quiet(lambda text: parse_period(text, TODAY, date(2025, 1, 1), "nl")),
}


def cpu_seconds(work: Callable[[str], object], text: str, repeat: int) -> float:
    """The least CPU time of three runs of ``repeat`` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(repeat):
            work(text)
        best = min(best, time.process_time() - started)
    return best


def growth(work: Callable[[str], object], piece: str) -> float:
    """CPU time on 4·N characters of ``piece`` repeated, divided by the time on N characters."""
    small, large = ((piece * (size // len(piece) + 1))[:size] for size in (N, 4 * N))
    repeat = 1
    while cpu_seconds(work, small, repeat) < 0.004 and repeat < 4096:  # long enough to measure well
        repeat *= 2
    return cpu_seconds(work, large, repeat) / max(cpu_seconds(work, small, repeat), 1e-9)


@pytest.mark.parametrize("name", list(SCREENS))
@settings(max_examples=8, deadline=None, derandomize=True)
@given(piece=unit)
@example(piece="_")
@example(piece="1")
@example(piece="a.")
@example(piece="0 ")
def test_work_grows_linearly_with_the_input(name: str, piece: str) -> None:
    ratio = growth(SCREENS[name], piece)
    for _ in range(2):  # measure again before calling it quadratic (a busy machine, a GC pass)
        if ratio < BOUND:
            break
        ratio = min(ratio, growth(SCREENS[name], piece))
    assert ratio < BOUND, f"{name} on {piece!r}×{4 * N // len(piece)}: {ratio:.1f}× the work for 4× the text"


def test_the_bound_tells_linear_from_quadratic() -> None:
    """The measurement itself: it sees a quadratic function as such, and a linear one as linear."""

    before_the_fix = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)  # issue 17, item 3
    assert growth(before_the_fix.findall, "_") > BOUND > growth(privacy.find, "_")
