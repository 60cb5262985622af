"""The features this bot is built from, in order (the composition root hands them to the core).

The order is the order of ``/help`` and the order in which plain messages are offered to the
features: while an action-learning round runs, its step takes the chat's messages first.
"""

from __future__ import annotations

from bot.features import link, meetings, network, privacy, report, rhythm, rounds, toolkit, warm
from bot.registry import Feature

FEATURES: tuple[Feature, ...] = (
    network.FEATURE,
    link.FEATURE,
    meetings.FEATURE,
    rounds.FEATURE,
    rhythm.FEATURE,
    warm.FEATURE,
    toolkit.FEATURE,
    privacy.FEATURE,
    report.FEATURE,
)
