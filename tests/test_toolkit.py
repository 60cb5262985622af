"""The trekker's toolkit: announcements (role gate, held in quiet hours and during sessions,
planned, read tracking), input before a session, the digest, the after-session question,
decisions and ideas, the ambition. Assertions are about what the bot sent and stored.
"""

from __future__ import annotations

from adapters.console.harness import Harness
from bot.markup import plain
from bot.models import Announcement, AnnouncementRead, Answer, LogEntry, MeetingInput, Nudge
from tests.conftest import local, texts
from tests.test_rhythm import at_local, command, network, only_error_for, rows, sent


# ---------------------------------------------------------------------------- announcements
async def test_only_the_trekker_posts_announcements(harness: Harness) -> None:
    for who in ("cem", "bram"):
        only_error_for(await command(harness, who, "/mededeling De zaal is veranderd."), who)
    assert "Dit mag alleen een trekker" in texts(harness)[-1]
    assert await rows(harness, Announcement) == []


async def test_announcement_now_with_read_button_and_text_fallback(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 5, 11, 0))
    replies = await command(harness, "anna", "/mededeling De bijeenkomst van woensdag is in zaal 2.")
    (post,) = replies
    assert (post.kind, post.to) == ("announcement", "group")
    assert [label for label, _ in post.buttons] == ["Gelezen"] and "/gelezen 1" in post.text
    await harness.press("cem", "Gelezen", on="announcement")
    await harness.press("cem", "Gelezen", on="announcement")  # twice counts once
    await harness.say("dewi", "/gelezen 1")
    await harness.say("els", "/gelezen")
    reads = await rows(harness, AnnouncementRead)
    assert len(reads) == 4  # the author counts as a reader
    assert harness.recorder.sent[-1].visible_to == "els" and "gelezen" in texts(harness)[-1]
    await command(harness, "anna", "/mededeling 1")
    overview = texts(harness)[-1]
    assert "Gelezen door: Anna de Vries, Cem Yilmaz, Dewi Santoso, Els Janssen" in overview
    assert "Nog niet gelezen: Bram Peters, Fleur Bakker" in overview
    only_error_for(await command(harness, "cem", "/mededeling 1"), "cem")


async def test_read_counts_of_a_network_with_one_member_are_singular(harness: Harness) -> None:
    """"1 van de 1 leden las hem": the noun follows the members counted, not the readers."""
    for who in ("bram", "cem", "dewi", "els", "fleur"):
        await harness.leave(who)
    await harness.advance(local(2026, 1, 5, 11, 0))
    await command(harness, "anna", "/mededeling De zaal is veranderd.")
    await command(harness, "anna", "/mededeling")
    assert texts(harness)[-1].endswith("• 1. De zaal is veranderd. (gelezen door 1 van 1 lid)")
    await harness.say("anna", "/netwerk taal en")
    await command(harness, "anna", "/announce")
    assert texts(harness)[-1].endswith("• 1. De zaal is veranderd. (read by 1 of 1 member)")


async def test_announcement_in_quiet_hours_is_held_and_the_trekker_told_privately(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 23, 0))
    replies = await command(harness, "anna", "/mededeling Morgen geen koffie, de automaat is stuk.")
    assert [(s.kind, s.to) for s in replies] == [("status", "dm:anna")]
    assert texts(harness)[-1] == "📣 Het is nu rusttijd. Ik plaats mededeling 1 op wo 7 jan 2026 om 07:00."
    await harness.advance(local(2026, 1, 7, 6, 59))
    assert sent(harness, "announcement") == []
    await harness.advance(local(2026, 1, 7, 7, 0))
    (post,) = sent(harness, "announcement")
    assert at_local(post) == local(2026, 1, 7, 7, 0) and post.to == "group"


