"""Privacy and trust: personal-data warnings (masked before storage), consent to be quoted,
export, erasure (proved by searching the whole database for the member's identifiers and words),
retention, the role matrix, and fuzzing of commands and inbound text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from adapters.console.harness import Harness, Sent
from bot import privacy as detect
from bot.cleaning import clean_text
from bot.core import split_command
from bot.models import Answer, Celebration, Job, LogEntry, MeetingInput, Member, OutboxMessage
from tests.conftest import MEMBERS, NETWORK, local, texts
from tests.test_rhythm import command, member, only_error_for, rows, sent


# ---------------------------------------------------------------------------- detection
@pytest.mark.parametrize("sample, kind", [
    ("bel haar op 06-12345678", "phone"), ("+31 6 1234 5678", "phone"), ("010-1234567", "phone"),
    ("0031612345678", "phone"), ("mail jan.jansen@example.nl", "email"), ("BSN 111222333", "bsn"),
    ("bsn 1112.22.333", "bsn"), ("IBAN NL91 ABNA 0417 1643 00", "iban"), ("NL91ABNA0417164300", "iban"),
    ("ze woont op 5911 AB 12", "address"), ("Kerkstraat 12a", "address"),
    # Dutch phone numbers as people write them (issue 17, item 5: still caught next to the date fix)
    ("06 12 34 56 78", "phone"), ("06-12-34-56-78", "phone"), ("+31 (0)6 12345678", "phone"),
    ("(010) 123 45 67", "phone"), ("020 123 4567", "phone"), ("bel 06-12345678: na 17 uur", "phone"),
    ("op 01-02-2026 belt ze 0612345678", "phone"), ("0031 6 1234 5678.", "phone"),
])
def test_personal_data_is_found(sample: str, kind: str) -> None:
    assert [f.kind for f in detect.find(sample)] == [kind]
    assert kind in detect.mask(sample)


@pytest.mark.parametrize("sample", [
    "We hebben 25 gezinnen en 1234 euro", "om 14:00 op 19-1-2026", "het budget is 100000 euro",
    "123456789 is geen geldig BSN", "rekening NL91 ABNA 0000 klopt niet", "in 2026 kwamen 5911 mensen",
    "/bijeenkomst 2026-01-19 14:00-16:00 Buurthuis De Linde", "06-1234 is te kort",
    "/rapport 2026-01-01 2026-03-31", "van 01-01-2026 tot 01-03-2026",
    # Dutch dates and times (issue 17, item 5): a date with a time has a phone number's ten digits
    "/bijeenkomst 01-02-2026 14:00 X", "/mededeling om 02-02-2026 10:00 Koffie", "01-02-2026 14:00-16:00",
    "op 01-02-2026 14.00 uur", "01.02.2026 14:00", "31/12/2026 09:30", "03-03-2026 10", "01-02-2026 1400",
    "om 09:00, 10:00 en 11:00", "14.00-16.00 uur",
])
def test_ordinary_numbers_are_left_alone(sample: str) -> None:
    assert detect.find(sample) == []


@pytest.mark.parametrize("line, kind, shown", [
    ("/bijeenkomst 01-02-2026 14:00 Buurthuis", "session", "zo 1 feb 2026 14:00"),
    ("/mededeling om 02-02-2026 10:00 Koffie staat klaar", "status", "ma 2 feb 2026 om 10:00"),
])
async def test_commands_with_dutch_dates_work_and_warn_nobody(harness: Harness, line: str, kind: str,
                                                              shown: str) -> None:
    replies = await command(harness, "anna", line)
    assert [(s.kind, s.to) for s in replies] == [(kind, "group")], texts(harness)[-1]
    assert shown in texts(harness)[-1] and "telefoonnummer" not in texts(harness)[-1]


async def test_an_answer_with_personal_data_is_masked_and_the_author_asked_privately(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 10, 0))
    before = len(harness.recorder.sent)
    await harness.say("cem", "Moeder (06-12345678, m.jansen@example.nl) zit diep in de schulden.", reply_to="nudge")
    new = harness.recorder.sent[before:]
    assert [(s.kind, s.to) for s in new] == [("privacy", "dm:cem")]
    assert "telefoonnummer, e-mailadres" in texts(harness)[-1] and "06-12345678" not in new[0].text
    (answer,) = await rows(harness, Answer)
    assert answer.text == "Moeder ([telefoonnummer], [e-mailadres]) zit diep in de schulden."
    await harness.advance(local(2026, 1, 13, 12, 0))
    everything = "\n".join(s.text for s in harness.recorder.sent)
    assert "12345678" not in everything and "example.nl" not in everything


async def test_personal_data_in_a_command_is_not_stored_either(harness: Harness) -> None:
    await command(harness, "dewi", "/idee bel mevrouw op 0612345678 over een ouderpanel")
    (idea,) = await rows(harness, LogEntry)
    assert "0612345678" not in idea.text and "[telefoonnummer]" in idea.text
    assert "0612345678" not in "\n".join(s.text for s in harness.recorder.sent)


# ---------------------------------------------------------------------------- consent
async def test_answers_are_counted_not_quoted_unless_the_member_agrees(harness: Harness) -> None:
    await command(harness, "els", "/privacy citeren ja")
    assert (await member(harness, "els")).quote_consent
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("els", "Ik voelde me gehoord toen de school eerst vroeg wat wij nodig hadden.", reply_to="nudge")
    await harness.say("cem", "Een vader liet ongeopende post zien.", reply_to="nudge")
    await harness.advance(local(2026, 1, 13, 12, 0))  # the harvest rides along with the next weekly question
    (harvest,) = texts(harness, "harvest")
    assert "“Ik voelde me gehoord toen de school eerst vroeg wat wij nodig hadden.”" in harvest
    assert "ongeopende post" not in harvest and "Els" not in harvest
    await command(harness, "els", "/privacy citeren nee")
    assert not (await member(harness, "els")).quote_consent


async def test_privacy_shows_and_the_trekker_sets_retention(harness: Harness) -> None:
    await command(harness, "cem", "/privacy")
    assert "12 maanden" in texts(harness)[-1] and "citeer ze niet" in texts(harness)[-1]
    only_error_for(await command(harness, "cem", "/privacy bewaartermijn 6"), "cem")
    only_error_for(await command(harness, "anna", "/privacy bewaartermijn 0"), "anna")
    await command(harness, "anna", "/privacy bewaartermijn 6")
    assert "6 maanden" in texts(harness, to="group")[-1]


# ---------------------------------------------------------------------------- export
async def test_export_sends_everything_privately_with_a_json_file_and_keeps_no_copy(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("cem", "Ik stel nu eerst drie vragen.", reply_to="nudge")
    await command(harness, "cem", "/idee een spreekuur op school")
    await command(harness, "cem", "/vier de eerste casus is rond")
    await harness.say("cem", "/mijngegevens", private=True)
    (export,) = sent(harness, "privacy", to="dm:cem")
    assert "Cem Yilmaz" in export.text and "Ik stel nu eerst drie vragen." in export.text
    ((name, mime, data),) = export.files
    assert name.endswith(".json") and mime == "application/json"
    data = json.loads(data)
    assert data["profile"]["name"] == "Cem Yilmaz" and data["answers"][0]["answer"] == "Ik stel nu eerst drie vragen."
    assert data["ideas_and_decisions"][0]["text"] == "een spreekuur op school"
    assert data["celebrations"][0]["text"] == "de eerste casus is rond"
    (row,) = await rows(harness, OutboxMessage, OutboxMessage.kind == "privacy")
    assert (row.state, row.text, row.files) == ("sent", "", [])  # the export is not kept once delivered


async def test_export_shows_every_pause_and_erasure_removes_them(harness: Harness) -> None:
    await command(harness, "cem", "/pauze 1w")
    await harness.advance(local(2026, 1, 13, 12, 0))
    await command(harness, "cem", "/pauze 2w")
    await harness.advance(local(2026, 1, 14, 12, 0))
    await command(harness, "cem", "/pauze uit")
    await harness.say("cem", "/mijngegevens", private=True)
    (export,) = sent(harness, "privacy", to="dm:cem")
    profile = json.loads(export.files[0][2])["profile"]
    assert (profile["paused_from"], profile["paused_until"]) == (
        local(2026, 1, 13, 12, 0).astimezone(UTC).isoformat(), local(2026, 1, 14, 12, 0).astimezone(UTC).isoformat())
    assert profile["earlier_pauses"] == [{"from": local(2026, 1, 5, 8, 0).astimezone(UTC).isoformat(),
                                          "until": local(2026, 1, 12, 8, 0).astimezone(UTC).isoformat()}]
    assert json.loads((await harness_export(harness, "dewi")).files[0][2])["profile"]["earlier_pauses"] == []
    await harness.say("cem", "/vergeetmij ja", private=True)
    assert await rows(harness, Member, Member.user_id == "cem") == []  # the pauses went with the member row
    async with harness.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Member).where(Member.earlier_pauses.is_not(None))) == 0


async def test_export_has_the_questions_added_announcements_read_chats_link_codes_and_roles(harness: Harness) -> None:
    await command(harness, "anna", "/vraag toevoegen Wat deed je anders dan vorige maand?")
    await command(harness, "anna", "/mededeling Koffie staat klaar.")
    await command(harness, "anna", "/gelezen 1")
    await command(harness, "anna", "/koppel")
    await command(harness, "anna", "/penvoerder Anna")
    export = await harness_export(harness, "anna")
    data = json.loads(export.files[0][2])
    assert [q["text"] for q in data["questions_added"]] == ["Wat deed je anders dan vorige maand?"]
    assert [a["nr"] for a in data["announcements_read"]] == [1]
    assert len(data["chats"]) == 1 and data["chats"][0]  # the chat she is known to be in, by its title
    assert [c["kind"] for c in data["link_codes"]] == ["chat"] and "code_hash" not in data["link_codes"][0]
    assert data["profile"]["penvoerder"] is True and data["profile"]["trekker_told_you_went_quiet_at"] is None
    assert "eigen vragen die je toevoegde: 1" in export.text
    assert "mededelingen die je als gelezen markeerde: 1" in export.text


async def harness_export(harness: Harness, who: str) -> Sent:
    """``who``'s /mijngegevens."""
    await harness.say(who, "/mijngegevens", private=True)
    return sent(harness, "privacy", to=f"dm:{who}")[-1]


