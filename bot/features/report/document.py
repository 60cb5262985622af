"""The report as one document model (headings, paragraphs, lists, tables, the chart) in the
network's language; :mod:`bot.features.report.page` renders it as HTML and :mod:`bot.features.report.pdf` as PDF,
so both say exactly the same. Texts come from ``prompts/<language>.yaml`` (``report.*``); all
values are plain text here and escaped by the renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot import i18n
from bot.features.network import MAX_GROUP, MIN_GROUP, PERSPECTIVES
from bot.features.report.data import ActionItem, CelebrationItem, ReportData
from bot.features.report.period import format_day
from bot.features.rhythm import library
from bot.markup import plain


@dataclass(frozen=True)
class Heading:
    """A section (level 2) or sub-section (level 3) title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    """A paragraph; ``style`` ``lead`` (intro), ``note`` (small print) or ``quote``."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Bullets:
    """A list."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table with a header row; ``numeric`` columns are right-aligned."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()
    #: relative column widths (the PDF needs them; HTML lets the browser decide)
    widths: tuple[int, ...] = ()


@dataclass(frozen=True)
class Figure:
    """The chart, with its alternative text and caption."""

    alt: str
    caption: str


Block = Heading | Para | Bullets | Table | Figure


@dataclass(frozen=True)
class Document:
    """A whole report."""

    language: str
    title: str
    subtitle: str
    blocks: tuple[Block, ...]
    footer: str


def text(lang: str, key: str, /, **params: Any) -> str:
    """A report text, plain (report texts have no markup; the renderers escape everything); a text
    with ``one``/``other`` forms is chosen by the ``count`` parameter, as :func:`bot.i18n.t` does."""
    template = i18n.raw(lang, f"report.{key}")
    if isinstance(template, dict) and set(template) == set(i18n.PLURAL_FORMS):
        template = template[i18n.plural_form(params["count"])]
    return str(template).format(**{k: str(v) for k, v in params.items()})


def word(lang: str, key: str) -> str:
    """An existing label (a role, a perspective, a state) as plain text."""
    return plain(i18n.raw(lang, key))


def label(lang: str, key: str) -> str:
    """An existing label with a capital, for a table's first column (``Trekker``)."""
    value = word(lang, key)
    return value[:1].upper() + value[1:]


def percent(share: float | None) -> str:
    """``64%`` (or a dash when there is nothing to divide)."""
    return "–" if share is None else f"{round(share * 100)}%"


def day(lang: str, value: date) -> str:
    """``5 jan 2026``."""
    return format_day(lang, value)


def when(data: ReportData, instant: datetime) -> str:
    """``5 jan 2026`` on the network's calendar."""
    return format_day(data.language, instant.astimezone(data.zone).date())


def category(lang: str, key: str) -> str:
    """An aspect's or a stage's name."""
    return library().names[key][lang]


def period_text(data: ReportData) -> str:
    """``januari 2026`` for a whole calendar month, else ``5 jan 2026 t/m 31 mrt 2026``."""
    p, lang = data.period, data.language
    if (p.start.day, p.start.month, p.start.year) == (1, p.end.month, p.end.year) and (
        p.end + timedelta(days=1)
    ).day == 1:
        return text(lang, "month_period", month=i18n.raw(lang, "report.months")[p.start.month - 1], year=p.start.year)
    return text(lang, "doc.period", start=day(lang, p.start), end=day(lang, p.end))