async def test_announcement_during_a_session_waits_until_it_ends(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-07 14:00-16:00 Buurthuis")
    await harness.advance(local(2026, 1, 7, 15, 0))
    await command(harness, "anna", "/mededeling De volgende keer nemen we de fietsen.")
    assert sent(harness, "announcement") == [] and texts(harness, to="dm:anna")[-1] == (
        "📣 Mededeling 1 zou midden in de bijeenkomst komen. Mededelingen horen aan het eind, dus ik plaats hem "
        "op wo 7 jan 2026 om 16:00.")
    await harness.advance(local(2026, 1, 7, 17, 0))
    assert [at_local(s) for s in sent(harness, "announcement")] == [local(2026, 1, 7, 16, 0)]


async def test_planned_announcement_and_one_that_lands_in_a_session(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-08 09:00-11:00 Stadhuis")
    replies = await command(harness, "anna", "/mededeling om 2026-01-07 09:30 Denk aan je ID-bewijs morgen.")
    assert [(s.kind, s.visible_to) for s in replies] == [("status", "anna")]
    assert texts(harness)[-1] == "📣 Mededeling 1 staat klaar voor wo 7 jan 2026 om 09:30."
    replies = await command(harness, "anna", "/mededeling om 2026-01-08 10:00 Lunch staat klaar in de kantine.")
    # the confirmation says at once when it really goes out, and why
    assert [(s.kind, s.visible_to) for s in replies] == [("status", "anna")]
    assert texts(harness)[-1] == ("📣 Mededeling 2 gaat op do 8 jan 2026 om 11:00 de groep in, want do 8 jan 2026 10:00 "
                                  "valt in de bijeenkomst. Mededelingen horen aan het eind.")
    await command(harness, "anna", "/mededeling om 2026-01-09 10:00 Deze gaat niet door.")
    await command(harness, "anna", "/mededeling annuleer 3")
    await harness.advance(local(2026, 1, 12, 12, 0))
    posts = sent(harness, "announcement")
    assert [at_local(s) for s in posts] == [local(2026, 1, 7, 9, 30), local(2026, 1, 8, 11, 0)]
    assert "ID-bewijs" in posts[0].text and "Lunch" in posts[1].text
    assert texts(harness, kind="status", to="dm:anna") == []  # no later surprise: nothing changed since
    assert [a.state for a in await rows(harness, Announcement, order=Announcement.nr)] == [
        "posted", "posted", "cancelled"]


async def test_announcement_planned_in_the_weekend_is_confirmed_for_monday(harness: Harness) -> None:
    replies = await command(harness, "anna", "/mededeling om 2026-01-10 09:00 Op zaterdag")
    assert [(s.kind, s.visible_to) for s in replies] == [("status", "anna")]
    assert texts(harness)[-1] == ("📣 Mededeling 1 gaat op ma 12 jan 2026 om 07:00 de groep in, want za 10 jan 2026 09:00 "
                                  "valt in het weekend. Dan is het rusttijd in de groep.")
    (ann,) = await rows(harness, Announcement)
    assert ann.due_at == local(2026, 1, 12, 7, 0)
    await harness.advance(local(2026, 1, 12, 6, 59))
    assert sent(harness, "announcement") == []
    await harness.advance(local(2026, 1, 12, 12, 0))
    assert [at_local(s) for s in sent(harness, "announcement")] == [local(2026, 1, 12, 7, 0)]
    assert texts(harness, kind="status", to="dm:anna") == []


async def test_announcement_planned_at_night_names_the_quiet_hours_in_english(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk taal en")
    await command(harness, "anna", "/mededeling om 2026-01-07 23:30 Late one")
    assert texts(harness)[-1] == ("📣 Announcement 1 goes to the group on Thu 8 Jan 2026 at 07:00, because Wed 7 Jan 2026 "
                                  "23:30 falls in quiet hours (22:00-07:00).")


async def test_session_then_quiet_hours_are_both_counted_in_the_confirmation(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-09 20:00-23:00 Buurthuis")
    await command(harness, "anna", "/mededeling om 2026-01-09 21:00 Na afloop")
    # after the session it is night, then weekend: Monday morning
    assert "gaat op ma 12 jan 2026 om 07:00 de groep in, want vr 9 jan 2026 21:00 valt in de bijeenkomst" in texts(harness)[-1]
    await harness.advance(local(2026, 1, 12, 12, 0))
    assert [at_local(s) for s in sent(harness, "announcement")] == [local(2026, 1, 12, 7, 0)]
    assert texts(harness, kind="status", to="dm:anna") == []


async def test_a_session_planned_later_still_holds_it_and_tells_the_trekker(harness: Harness) -> None:
    await command(harness, "anna", "/mededeling om 2026-01-08 10:00 Lunch")
    assert texts(harness)[-1] == "📣 Mededeling 1 staat klaar voor do 8 jan 2026 om 10:00."
    await command(harness, "anna", "/bijeenkomst 2026-01-08 09:00-11:00 Stadhuis")
    await harness.advance(local(2026, 1, 8, 12, 0))
    assert [at_local(s) for s in sent(harness, "announcement")] == [local(2026, 1, 8, 11, 0)]
    (held,) = texts(harness, kind="status", to="dm:anna")
    assert held == ("📣 Mededeling 1 zou midden in de bijeenkomst komen. Mededelingen horen aan het eind, dus ik "
                    "plaats hem op do 8 jan 2026 om 11:00.")


def test_every_announcement_text_names_its_moment_as_people_say_it() -> None:
    """"Ik plaats mededeling 3 wo 7 jan 2026 07:00" lacked "op" (and "om"): a date after a verb
    takes "op" in Dutch and "on" in English, the time "om"/"at"."""
    from bot import i18n

    moment = {"date": "wo 7 jan 2026", "time": "07:00"}
    keys = [k for k in i18n.raw("nl", "toolkit") if k.startswith(("announcement_held_", "announcement_planned"))]
    assert len(keys) == 7
    said = {"nl": ("op wo 7 jan 2026 om 07:00", "voor wo 7 jan 2026 om 07:00"),
            "en": ("on wo 7 jan 2026 at 07:00", "for wo 7 jan 2026 at 07:00")}
    for lang, ways in said.items():
        for key in keys:
            text = plain(i18n.t(lang, f"toolkit.{key}", nr=3, asked="di 6 jan 2026 23:00", start="22:00",
                                end="07:00", **moment))
            assert key == "announcement_held_round" or any(way in text for way in ways), (lang, key, text)


async def test_announcement_bad_input_gets_a_clear_answer(harness: Harness) -> None:
    for bad in ("/mededeling om gisteren 10:00 x", "/mededeling om 2025-01-01 10:00 te laat",
                "/mededeling annuleer 9", "/mededeling " + "x" * 2100, "/mededeling om 2026-02-01"):
        only_error_for(await command(harness, "anna", bad), "anna")
    assert await rows(harness, Announcement) == []


async def test_an_announcement_that_begins_with_op_or_om_is_posted_as_written(harness: Harness) -> None:
    """Planning takes a date and then a clock time; a sentence that merely begins with "Op" or "Om"
    (or "On"/"At") goes out now, word for word. A wrong date before a time is still an attempt to plan."""
    await harness.advance(local(2026, 1, 5, 11, 0))
    for line in ("Op 5 februari is er geen bijeenkomst.", "Om 10 uur begint de markt.",
                 "Op maandag komt de wethouder.", "Op 5 februari om 10 uur is er markt."):
        (post,) = await command(harness, "anna", f"/mededeling {line}")
        assert (post.kind, post.to) == ("announcement", "group") and line in texts(harness)[-1]
    assert [a.text for a in await rows(harness, Announcement)] == [
        "Op 5 februari is er geen bijeenkomst.", "Om 10 uur begint de markt.", "Op maandag komt de wethouder.",
        "Op 5 februari om 10 uur is er markt."]
    (reply,) = await command(harness, "anna", "/mededeling op 5 februari om 09:00 Denk aan de markt.")
    assert reply.kind == "status" and texts(harness)[-1] == "📣 Mededeling 5 staat klaar voor do 5 feb 2026 om 09:00."
    planned = (await rows(harness, Announcement))[-1]
    assert planned.text == "Denk aan de markt." and planned.state != "posted"
    only_error_for(await command(harness, "anna", "/mededeling om 2026-02-30 09:00 Markt"), "anna")
    assert 'De datum "2026-02-30" klopt niet' in texts(harness)[-1]
    assert len(await rows(harness, Announcement)) == 5


# ---------------------------------------------------------------------------- before and after a session
async def plan_session(h: Harness) -> None:
    await command(h, "anna", "/ambitie Elk gezin in de wijk weet binnen een week waar het terechtkan.")
    await command(h, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis De Linde")


async def test_input_question_three_days_before_and_digest_the_day_before(harness: Harness) -> None:
    await plan_session(harness)
    await command(harness, "anna", "/mededeling De zaal is veranderd.")
    await harness.press("cem", "Gelezen", on="announcement")
    await command(harness, "bram", "/actie Cem belt de school voor 2026-01-30")
    await harness.advance(local(2026, 1, 12, 10, 0))
    (ask,) = sent(harness, "pre_session_question")
    assert at_local(ask) == local(2026, 1, 12, 10, 0) and ask.to == "group"
    await harness.say("cem", "Ouders vinden de weg naar hulp niet; scholen zien het eerst.", reply_to="pre_session_question")
    await harness.say("dewi", "Scholen en ouders praten te weinig met elkaar.", reply_to="pre_session_question")
    await harness.say("els", "/inbreng Ik neem een casus mee over een gezin met schulden.", private=True)
    assert len(await rows(harness, MeetingInput)) == 3
    await harness.join("gijs", "Gijs de Vries")
    await harness.advance(local(2026, 1, 14, 10, 0))
    (digest,) = sent(harness, "digest", to="group")
    assert at_local(digest) == local(2026, 1, 14, 10, 0)
    text = texts(harness, "digest", to="group")[0]
    for part in ("Vooruitblik: morgen bijeenkomst do 15 jan 2026 14:00-16:00, Buurthuis De Linde",
                 "Elk gezin in de wijk weet", "3 leden gaven vooraf inbreng", "ouders, scholen",
                 "1. De zaal is veranderd.", "Cem Yilmaz: belt de school",
                 "Nieuw sinds de vorige bijeenkomst: Gijs de Vries", "Mededelingen doen we aan het eind"):
        assert part in text, part
    assert "schulden" not in text  # what members wrote goes to the trekker, not the group
    assert "gelezen" not in text and "2 van" not in text  # read counts only for the trekker
    (private,) = sent(harness, "digest", to="dm:anna")
    mine = texts(harness, "digest", to="dm:anna")[0]
    assert "Els Janssen: Ik neem een casus mee over een gezin met schulden." in mine and "samenvatting" in mine
    assert "Mededeling 1: gelezen door 2 van de 6 leden." in mine
    assert not [s for s in sent(harness, "digest") if s.to not in ("group", "dm:anna")]


async def test_digest_points_only_to_announcements_still_relevant(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis De Linde")
    await command(harness, "anna", "/bijeenkomst 2026-01-29 14:00-16:00 Wijkcentrum Oost")
    await command(harness, "anna", "/mededeling De bijeenkomst van 15 januari is in de grote zaal.")
    await harness.advance(local(2026, 1, 15, 15, 0))
    await command(harness, "anna", "/mededeling De presentatie van vandaag staat in de gedeelde map.")  # held to 16:00
    await harness.advance(local(2026, 1, 20, 9, 0))
    await command(harness, "anna", "/mededeling De excursie van 2026-01-22 om 10.30 gaat door.")
    await command(harness, "anna", "/mededeling Er is op 5 februari een extra avond.")
    await harness.advance(local(2026, 1, 28, 12, 0))
    first, second = texts(harness, "digest", to="group")
    assert "1. De bijeenkomst van 15 januari is in de grote zaal." in first  # the day has not come yet
    # since the first session: not the one about 15 January, nor the one about the 22nd (both past)
    assert "1. De bijeenkomst" not in second and "excursie" not in second
    assert "2. De presentatie van vandaag staat in de gedeelde map." in second
    assert "4. Er is op 5 februari een extra avond." in second
    # the trekker's read counts are about the same announcements
    mine = texts(harness, "digest", to="dm:anna")[-1]
    assert "Mededeling 2:" in mine and "Mededeling 4:" in mine
    assert "Mededeling 1:" not in mine and "Mededeling 3:" not in mine


async def test_digest_leaves_out_announcements_older_than_four_weeks(harness: Harness) -> None:
    await command(harness, "anna", "/mededeling De zaal is veranderd.")
    await command(harness, "anna", "/bijeenkomst 2026-02-12 14:00-16:00 Buurthuis")
    await harness.advance(local(2026, 2, 11, 12, 0))
    (digest,) = texts(harness, "digest", to="group")
    assert "De zaal is veranderd" not in digest and "Lees deze" not in digest


def test_named_dates_are_calendar_dates_only() -> None:
    from datetime import date

    from bot.features.toolkit import named_dates
    posted = date(2026, 1, 20)
    assert named_dates("De excursie van 2026-01-22 om 10.30 gaat door.", posted) == [date(2026, 1, 22)]
    assert named_dates("Op 5 februari en 12-2 (en 3/3/2026)!", posted) == [
        date(2026, 2, 5), date(2026, 2, 12), date(2026, 3, 3)]
    assert named_dates("Morgen om 11.05 koffie, vandaag niet; bel 06-12345678", posted) == []


async def test_session_planned_late_still_gets_its_digest_and_cancelled_gets_nothing(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 7, 9, 0))
    await command(harness, "anna", "/bijeenkomst 2026-01-08 14:00-16:00 Buurthuis")
    await command(harness, "anna", "/bijeenkomst 2026-01-20 14:00-16:00 Buurthuis")
    await command(harness, "anna", "/bijeenkomst annuleer 2")
    await harness.advance(local(2026, 1, 21, 12, 0))
    assert sent(harness, "pre_session_question") == []  # too late for the first, the second is cancelled
    assert [at_local(s) for s in sent(harness, "digest", to="group")] == [local(2026, 1, 7, 10, 0)]


async def test_after_session_question_the_same_afternoon_or_the_next_morning(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-07 14:00-16:00 Buurthuis")
    await command(harness, "anna", "/bijeenkomst 2026-01-14 19:00-21:00 Wijkcentrum")
    await harness.advance(local(2026, 1, 7, 17, 0))
    (first,) = sent(harness, "after_session_question")
    assert at_local(first) == local(2026, 1, 7, 17, 0) and "Wat neem je mee?" in first.text
    await harness.say("cem", "Dat ouders vaker zelf met oplossingen komen.", reply_to="after_session_question")
    (answer,) = await rows(harness, Answer)
    (nudge,) = await rows(harness, Nudge, Nudge.category == "session")
    assert answer.nudge_id == nudge.id
    await harness.advance(local(2026, 1, 15, 12, 0))
    assert [at_local(s) for s in sent(harness, "after_session_question")][1] == local(2026, 1, 15, 9, 0)
    await command(harness, "anna", "/status")
    assert "Meedoen" in texts(harness)[-1] and "07-01" not in texts(harness)[-1]  # not a weekly nudge


async def test_questions_before_and_after_a_session_vary_from_session_to_session(harness: Harness) -> None:
    for day in ("2026-01-21", "2026-02-04", "2026-02-18", "2026-03-04"):
        await command(harness, "anna", f"/bijeenkomst {day} 14:00-16:00 Buurthuis")
    await harness.advance(local(2026, 3, 5, 12, 0))
    for kind in ("pre_session_question", "after_session_question"):
        asked = [plain(s.text).split("\n", 1)[1] for s in sent(harness, kind)]
        assert len(asked) == 4
        # three phrasings: never the same twice in a row, the fourth is the first again
        assert len(set(asked[:3])) == 3 and asked[3] == asked[0], kind
    assert all("/inbreng …" in plain(s.text) for s in sent(harness, "pre_session_question"))


async def test_prep_settings(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/ritme bijeenkomst 2"), "cem")
    await command(harness, "anna", "/ritme bijeenkomst 0 09:00")
    net = await network(harness)
    assert (net.pre_session_days, net.digest_time) == (0, "09:00")
    await command(harness, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis")
    await harness.advance(local(2026, 1, 15, 12, 0))
    assert sent(harness, "pre_session_question") == []
    assert [at_local(s) for s in sent(harness, "digest", to="group")] == [local(2026, 1, 14, 9, 0)]


# ---------------------------------------------------------------------------- decisions and ideas
async def test_decisions_by_trekker_or_penvoerder_with_who_and_why(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/besluit we gaan naar de scholen"), "cem")
    assert "trekker of de penvoerder" in texts(harness)[-1]
    (post,) = await command(harness, "anna", "/besluit we bezoeken twee scholen omdat ouders daarom vroegen")
    assert (post.kind, post.to) == ("decision", "group")
    assert "Besluit 1: we bezoeken twee scholen" in texts(harness)[-1]
    assert "Waarom? Omdat ouders daarom vroegen. Vastgelegd door Anna de Vries." in texts(harness)[-1]
    only_error_for(await command(harness, "cem", "/penvoerder cem"), "cem")
    await command(harness, "anna", "/penvoerder Cem")
    (post,) = await command(harness, "cem", "/besluit de werkgroep start in maart")
    assert post.kind == "decision" and "De reden staat er nog niet bij." in texts(harness)[-1]
    (first, second) = await rows(harness, LogEntry, order=LogEntry.nr)
    assert (first.reason, second.reason, second.status) == ("omdat ouders daarom vroegen", "", "decided")


async def test_ideas_are_kept_also_when_not_chosen(harness: Harness) -> None:
    (post,) = await command(harness, "dewi", "/idee een ouderpanel dat meekijkt")
    assert (post.kind, post.to) == ("idea", "group") and "Idee 1 van Dewi Santoso" in texts(harness)[-1]
    await command(harness, "fleur", "/idee een spreekuur op school")
    only_error_for(await command(harness, "dewi", "/idee 2 niet gekozen te duur"), "dewi")
    await command(harness, "anna", "/idee 2 niet gekozen het budget is dit jaar op")
    assert "blijft in het logboek" in texts(harness)[-1]
    await command(harness, "anna", "/idee 1 gekozen")
    await command(harness, "anna", "/besluit het ouderpanel start in februari omdat ouders al klaarstaan")
    await command(harness, "els", "/logboek")
    log = texts(harness)[-1]
    assert harness.recorder.sent[-1].visible_to == "els"
    assert "een ouderpanel dat meekijkt (gekozen)" in log
    assert "een spreekuur op school (niet gekozen). Waarom? Het budget is dit jaar op" in log
    assert "besluit (Anna de Vries): het ouderpanel start in februari" in log
    states = [(e.kind, e.nr, e.status) for e in await rows(harness, LogEntry, order=LogEntry.id)]
    assert states == [("idea", 1, "chosen"), ("idea", 2, "not_chosen"), ("decision", 1, "decided")]
    only_error_for(await command(harness, "anna", "/idee 9 gekozen"), "anna")
    only_error_for(await command(harness, "anna", "/idee 1 misschien"), "anna")


async def test_an_idea_marked_reads_right_with_and_without_a_reason(harness: Harness) -> None:
    """"Idee 1 is gekozen: … uit.. " had a doubled full stop and a trailing space without a reason."""
    await command(harness, "dewi", "/idee We nodigen de wijkagent uit.")
    await command(harness, "fleur", "/idee een spreekuur op school")
    await command(harness, "cem", "/idee " + "een markt " * 10 + "met kraampjes?")
    marks = {
        "/idee 1 gekozen": "💡 Idee 1 is gekozen: We nodigen de wijkagent uit.",
        "/idee 1 gekozen omdat het past.": "💡 Idee 1 is gekozen: We nodigen de wijkagent uit. Waarom? Omdat het past.",
        "/idee 2 niet gekozen": "💡 Idee 2 is niet gekozen: een spreekuur op school.\nHet blijft in het logboek "
                                "bewaard: ook ideeën die niet gekozen worden, tellen mee.",
        "/idee 2 gekozen": "💡 Idee 2 is gekozen: een spreekuur op school.",
        "/idee 3 niet gekozen te duur": "💡 Idee 3 is niet gekozen: " + "een markt " * 7 + "een markt… Waarom? Te duur."
                                        "\nHet blijft in het logboek bewaard: ook ideeën die niet gekozen worden, "
                                        "tellen mee.",
    }
    for line, text in marks.items():
        (post,) = await command(harness, "anna", line)
        assert (post.kind, post.to) == ("idea", "group") and plain(post.text) == text, line
    await command(harness, "anna", "/besluit de werkgroep start in maart.")
    await command(harness, "anna", "/besluit we bezoeken twee scholen omdat ouders daarom vroegen")
    await command(harness, "els", "/logboek")
    assert texts(harness)[-1].split("\n")[1:] == [
        "💡 1. 05-01 idee van Dewi Santoso: We nodigen de wijkagent uit (gekozen). Waarom? Omdat het past.",
        "💡 2. 05-01 idee van Fleur Bakker: een spreekuur op school (gekozen).",
        "💡 3. 05-01 idee van Cem Yilmaz: " + "een markt " * 10 + "met kraampjes? (niet gekozen). Waarom? Te duur.",
        "📌 1. 05-01 besluit (Anna de Vries): de werkgroep start in maart.",
        "📌 2. 05-01 besluit (Anna de Vries): we bezoeken twee scholen. Waarom? Omdat ouders daarom vroegen."]
    await command(harness, "anna", "/netwerk taal en")
    (post,) = await command(harness, "anna", "/idea 2 chosen")
    assert plain(post.text) == "💡 Idea 2 was chosen: een spreekuur op school."
    (post,) = await command(harness, "anna", "/idea 1 not chosen")
    assert plain(post.text) == ("💡 Idea 1 was not chosen: We nodigen de wijkagent uit.\n"
                                "It stays in the log: ideas that are not chosen count too.")


async def test_a_reason_that_asks_or_trails_off_keeps_its_own_ending(harness: Harness) -> None:
    """"Waarom? Is dat haalbaar?." had a full stop after the question mark (and "…." after an ellipsis)."""
    await command(harness, "dewi", "/idee Een markt met kraampjes")
    (post,) = await command(harness, "anna", "/idee 1 niet gekozen is dat wel haalbaar?")
    assert plain(post.text).startswith("💡 Idee 1 is niet gekozen: Een markt met kraampjes. Waarom? Is dat wel haalbaar?\n")
    (post,) = await command(harness, "anna", "/besluit we starten in maart omdat de zaal dan vrij is…")
    assert "Waarom? Omdat de zaal dan vrij is… Vastgelegd door Anna de Vries." in plain(post.text)
    await command(harness, "els", "/logboek")
    log = texts(harness)[-1]
    assert "(niet gekozen). Waarom? Is dat wel haalbaar?\n" in log and "?." not in log and "…." not in log
    await command(harness, "anna", "/netwerk taal en")
    (post,) = await command(harness, "anna", "/idea 1 chosen who else would?")
    assert plain(post.text) == "💡 Idea 1 was chosen: Een markt met kraampjes. Why? Who else would?"


async def test_ambition_show_and_set(harness: Harness) -> None:
    await command(harness, "cem", "/ambitie")
    assert "De gezamenlijke ambitie: Eén aanpak." in texts(harness)[-1]
    only_error_for(await command(harness, "cem", "/ambitie iets anders"), "cem")
    (post,) = await command(harness, "anna", "/ambitie Geen gezin valt tussen wal en schip.")
    assert post.to == "group" and (await network(harness)).ambition == "Geen gezin valt tussen wal en schip."
    # the ambition's own full stop ends it: not "… schip. (vastgelegd door Anna de Vries)."
    assert plain(post.text) == ("🎯 Anna de Vries heeft de gezamenlijke ambitie vastgelegd: Geen gezin valt tussen wal "
                                "en schip.\nIk kom er af en toe op terug.")
    await harness.advance(local(2026, 2, 20, 12, 0))
    assert "Geen gezin valt tussen wal en schip." in texts(harness, "intention_prompt")[0]


async def test_english_network_uses_english_commands_and_texts(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk taal en")
    await command(harness, "anna", "/announce The room has changed.")
    assert "Announcement 1 from Anna de Vries" in texts(harness)[-1]
    await command(harness, "cem", "/idea a parents' panel")
    await command(harness, "anna", "/idea 1 not chosen no budget")
    assert "stays in the log" in texts(harness)[-1]


async def test_input_question_and_digest_move_earlier_over_a_weekend(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-19 14:00-16:00 Buurthuis")  # a Monday
    await harness.advance(local(2026, 1, 19, 12, 0))
    # three working days before: Fri 16, Thu 15, Wed 14 (the weekend does not count)
    assert [at_local(s) for s in sent(harness, "pre_session_question")] == [local(2026, 1, 14, 10, 0)]
    assert [at_local(s) for s in sent(harness, "digest", to="group")] == [local(2026, 1, 16, 10, 0)]  # Fri, not Sun


async def test_input_question_counts_working_days_past_a_public_holiday(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-05-19 14:00-16:00 Buurthuis")  # a Tuesday
    await harness.advance(local(2026, 5, 19, 12, 0))
    # Mon 18, Fri 15, (Thu 14 is Ascension Day) Wed 13
    assert [at_local(s) for s in sent(harness, "pre_session_question")] == [local(2026, 5, 13, 10, 0)]
    assert [at_local(s) for s in sent(harness, "digest", to="group")] == [local(2026, 5, 18, 10, 0)]


async def test_decision_maker_in_english_is_named_without_dutch_words(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk taal en")
    await command(harness, "cem", "/decider")
    assert texts(harness)[-1] == ("There is no decision-maker. The lead records decisions, and can name a "
                                  "decision-maker, for example: /decider Ivo.")
    await command(harness, "anna", "/decider Cem")
    assert texts(harness, to="group")[-1] == "📌 Cem Yilmaz is now the decision-maker and records decisions besides the lead."
    await command(harness, "dewi", "/decider")
    assert texts(harness)[-1] == "The decision-maker is Cem Yilmaz. They record decisions besides the lead."