async def test_simulate_writes_files_under_out(tmp_path: Path) -> None:
    from adapters.console import simulate

    scenario = tmp_path / "s.yaml"
    scenario.write_text("network: {name: Test}\nmembers:\n  - {id: cem, name: Cem}\nstart: '2026-01-05T09:00'\n"
                        "steps:\n  - {at: '2026-01-05T09:10', from: cem, private: true, text: /mijngegevens}\n")
    out = tmp_path / "out"
    assert await simulate.main(str(scenario), None, str(out)) == 0
    (written,) = out.iterdir()
    assert json.loads(written.read_text())["profile"]["name"] == "Cem"


# ---------------------------------------------------------------------------- erasure
SECRET_WORDS = ("Zwanenburg", "kwetsbaarheidsgevoel", "Vlinderschool")


async def cem_leaves_traces(h: Harness) -> None:
    await h.advance(local(2026, 1, 6, 10, 0))
    await h.say("cem", f"Bij de {SECRET_WORDS[2]} merkte ik een {SECRET_WORDS[1]}.", reply_to="nudge")
    await command(h, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis")
    await h.say("cem", f"/inbreng Familie {SECRET_WORDS[0]} heeft hulp nodig", private=True)
    await command(h, "cem", f"/idee spreekuur op de {SECRET_WORDS[2]}")
    await command(h, "cem", f"/vier gesprek met {SECRET_WORDS[0]}")
    await command(h, "cem", "/leerdoel minder snel oplossen")
    await command(h, "anna", "/penvoerder Cem")


async def forget_cem(h: Harness) -> None:
    await h.say("cem", "/vergeetmij", private=True)
    (confirm,) = sent(h, "privacy", to="dm:cem")
    assert [label for label, _ in confirm.buttons] == ["Ja, verwijder alles", "Nee, toch niet"]
    assert await rows(h, Member, Member.user_id == "cem")  # nothing removed before confirming
    await h.press("cem", "Ja, verwijder alles", on="privacy")


def identifiers() -> list[bytes]:
    return [w.encode() for w in ("Cem Yilmaz", "Yilmaz", *SECRET_WORDS, "minder snel oplossen")]


async def test_erasure_leaves_nothing_in_the_sqlite_file(sqlite_url: str) -> None:
    h = await Harness.open(sqlite_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
    await cem_leaves_traces(h)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    before = path.read_bytes() + (Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b"")
    assert all(word in before for word in identifiers())  # the search would find them
    await forget_cem(h)
    assert "verwijderd" in h.recorder.sent[-1].text and h.recorder.sent[-1].to == "dm:cem"
    assert await rows(h, Member, Member.user_id == "cem") == []
    (answer,) = await rows(h, Answer)
    assert (answer.text, answer.member_id) == ("", None)  # still counted, anonymously
    assert await rows(h, MeetingInput) == [] and await rows(h, Celebration) == []
    await h.close()
    raw = path.read_bytes() + (Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b"")
    found = [word for word in identifiers() if word in raw]
    assert found == []


@pytest.mark.postgres
async def test_erasure_leaves_nothing_readable_in_postgresql(postgres_url: str) -> None:
    h = await Harness.open(postgres_url, local(2026, 1, 5, 8, 0))
    try:
        await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
        await cem_leaves_traces(h)
        await forget_cem(h)
        async with h.db.transaction() as s:
            tables = [r[0] for r in await s.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"))]
            dump = ""
            for table in tables:
                dump += "\n".join(str(row) for row in await s.execute(text(f'SELECT * FROM "{table}"')))
        assert [w for w in identifiers() if w.decode() in dump] == []
        assert "'cem'" not in dump
    finally:
        await h.close()


async def test_someone_who_left_can_still_see_and_erase_their_data_privately(harness: Harness) -> None:
    """Leaving the group keeps the member row (name, platform id) and what they wrote: from a
    private chat they may still ask for it and have it erased (GDPR articles 15 and 17), and
    nothing else of the network opens up to them."""
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("cem", "Ik stel nu eerst drie vragen.", reply_to="nudge")
    await command(harness, "cem", "/idee een spreekuur op school")
    await harness.leave("cem")
    before = len(harness.recorder.sent)
    await harness.say("cem", "/status", private=True)  # no longer a member: nothing of the network
    assert [s.kind for s in harness.recorder.sent[before:]] == ["error"]
    await harness.say("cem", "/mijngegevens", private=True)
    (export,) = sent(harness, "privacy", to="dm:cem")
    data = json.loads(export.files[0][2])
    assert data["profile"]["name"] == "Cem Yilmaz" and data["profile"]["active"] is False
    assert data["answers"][0]["answer"] == "Ik stel nu eerst drie vragen."
    await harness.say("cem", "/vergeetmij", private=True)
    await harness.press("cem", "Ja, verwijder alles", on="privacy")
    assert "verwijderd" in harness.recorder.sent[-1].text and harness.recorder.sent[-1].to == "dm:cem"
    assert await rows(harness, Member, Member.user_id == "cem") == []
    (idea,) = await rows(harness, LogEntry)
    assert (idea.text, idea.author_id) == ("—", None)
    (answer,) = await rows(harness, Answer)
    assert (answer.text, answer.member_id) == ("", None)


async def test_erasure_can_be_cancelled_and_works_with_ja(harness: Harness) -> None:
    await harness.say("cem", "/vergeetmij", private=True)
    await harness.press("cem", "Nee, toch niet", on="privacy")
    assert "verwijder niets" in texts(harness)[-1] and await rows(harness, Member, Member.user_id == "cem")
    await harness.say("dewi", "/vergeetmij ja", private=True)
    assert await rows(harness, Member, Member.user_id == "dewi") == []


@pytest.mark.parametrize("lang, line, answer", [
    ("nl", "/vergeetmij nee", "Goed, ik verwijder niets."),
    ("nl", "/vergeetmij n", "Goed, ik verwijder niets."),
    ("en", "/forgetme no", "All right, I won't remove anything."),
])
async def test_erasure_answered_with_no_removes_nothing_and_asks_nothing(harness: Harness, lang: str, line: str,
                                                                          answer: str) -> None:
    if lang == "en":
        await command(harness, "anna", "/netwerk taal en")
    await harness.say("cem", line, private=True)
    (reply,) = sent(harness, "privacy", to="dm:cem")
    assert texts(harness, "privacy")[-1] == answer and not reply.buttons  # no "are you sure?", no button
    assert await rows(harness, Member, Member.user_id == "cem")


@pytest.mark.parametrize("lang, yes, no, said_yes, said_no", [
    ("nl", "/privacy citeren ja", "/privacy citeren nee",
     "🔒 Genoteerd: ik mag je antwoorden citeren in de oogst en in verslagen, altijd zonder je naam. "
     "Wil je dat toch niet meer? Typ /privacy citeren nee.",
     "🔒 Genoteerd: ik citeer je antwoorden niet. Ze tellen alleen mee in de aantallen. "
     "Vind je citeren zonder naam later toch goed? Typ /privacy citeren ja."),
    ("en", "/privacy quote yes", "/privacy quote no",
     "🔒 Noted: I may quote your answers in harvests and reports, always without your name. "
     "Changed your mind? Type /privacy quote no.",
     "🔒 Noted: I won't quote your answers. They only count in the numbers. "
     "If quoting without your name is fine with you later, type /privacy quote yes."),
])
async def test_quote_consent_is_confirmed_in_whole_sentences(harness: Harness, lang: str, yes: str, no: str,
                                                             said_yes: str, said_no: str) -> None:
    if lang == "en":
        await command(harness, "anna", "/netwerk taal en")
    (reply,) = await command(harness, "els", yes)
    assert (reply.kind, reply.visible_to, texts(harness)[-1]) == ("status", "els", said_yes)
    assert (await member(harness, "els")).quote_consent
    (reply,) = await command(harness, "els", no)
    assert texts(harness)[-1] == said_no
    assert not (await member(harness, "els")).quote_consent


@pytest.mark.parametrize("lang, heading, count_line", [
    ("nl", "Je laatste 2 antwoorden op de weekvraag:", "• antwoorden op de weekvraag: 2"),
    ("en", "Your latest 2 answers to the weekly question:", "• answers to the weekly question: 2"),
])
async def test_export_puts_the_latest_answers_under_their_own_heading(harness: Harness, lang: str, heading: str,
                                                                      count_line: str) -> None:
    if lang == "en":
        await command(harness, "anna", "/netwerk taal en")
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("cem", "Eerst luisteren.", reply_to="nudge")
    await harness.advance(local(2026, 1, 13, 10, 0))
    await harness.say("cem", "Samen met school bellen.", reply_to="nudge")
    await harness.say("cem", "/mijngegevens", private=True)
    lines = texts(harness, "privacy", to="dm:cem")[-1].splitlines()
    assert count_line in lines and "hieronder" not in lines[lines.index(count_line)] and "below" not in count_line
    at = lines.index(heading)
    assert at > max(i for i, line in enumerate(lines) if line.startswith("• "))  # after every count
    assert lines[at + 1:at + 3] == ["  – Eerst luisteren.", "  – Samen met school bellen."]


async def test_export_without_answers_has_no_answer_heading(harness: Harness) -> None:
    await harness.say("cem", "/mijngegevens", private=True)
    export = texts(harness, "privacy", to="dm:cem")[-1]
    assert "• antwoorden op de weekvraag: 0" in export and "laatste" not in export


# ---------------------------------------------------------------------------- retention
async def test_answers_older_than_the_retention_period_are_removed(harness: Harness) -> None:
    await command(harness, "anna", "/privacy bewaartermijn 1")
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("cem", "Een oud antwoord.", reply_to="nudge")
    await harness.advance(local(2026, 2, 3, 10, 0))
    await harness.say("cem", "Een nieuw antwoord.", reply_to="nudge")
    await harness.advance(local(2026, 2, 6, 4, 0))
    assert [a.text for a in await rows(harness, Answer)] == ["Een nieuw antwoord."]
    async with harness.db.transaction() as s:
        oldest = await s.scalar(select(OutboxMessage.created_at).order_by(OutboxMessage.created_at).limit(1))
    assert oldest >= local(2026, 2, 6, 4, 0) - timedelta(days=30)


async def test_a_private_message_that_waits_for_ever_and_a_held_post_expire_too(harness: Harness) -> None:
    """A private message to someone who never opens a private chat with the bot (an export, with
    its file) and a post that never rode along are removed after the retention period as well."""
    from bot.models import HeldPost

    await command(harness, "anna", "/privacy bewaartermijn 1")
    cem = await member(harness, "cem")
    old, new = harness.clock.now() - timedelta(days=40), harness.clock.now()
    async with harness.db.transaction() as s:
        for made in (old, new):
            s.add(OutboxMessage(network_id=cem.network_id, platform="console", chat_id=None, user_id="cem",
                                member_id=cem.id, kind="privacy", text="Je gegevens: Zwanenburg", state="waiting",
                                files=[{"name": "x.json", "mime": "application/json", "data": "e30="}],
                                created_at=made))
            s.add(HeldPost(network_id=cem.network_id, member_id=cem.id, kind="milestone", text="Welkom Cem Yilmaz",
                           created_at=made))
    await harness.advance(local(2026, 1, 6, 4, 0))  # the first night's run, before any post it could ride along with
    assert [r.created_at for r in await rows(harness, OutboxMessage, OutboxMessage.state == "waiting")] == [new]
    assert [r.created_at for r in await rows(harness, HeldPost)] == [new]


async def test_pauses_older_than_the_retention_period_are_removed(harness: Harness) -> None:
    await command(harness, "anna", "/privacy bewaartermijn 1")
    await command(harness, "cem", "/pauze 1w")  # ends 12 January
    await harness.advance(local(2026, 1, 20, 12, 0))
    await command(harness, "cem", "/pauze 1w")  # ends 27 January
    await harness.advance(local(2026, 2, 3, 12, 0))
    await command(harness, "cem", "/pauze 1w")  # ends 10 February, the latest
    await command(harness, "dewi", "/pauze 3d")  # ends 6 February, her only one
    await harness.advance(local(2026, 2, 12, 4, 0))  # the first pause is 31 days over: gone
    cem = await member(harness, "cem")
    assert [datetime.fromisoformat(b) for _, b in cem.earlier_pauses] == [local(2026, 1, 27, 12, 0)]
    assert cem.paused_until == local(2026, 2, 10, 12, 0)
    await harness.advance(local(2026, 3, 10, 4, 0))  # 30 days after 6 February: Dewi's goes
    dewi, cem = await member(harness, "dewi"), await member(harness, "cem")
    assert (dewi.paused_from, dewi.paused_until, dewi.earlier_pauses) == (None, None, None)
    assert (cem.paused_until, cem.earlier_pauses) == (local(2026, 2, 10, 12, 0), None)
    await harness.advance(local(2026, 3, 13, 4, 0))  # and the last of Cem's
    cem = await member(harness, "cem")
    assert (cem.paused_from, cem.paused_until, cem.earlier_pauses) == (None, None, None)


async def retention_jobs(harness: Harness) -> list[tuple[str, datetime]]:
    async with harness.db.transaction() as s:
        return [tuple(row) for row in await s.execute(
            select(Job.state, Job.due_at).where(Job.kind == "retention").order_by(Job.due_at))]


async def test_retention_runs_only_on_nights_when_something_can_be_old_enough(harness: Harness) -> None:
    # the first night's run finds nothing older than 12 months: the next is the night after the
    # oldest row it may remove (the welcome message) turns 12 months (of 30 days) old, not every night
    await harness.advance(local(2026, 4, 30, 12, 0))
    async with harness.db.transaction() as s:
        oldest = await s.scalar(select(OutboxMessage.created_at).order_by(OutboxMessage.created_at).limit(1))
    due = oldest + timedelta(days=360)
    night = local(due.year, due.month, due.day, 3, 0)
    night = night if night > due else night + timedelta(days=1)
    assert await retention_jobs(harness) == [("done", local(2026, 1, 6, 3, 0)), ("pending", night)]
    # a shorter period: the next run is tomorrow night again, and it removes what is now too old
    await command(harness, "anna", "/privacy bewaartermijn 1")
    assert (await retention_jobs(harness))[1:] == [("pending", local(2026, 5, 1, 3, 0))]
    await harness.advance(local(2026, 5, 1, 4, 0))
    async with harness.db.transaction() as s:
        oldest = await s.scalar(select(OutboxMessage.created_at).order_by(OutboxMessage.created_at).limit(1))
    assert oldest >= local(2026, 5, 1, 3, 0) - timedelta(days=30)
    assert [state for state, _ in await retention_jobs(harness)] == ["done", "done", "pending"]


# ---------------------------------------------------------------------------- role matrix
ROLES = {"trekker": "anna", "procesbegeleider": "bram", "deelnemer": "cem"}
GATED = [
    ("/rol Dewi procesbegeleider", {"trekker"}),
    ("/netwerk naam Nieuw", {"trekker"}),
    ("/perspectief Dewi onderwijs", {"trekker"}),
    ("/bijeenkomst 2026-02-19 14:00 Buurthuis", {"trekker"}),
    ("/ritme reflectie do 09:30", {"trekker", "procesbegeleider"}),
    ("/ritme vieren do 16:00", {"trekker", "procesbegeleider"}),
    ("/vraag toevoegen Wat heb je deze week geleerd?", {"trekker", "procesbegeleider"}),
    ("/thema Eerder signaleren", {"trekker", "procesbegeleider"}),
    ("/leerdoel groep Beter luisteren", {"trekker", "procesbegeleider"}),
    ("/actieleren", {"trekker", "procesbegeleider"}),
    ("/mededeling De zaal is veranderd.", {"trekker"}),
    ("/besluit we starten in maart", {"trekker"}),
    ("/penvoerder Dewi", {"trekker"}),
    ("/ambitie Samen één aanpak", {"trekker"}),
    ("/privacy bewaartermijn 6", {"trekker"}),
    ("/status", {"trekker", "procesbegeleider", "deelnemer"}),
    ("/vier een goed gesprek", {"trekker", "procesbegeleider", "deelnemer"}),
    ("/idee een ouderpanel", {"trekker", "procesbegeleider", "deelnemer"}),
]


@pytest.mark.parametrize("line, allowed", GATED, ids=[g[0].split()[0] + " " + "/".join(sorted(g[1])) for g in GATED])
@pytest.mark.parametrize("role", list(ROLES))
async def test_role_matrix(harness: Harness, line: str, allowed: set[str], role: str) -> None:
    replies = await command(harness, ROLES[role], line)
    refused = [s for s in replies if s.kind == "error"]
    if role in allowed:
        assert refused == [], texts(harness)[-1]
    else:
        only_error_for(replies, ROLES[role])


# ---------------------------------------------------------------------------- fuzzing
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=300))
async def test_any_text_gets_no_crash_and_commands_get_an_answer(harness: Harness, line: str) -> None:
    for candidate in (line, "/" + line.lstrip("/"), "/mededeling om " + line, "/idee " + line):
        before = len(harness.recorder.sent)
        await harness.say("anna", candidate)
        new = harness.recorder.sent[before:]
        assert not any(s.kind == "error" and "ging bij mij iets mis" in s.text for s in new), candidate
        if split_command(clean_text(candidate)) is not None:  # every command (as the core gets it) is answered
            assert new, candidate


# ---------------------------------------------------------------------------- logs
async def test_logs_never_contain_message_text(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("cem", "Vertrouwelijk verhaal over familie Zwanenburg.", reply_to="nudge")
    await harness.say("cem", "/onbekendcommando Zwanenburg")
    await harness.say("cem", "/idee " + "Zwanenburg " * 500)
    await harness.advance(local(2026, 1, 13, 12, 0))
    # every logger at DEBUG (as an administrator might set it): none may carry message text
    leaks = [(r.name, r.getMessage()[:80]) for r in caplog.records if "Zwanenburg" in r.getMessage()]
    assert leaks == []


# ---------------------------------------------------------------------------- erasure of someone who did everything
DEWI_WORDS = ("Kraaiennest", "schuldhulpmaatje", "Lindeboomschool", "Ouderkamer", "Voorleesontbijt", "Wijkteamtafel",
              "zelfvertrouwenplan")


async def dewi_does_everything(database_url: str) -> Harness:
    """Dewi, in two linked chats (Teams as ``dewi-teams``, Telegram as ``dewi``), answers, pauses
    twice, brings input, has an idea, an action, a celebration, a reflection and a learning goal,
    reads an announcement, asks for link codes and gets private messages."""
    from bot.models import Reflection
    from tests.test_link import ask_code, link_buurt, two_networks

    h = await two_networks(database_url)
    await link_buurt(h)
    h.names["dewi-teams"] = "Dewi Santoso"
    h.member_chats["dewi-teams"] = ["teams"]
    await h.say("dewi-teams", "hallo")
    code = await ask_code(h, "dewi-teams", "/ikben")
    await h.say("dewi", f"/ikben {code}", chat="buurt", private=True)
    await h.say("dewi-teams", "/ikben", private=True)  # a second code, never used
    await h.advance(local(2026, 1, 6, 10, 1))
    await h.say("dewi", f"Bij het {DEWI_WORDS[0]} zag ik het eerst.", chat="buurt", reply_to="nudge")
    await h.say("dewi-teams", "/pauze 1w")
    await h.advance(local(2026, 1, 14, 12, 0))
    await h.say("dewi-teams", "/pauze 1w")
    await h.say("dewi-teams", "/pauze uit")
    await h.say("anna", "/bijeenkomst 2026-01-29 14:00-16:00 Buurthuis")
    await h.say("dewi-teams", f"/inbreng Een {DEWI_WORDS[1]} voor een gezin", private=True)
    await h.say("dewi-teams", f"/idee een spreekuur op de {DEWI_WORDS[2]}")
    await h.say("dewi-teams", f"/actie Dewi opent de {DEWI_WORDS[3]} voor 2026-02-17")
    await h.say("dewi-teams", f"/vier het {DEWI_WORDS[4]} liep vol")
    await h.say("dewi-teams", f"/leerdoel eerst luisteren aan de {DEWI_WORDS[5]}")
    await h.say("anna", "/mededeling Koffie staat klaar.")
    await h.say("dewi-teams", "/gelezen 1")
    await h.say("dewi-teams", "/status", private=True)
    async with h.db.transaction() as s:
        (dewi,) = await s.scalars(select(Member).where(Member.name == "Dewi Santoso"))
        s.add(Reflection(network_id=dewi.network_id, member_id=dewi.id, kind="goal",
                         text=f"Mijn {DEWI_WORDS[6]} werkt", created_at=h.clock.now()))
    return h


async def cells_holding(h: Harness, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Every table and column (of any type, read as text) whose value holds one of ``needles``."""
    from sqlalchemy import String, cast, or_

    from bot.models import Base

    found: dict[str, list[str]] = {}
    async with h.db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                hit = await s.scalar(select(func.count()).select_from(table).where(
                    or_(*(cast(column, String).contains(n) for n in needles))))
                if hit:
                    found.setdefault(table.name, []).append(column.name)
    return found


async def test_erasing_someone_who_did_everything_leaves_them_in_no_column_of_any_table(database_url: str) -> None:
    from bot.models import (
        Action,
        AnnouncementRead,
        ChatPresence,
        LinkCode,
        MemberIdentity,
        Reflection,
    )

    h = await dewi_does_everything(database_url)
    try:
        needles = ("dewi", "Dewi", "Santoso", *DEWI_WORDS)
        before = await cells_holding(h, needles)
        assert {"members", "member_identities", "chat_presence", "answers", "meeting_inputs", "log_entries",
                "actions", "celebrations", "reflections", "outbox"} <= set(before), before
        (dewi,) = await rows(h, Member, Member.name == "Dewi Santoso")
        assert dewi.earlier_pauses and await rows(h, AnnouncementRead) and await rows(h, LinkCode)
        assert len(await rows(h, LinkCode, LinkCode.member_id == dewi.id)) == 2
        await h.say("dewi-teams", "/mijngegevens", private=True)  # first, all of it is in her export
        data = json.loads(sent(h, "privacy", to="dm:dewi-teams")[-1].files[0][2])
        assert [a["platform_user_id"] for a in data["profile"]["linked_accounts"]] == ["dewi"]
        assert len(data["profile"]["earlier_pauses"]) == 1 and len(data["chats"]) == 2
        assert len(data["link_codes"]) == 2 and [a["nr"] for a in data["announcements_read"]] == [1]
        assert [len(data[k]) for k in ("answers", "session_input", "ideas_and_decisions", "actions", "celebrations",
                                       "reflections")] == [1, 1, 1, 1, 1, 1]
        await h.say("dewi-teams", "/vergeetmij ja", private=True)
        assert "verwijderd" in h.recorder.sent[-1].text
        assert await cells_holding(h, needles) == {}
        for model in (MemberIdentity, AnnouncementRead, ChatPresence, Reflection):
            assert [r for r in await rows(h, model) if getattr(r, "member_id", None) == dewi.id
                    or getattr(r, "user_id", None) in ("dewi", "dewi-teams")] == []
        assert await rows(h, LinkCode, LinkCode.member_id == dewi.id) == []
        assert [a.owner_id for a in await rows(h, Action)] == [None]
    finally:
        await h.close()
    if database_url.startswith("sqlite"):  # nor in the file's free pages or its write-ahead log
        path = Path(database_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert [w for w in ("Santoso", *DEWI_WORDS) if w.encode() in raw] == []