def build(data: ReportData) -> Document:
    """The report in the network's language."""
    lang = data.language
    t = lambda key, **p: text(lang, key, **p)  # noqa: E731
    blocks: list[Block] = [Para(t("doc.lead"), "lead")]
    if data.period.clipped:
        blocks.append(Para(t("doc.clipped", date=day(lang, data.started)), "note"))

    # ------------------------------------------------------------ in short
    comp = data.composition
    held = sum(s.held for s in data.sessions)
    blocks += [
        Heading(t("doc.summary_title")),
        Table(
            (t("doc.what"), t("doc.count")),
            (
                (t("doc.sum_sessions"), str(held)),
                (t("doc.sum_questions"), str(data.questions)),
                (t("doc.sum_answers"), str(data.answers)),
                (
                    t("doc.sum_answered"),
                    t("doc.x_of_y", x=data.answered, y=data.counted) if data.counted else percent(None),
                ),
                (t("doc.sum_participation"), percent(data.participation)),
                (t("doc.sum_session_questions"), str(data.session_questions)),
                (t("doc.sum_session_answers"), str(data.session_answers)),
                (t("doc.sum_rounds"), str(len(data.rounds))),
                (
                    t("doc.sum_actions"),
                    t("doc.actions_counts", opened=data.actions_opened, done=data.actions_done, open=data.actions_open),
                ),
                (t("doc.sum_celebrations"), str(data.celebrations_total)),
                (t("doc.sum_decisions"), str(len(data.decisions))),
                (t("doc.sum_ideas"), str(len(data.ideas))),
                (
                    t("doc.sum_members"),
                    t(f"doc.size_short_{comp.size_verdict}", size=comp.size, min=MIN_GROUP, max=MAX_GROUP),
                ),
            ),
            (False, True),
            (3, 1),
        ),
    ]

    # ------------------------------------------------------------ intention and ambition
    empty = t("doc.not_set")
    aims = [t("doc.intention", text=data.intention or empty), t("doc.ambition", text=data.ambition or empty)]
    if data.group_goal:
        aims.append(t("doc.group_goal", text=data.group_goal))
    blocks += [Heading(t("doc.aims_title")), Bullets(tuple(aims))]

    # ------------------------------------------------------------ chart and participation
    blocks += [
        Heading(t("doc.participation_title")),
        Figure(t("doc.chart_alt", answers=data.answers, questions=data.questions), t("doc.chart_caption")),
    ]
    if data.questions:
        blocks.append(Para(t("doc.participation_text", share=percent(data.participation))))
    else:
        blocks.append(Para(t("doc.no_questions")))
    if data.session_questions:
        blocks.append(Para(t("doc.session_questions")))
    blocks.append(
        Table(
            (t("doc.week_of"), t("doc.questions"), t("doc.answers"), t("doc.answered"), t("doc.members")),
            tuple(
                (day(lang, w.monday), str(w.questions), str(w.answers), str(w.answered), str(w.members))
                for w in data.weeks
            ),
            (False, True, True, True, True),
            (3, 2, 2, 3, 3),
        )
    )

    # ------------------------------------------------------------ what the reflection was about
    blocks += [Heading(t("doc.coverage_title")), Para(t("doc.coverage_text"))]
    family_word = {"aspect": t("doc.family_aspect"), "kolb": t("doc.family_kolb")}
    blocks.append(
        Table(
            (t("doc.part"), t("doc.kind"), t("doc.questions"), t("doc.answers")),
            tuple(
                (category(lang, c.key), family_word[c.family], str(c.questions), str(c.answers)) for c in data.coverage
            ),
            (False, False, True, True),
            (4, 3, 2, 2),
        )
    )
    missing = [category(lang, c.key) for c in data.coverage if not c.questions]
    blocks.append(Para(t("doc.not_covered", parts=", ".join(missing)) if missing else t("doc.all_covered")))
    if data.other_questions:
        blocks.append(Para(t("doc.other_questions", count=data.other_questions)))
    if data.themes:
        blocks.append(Para(t("doc.themes", themes=", ".join(data.themes))))
    blocks.append(Heading(t("doc.quotes_title"), 3))
    if data.quotes:
        blocks += [Para(t("doc.quote", text=q), "quote") for q in data.quotes]
    else:
        blocks.append(Para(t("doc.no_quotes"), "note"))

    # ------------------------------------------------------------ sessions
    blocks.append(Heading(t("doc.sessions_title")))
    if data.sessions:

        def state(s) -> str:  # noqa: ANN001
            return (
                t("doc.session_cancelled")
                if s.cancelled
                else (t("doc.session_held") if s.held else t("doc.session_planned"))
            )

        zone = data.zone
        blocks.append(
            Table(
                (t("doc.date"), t("doc.time"), t("doc.place"), t("doc.inputs"), t("doc.state")),
                tuple(
                    (
                        when(data, s.starts_at),
                        f"{s.starts_at.astimezone(zone):%H:%M}-{s.ends_at.astimezone(zone):%H:%M}",
                        s.place,
                        str(s.inputs),
                        state(s),
                    )
                    for s in data.sessions
                ),
                (False, False, False, True, False),
                (3, 3, 5, 2, 2),
            )
        )
    else:
        blocks.append(Para(t("doc.no_sessions")))
    if data.next_session:
        n = data.next_session
        blocks.append(
            Para(
                t(
                    "doc.next_session",
                    date=when(data, n.starts_at),
                    time=f"{n.starts_at.astimezone(data.zone):%H:%M}",
                    place=n.place,
                )
            )
        )

    # ------------------------------------------------------------ action learning
    blocks += [Heading(t("doc.rounds_title")), Para(t("doc.rounds_text"), "note")]
    if not data.rounds and not data.actions:
        blocks.append(Para(t("doc.no_rounds")))
    for r in data.rounds:
        blocks.append(Heading(t("doc.round_title", nr=r.nr, date=when(data, r.started_at)), 3))
        facts = [
            t("doc.round_facts", questions=r.questions, ideas=r.ideas, state=word(lang, f"rounds.state.{r.state}"))
        ]
        if r.question_themes:
            facts.append(t("doc.round_themes", themes=", ".join(r.question_themes)))
        blocks.append(Bullets(tuple(facts)))
        blocks.append(_actions(data, r.actions) if r.actions else Para(t("doc.round_no_actions")))
    if data.actions:
        blocks += [Heading(t("doc.other_actions_title"), 3), _actions(data, data.actions)]

    # ------------------------------------------------------------ celebrations
    blocks.append(Heading(t("doc.celebrations_title")))
    if data.celebrations_total:
        blocks.append(Para(t("doc.celebrations_count", count=data.celebrations_total)))
        if data.celebrations:
            blocks.append(Bullets(tuple(_celebration(data, c) for c in data.celebrations)))
        hidden = data.celebrations_total - len(data.celebrations)
        if hidden:
            blocks.append(Para(t("doc.celebrations_hidden", count=hidden), "note"))
    else:
        blocks.append(Para(t("doc.no_celebrations")))

    # ------------------------------------------------------------ decisions and ideas
    blocks.append(Heading(t("doc.log_title")))
    if data.decisions:
        blocks += [
            Heading(t("doc.decisions_title"), 3),
            Table(
                (t("doc.nr"), t("doc.date"), t("doc.decision"), t("doc.why")),
                tuple((str(d.nr), when(data, d.at), d.text, d.reason or "–") for d in data.decisions),
                (True, False, False, False),
                (1, 3, 6, 5),
            ),
        ]
    if data.ideas:
        blocks += [
            Heading(t("doc.ideas_title"), 3),
            Table(
                (t("doc.nr"), t("doc.date"), t("doc.idea"), t("doc.state"), t("doc.explanation")),
                tuple(
                    (str(i.nr), when(data, i.at), i.text, word(lang, f"toolkit.status.{i.status}"), i.reason or "–")
                    for i in data.ideas
                ),
                (True, False, False, False, False),
                (1, 3, 6, 2, 4),
            ),
            Para(t("doc.ideas_kept"), "note"),
        ]
    if not data.decisions and not data.ideas:
        blocks.append(Para(t("doc.no_log")))

    # ------------------------------------------------------------ the group
    blocks += [
        Heading(t("doc.group_title")),
        Para(t(f"doc.size_{comp.size_verdict}", size=comp.size, count=comp.size, min=MIN_GROUP, max=MAX_GROUP)),
        Table(
            (t("doc.role"), t("doc.count")),
            tuple((label(lang, f"roles.{r}"), str(n)) for r, n in comp.roles.items()),
            (False, True),
            (3, 1),
        ),
        Table(
            (t("doc.perspective"), t("doc.count")),
            tuple((label(lang, f"perspectives.{p}"), str(comp.perspectives[p])) for p in PERSPECTIVES)
            + (((t("doc.perspective_unknown"), str(comp.unknown_perspective)),) if comp.unknown_perspective else ()),
            (False, True),
            (3, 1),
        ),
    ]
    missing_p = comp.missing
    blocks.append(
        Para(
            t("doc.perspectives_missing", missing=", ".join(word(lang, f"perspectives.{p}") for p in missing_p))
            if missing_p
            else t("doc.perspectives_all")
        )
    )
    blocks.append(Para(t("doc.joined_left", joined=comp.joined, left=comp.left)))

    return Document(
        lang,
        t("doc.title", network=data.network),
        t("doc.subtitle", period=period_text(data), made=when(data, data.made_at)),
        tuple(blocks),
        t("doc.footer"),
    )


def _actions(data: ReportData, actions: tuple[ActionItem, ...]) -> Table:
    lang = data.language
    return Table(
        (text(lang, "doc.action"), text(lang, "doc.due"), text(lang, "doc.state_now"), text(lang, "doc.outcome")),
        tuple(
            (a.text, day(lang, a.due) if a.due else "–", word(lang, f"rounds.action_state.{a.state}"), a.outcome or "–")
            for a in actions
        ),
        (False, False, False, False),
        (6, 3, 2, 5),
    )


def _celebration(data: ReportData, c: CelebrationItem) -> str:
    lang = data.language
    if c.milestone:
        key = c.milestone if i18n.has(lang, f"report.milestone.{c.milestone}") else "other"
        what = text(lang, f"milestone.{key}", value=c.milestone_value or "")
    else:
        what = text(lang, "doc.quote", text=c.text)
    return text(lang, "doc.dated", date=when(data, c.at), text=what)
