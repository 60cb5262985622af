"""The bot's features; each module adds its commands and job kinds to the tables here.

The command table is explicit (a dict from name to :class:`~bot.features.commands.Command`),
built once from the feature modules' ``COMMANDS`` lists, as are the job kinds.
"""

from __future__ import annotations

from bot.features import commands, meetings, network, privacy, report, rhythm, rounds, toolkit, warm
from bot.jobs import JobKind

JOB_KINDS: dict[str, JobKind] = {**rhythm.JOB_KINDS, **rounds.JOB_KINDS, **warm.JOB_KINDS, **toolkit.JOB_KINDS,
                                 **privacy.JOB_KINDS, **report.JOB_KINDS}

commands.register(network.COMMANDS + meetings.COMMANDS + rhythm.COMMANDS + rounds.COMMANDS + warm.COMMANDS
                  + toolkit.COMMANDS + privacy.COMMANDS + report.COMMANDS)
