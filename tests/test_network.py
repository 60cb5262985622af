"""Network set-up, roles, perspectives, sessions, /status and bad input — through the real core."""

from datetime import timedelta

from sqlalchemy import func, select

from adapters.console.harness import Harness
from bot.events import BotAdded, ChatRef, MemberJoined, MessageIn, Person
from bot.models import Chat, Meeting, Member, Network
from tests.conftest import local, texts


async def members(h: Harness) -> dict[str, Member]:
    async with h.db.transaction() as s:
        return {m.user_id: m for m in await s.scalars(select(Member))}


async def meetings(h: Harness) -> list[Meeting]:
    async with h.db.transaction() as s:
        return list(await s.scalars(select(Meeting).order_by(Meeting.id)))


async def network(h: Harness) -> Network:
    async with h.db.transaction() as s:
        return await s.scalar(select(Network))


def last(h: Harness):
    return h.recorder.sent[-1]


async def test_help_lists_commands_for_the_asker_only(harness):
    await harness.say("cem", "/help")
    sent = last(harness)
    assert sent.kind == "help" and sent.to == "group" and sent.visible_to == "cem"
    for command in ("/status", "/bijeenkomst", "/rol", "/ritme", "/pauze"):
        assert command in sent.text
    assert "niet voor jouw rol" in sent.text  # /rol is marked for a deelnemer
    await harness.say("cem", "/help bijeenkomst")
    assert "/bijeenkomst 2026-01-19 14:00-16:00" in last(harness).text


async def test_english_alias_and_botname_suffix(harness):
    await harness.say("anna", "/Status@bamboe_bot")
    assert last(harness).kind == "status"
    await harness.say("anna", "/session")
    assert last(harness).kind == "status"


async def test_role_change_is_the_trekkers(harness):
    await harness.say("cem", "/rol Dewi trekker")
    assert last(harness).kind == "error" and "trekker" in last(harness).text
    assert (await members(harness))["dewi"].role == "deelnemer"
    await harness.say("anna", "/rol Dewi procesbegeleider")
    assert last(harness).kind == "status" and last(harness).to == "group"
    assert (await members(harness))["dewi"].role == "procesbegeleider"
    await harness.say("anna", "/role Fleur Bakker lead")
    assert (await members(harness))["fleur"].role == "trekker"


async def test_a_procesbegeleider_gives_roles_only_while_there_is_no_trekker(harness):
    await harness.say("bram", "/rol Dewi procesbegeleider")
    assert last(harness).kind == "error"  # Anna is the trekker: the roles are hers to give
    assert (await members(harness))["dewi"].role == "deelnemer"
    harness.recorder.sent.clear()
    await harness.leave("anna")  # the last trekker left: nobody else could give the role again
    (told,) = harness.recorder.sent  # only the procesbegeleider hears, privately
    assert told.to == "dm:bram" and told.kind == "status"
    assert "Anna de Vries is niet meer in het netwerk" in told.text and "/rol Bram Peters trekker" in told.text
    await harness.say("bram", "/rol Bram trekker")
    assert last(harness).kind == "status" and last(harness).to == "group"
    assert (await members(harness))["bram"].role == "trekker"
    await harness.say("cem", "/rol Cem trekker")
    assert last(harness).kind == "error" and (await members(harness))["cem"].role == "deelnemer"


async def test_role_errors_say_how(harness):
    await harness.say("anna", "/rol Dewi baas")
    assert last(harness).kind == "error" and "procesbegeleider" in last(harness).text
    await harness.say("anna", "/rol Zoltan deelnemer")
    assert last(harness).kind == "error" and "Zoltan" in last(harness).text
    await harness.say("anna", "/rol")
    assert last(harness).kind == "error" and "/rol Bram procesbegeleider" in last(harness).text


async def test_last_trekker_cannot_step_down(harness):
    await harness.say("anna", "/rol Anna deelnemer")
    assert last(harness).kind == "error"
    assert (await members(harness))["anna"].role == "trekker"


async def test_perspective_own_and_by_trekker(harness):
    await harness.say("fleur", "/perspectief gezin")
    assert (await members(harness))["fleur"].perspective == "gezin"
    await harness.say("cem", "/perspectief Fleur onderzoek")
    assert last(harness).kind == "error"
    assert (await members(harness))["fleur"].perspective == "gezin"
    await harness.say("anna", "/perspective Fleur research")
    assert (await members(harness))["fleur"].perspective == "onderzoek"
    await harness.say("fleur", "/perspectief astronaut")
    assert last(harness).kind == "error" and "beleid" in last(harness).text


async def test_a_member_named_without_a_perspective_hears_what_is_missing(harness):
    """``/perspectief Dewi`` answered 'Het perspectief "Dewi" ken ik niet': the name is understood now,
    and the answer says the perspective is missing after it, with an example and the choices."""
    options = "Kies uit: beleid, onderwijs, professionals, onderzoek, gezinnen/inwoners (of: geen)."
    for line in ("/perspectief Dewi", "/perspectief dewi santoso", "/perspectief @dewi"):
        await harness.say("anna", line)
        assert (last(harness).kind, last(harness).visible_to) == ("error", "anna"), line
        assert texts(harness)[-1] == ("Je noemde Dewi Santoso, maar nog geen perspectief. Zet het achter de naam, "
                                      f"bijvoorbeeld: /perspectief Dewi Santoso onderwijs. {options}"), line
    await harness.say("cem", "/perspectief Cem")  # one's own name: only the perspective is needed
    assert texts(harness)[-1] == ("Je noemde je eigen naam, maar nog geen perspectief. Typ alleen het perspectief, "
                                  f"bijvoorbeeld: /perspectief onderwijs. {options}")
    await harness.say("cem", "/perspectief Dewi")  # someone else's: that is for the trekker
    assert last(harness).kind == "error" and texts(harness)[-1].startswith("Dit mag alleen een trekker.")
    await harness.say("anna", "/perspectief Dew")  # the beginning of a name may be a misspelt perspective
    assert texts(harness)[-1] == f'Het perspectief "Dew" ken ik niet. {options}'
    await harness.say("anna", "/perspectief Dewi onderwjis")
    assert texts(harness)[-1] == f'Het perspectief "onderwjis" ken ik niet. {options}'
    assert {k: m.perspective for k, m in (await members(harness)).items()} == {
        "anna": "beleid", "bram": "onderzoek", "cem": "professional", "dewi": "onderwijs", "els": "gezin",
        "fleur": None}
    await harness.say("anna", "/perspectief")  # as before: how it works
    assert last(harness).kind == "error" and "De trekker doet het voor een ander" in texts(harness)[-1]
    await harness.say("anna", "/perspectief Dewi Santoso gezin")
    await harness.say("dewi", "/perspectief geen")
    assert texts(harness)[-1] == "Dewi Santoso heeft nu geen perspectief meer."  # not "is nu: (nog niet ingevuld)"
    await harness.say("cem", "/perspectief onderzoek")
    assert texts(harness)[-1] == "Het perspectief van Cem Yilmaz is nu: onderzoek."
    assert [(await members(harness))[k].perspective for k in ("dewi", "cem")] == [None, "onderzoek"]
    await harness.say("anna", "/netwerk taal en")
    await harness.say("anna", "/perspective Els")
    assert texts(harness)[-1] == (
        "You named Els Janssen, but no perspective yet. Put it after the name, for example: "
        "/perspective Els Janssen education. Choose from: policy, education, professionals, research, "
        "families/residents (or: none).")
    await harness.say("anna", "/perspective Els none")
    assert texts(harness)[-1] == "Els Janssen no longer has a perspective."


async def test_network_show_and_change(harness):
    await harness.say("cem", "/netwerk")
    assert "Samen leren over armoede." in last(harness).text
    await harness.say("cem", "/netwerk ambitie Iets anders")
    assert last(harness).kind == "error"
    await harness.say("anna", "/netwerk ambitie Twee wijken, één aanpak.")
    assert (await network(harness)).ambition == "Twee wijken, één aanpak."
    assert any("Twee wijken" in t for t in texts(harness, to="group"))
    await harness.say("anna", "/netwerk taal en")
    await harness.say("anna", "/network timezone Mars/Olympus")
    assert last(harness).kind == "error" and "time zone" in last(harness).text
    assert (await network(harness)).timezone == "Europe/Amsterdam"
    await harness.say("anna", "/network timezone Europe/London")
    assert (await network(harness)).timezone == "Europe/London"


async def test_plan_list_and_cancel_sessions(harness):
    await harness.say("anna", "/bijeenkomst 2026-01-19 14:00 Buurthuis De Linde")
    await harness.say("anna", "/bijeenkomst 16 februari 13:30-15:30 Gemeentehuis, zaal 2")
    rows = await meetings(harness)
    assert [(m.starts_at, m.ends_at, m.place) for m in rows] == [
        (local(2026, 1, 19, 14, 0), local(2026, 1, 19, 16, 0), "Buurthuis De Linde"),
        (local(2026, 2, 16, 13, 30), local(2026, 2, 16, 15, 30), "Gemeentehuis, zaal 2"),
    ]
    assert "ma 19 jan 2026 14:00-16:00, Buurthuis De Linde" in texts(harness, "session")[0]
    await harness.say("cem", "/bijeenkomst")
    assert "1. " in last(harness).text and "2. " in last(harness).text
    await harness.say("anna", f"/bijeenkomst annuleer {rows[0].id}")
    assert "gaat niet door" in last(harness).text
    assert [m.cancelled for m in await meetings(harness)] == [True, False]
    await harness.say("anna", "/status")
    assert "16 feb 2026 13:30" in last(harness).text


async def test_session_bad_input_stores_nothing(harness):
    for text, expected in [
        ("/bijeenkomst 2026-13-45 14:00 Ergens", "2026-13-45"),
        ("/bijeenkomst 2026-01-19 25:00 Ergens", "25:00"),
        ("/bijeenkomst 2026-01-19 16:00-14:00 Ergens", "eindtijd"),
        ("/bijeenkomst 2026-01-19 14:00", "plek"),
        ("/bijeenkomst 2025-12-01 14:00 Ergens", "voorbij"),
        ("/bijeenkomst annuleer 99", "99"),
    ]:
        await harness.say("anna", text)
        assert last(harness).kind == "error" and expected in last(harness).text, text
    await harness.say("cem", "/bijeenkomst 2026-01-19 14:00 Ergens")
    assert last(harness).kind == "error"
    assert await meetings(harness) == []


async def test_status_reports_size_perspectives_roles(harness):
    await harness.say("anna", "/status")
    text = last(harness).text
    assert "6 leden" in text and "Alle perspectieven" in text
    assert "Er is een trekker" in text and "Er is een procesbegeleider" in text
    await harness.leave("els")
    await harness.leave("bram")
    await harness.say("anna", "/status")
    text = last(harness).text
    assert "4 leden" in text and "klein" in text
    assert "gezinnen/inwoners" in text and "onderzoek" in text  # missing perspectives by name
    assert "nog geen procesbegeleider" in text


async def test_unknown_command_huge_and_strange_text(harness):
    before = len(harness.recorder.sent)
    await harness.say("cem", "/vergadering")
    assert last(harness).kind == "error" and "/help" in last(harness).text
    await harness.say("cem", "x" * 10_000)
    assert last(harness).kind == "hint" and "10000" in last(harness).text
    await harness.say("cem", "/perspectief 🌱🌱 \u202eטקסט")
    assert last(harness).kind == "error" and "\u202e" not in last(harness).text
    await harness.say("cem", "Gewoon een berichtje 👋 in de groep")
    assert len(harness.recorder.sent) == before + 3  # plain chat gets no answer


async def test_echoed_text_cannot_ping_or_format(harness):
    await harness.say("anna", "/netwerk naam <!channel> *@here* `x`")
    sent = [s for s in harness.recorder.sent if s.to == "group" and "naam" in s.text][-1]
    assert "@here" not in sent.text.replace("\\", "") or "@\u2060here" in sent.text
    assert "\\*" in sent.text and "\\`" in sent.text


async def test_chat_becomes_network_and_adder_becomes_trekker(harness):
    chat = ChatRef("sim", "new-group", "Netwerk Jeugd Venlo")
    await harness.core.handle(BotAdded(chat, Person("zoe", "Zoë")))
    await harness.core.handle(MemberJoined(chat, Person("yusuf", "Yusuf")))
    await harness.delivery.flush()
    async with harness.db.transaction() as s:
        net_id = await s.scalar(select(Chat.network_id).where(Chat.chat_id == "new-group"))
        net = await s.get(Network, net_id)
        roles = {m.user_id: m.role for m in await s.scalars(select(Member).where(Member.network_id == net_id))}
        planned = await s.scalar(select(func.count()).select_from(Network))
    assert net.name == "Netwerk Jeugd Venlo" and net.language == "nl" and net.timezone == "Europe/Amsterdam"
    assert (net.quiet_start, net.quiet_end, net.quiet_weekends) == ("22:00", "07:00", True)
    assert roles == {"zoe": "trekker", "yusuf": "deelnemer"}
    assert planned == 2
    assert any("Bamboe" in s.text for s in harness.recorder.sent if s.kind == "help")


async def test_first_command_user_leads_a_network_without_leads(harness):
    chat = ChatRef("sim", "other", "Ander netwerk")
    await harness.core.handle(MessageIn(chat, Person("yara", "Yara"), "/status"))
    async with harness.db.transaction() as s:
        role = await s.scalar(select(Member.role).where(Member.user_id == "yara"))
    assert role == "trekker"


async def test_private_message_without_network_gets_a_clear_answer(harness):
    await harness.core.handle(MessageIn(ChatRef("sim", "dm-x", "", private=True), Person("x", "X"), "/status"))
    await harness.delivery.flush()
    assert last(harness).kind == "error" and "netwerk" in last(harness).text
    await harness.say("cem", "/status", private=True)
    assert last(harness).to == "dm:cem" and last(harness).kind == "status"


async def test_quiet_member_left_does_not_count(harness):
    await harness.leave("fleur")
    await harness.advance(harness.clock.now() + timedelta(days=1))
    assert not (await members(harness))["fleur"].active


async def test_help_in_english_shows_english_command_names(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.say("cem", "/help")
    text = last(harness).text
    assert "/network:" in text and "/session:" in text and "/actionlearning:" in text and "/netwerk:" not in text


async def test_network_names_who_has_which_role_so_the_role_error_points_somewhere_real(harness):
    await harness.say("cem", "/rol Dewi trekker")
    assert last(harness).kind == "error" and "Met /netwerk zie je wie dat is." in texts(harness)[-1]
    await harness.say("cem", "/netwerk")
    lines = texts(harness)[-1].splitlines()
    assert "Trekker: Anna de Vries" in lines and "Procesbegeleider: Bram Peters" in lines
    await harness.say("anna", "/rol Fleur trekker")
    await harness.leave("bram")
    await harness.say("cem", "/netwerk")
    lines = texts(harness)[-1].splitlines()
    assert "Trekkers: Anna de Vries, Fleur Bakker" in lines
    assert "Procesbegeleider: nog niemand. De trekker kan iemand die rol geven, bijvoorbeeld: " \
           "/rol Bram procesbegeleider." in lines
    assert not any("Cem" in line or "Dewi" in line for line in lines)  # only the two roles, not the members


async def test_network_in_english_names_the_lead_and_facilitator(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.say("cem", "/role Dewi lead")
    assert last(harness).kind == "error" and "/network shows who that is." in texts(harness)[-1]
    await harness.say("cem", "/network")
    lines = texts(harness)[-1].splitlines()
    assert "Lead: Anna de Vries" in lines and "Facilitator: Bram Peters" in lines


async def test_language_switch_is_confirmed_in_the_new_language(harness):
    await harness.say("anna", "/netwerk taal en")
    assert (last(harness).kind, texts(harness)[-1]) == ("status", "Done: I now speak English in this network.")
    await harness.say("anna", "/network timezone Europe/London")
    assert texts(harness)[-1] == "Done: the time zone is now Europe/London. I use it for all times."
    await harness.say("anna", "/network language nl")
    assert texts(harness)[-1] == "Klaar: ik praat nu Nederlands in dit netwerk."
    await harness.say("anna", "/netwerk tijdzone Europe/Amsterdam")
    assert texts(harness)[-1] == "Klaar: de tijdzone is nu Europe/Amsterdam. Ik reken alle tijden daarmee."
    assert (await network(harness)).language == "nl"


def help_lines(h: Harness) -> dict[str, str]:
    """The last /help, command → the rest of its line."""
    lines = [line.removeprefix("• ") for line in texts(h)[-1].splitlines() if line.startswith("• ")]
    return dict(line.split(": ", 1) for line in lines)


async def test_help_marks_every_role_bound_command_once(harness):
    await harness.say("cem", "/help")
    lines = help_lines(harness)
    for name, roles in [("/rol", "trekker"), ("/mededeling", "trekker"),
                        ("/actieleren", "trekker, procesbegeleider"), ("/volgende", "trekker, procesbegeleider"),
                        ("/verder", "trekker, procesbegeleider"), ("/stop", "trekker, procesbegeleider"),
                        ("/rapport", "trekker, procesbegeleider")]:
        assert lines[name].endswith(f" ({roles}; niet voor jouw rol)"), lines[name]
    for name in ("/status", "/casus", "/vier", "/idee", "/besluit", "/koppel"):
        assert "niet voor jouw rol" not in lines[name], lines[name]
    assert all(line.count("(") <= 1 for line in lines.values()), lines  # never two brackets on one line
    await harness.say("bram", "/help")
    lines = help_lines(harness)
    assert lines["/volgende"].endswith(" (trekker, procesbegeleider)")
    assert lines["/rol"].endswith(" (trekker; niet voor jouw rol)")


async def test_help_in_english_marks_roles_with_english_names(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.say("cem", "/help")
    lines = help_lines(harness)
    assert lines["/next"] == "go to the round's next step (lead, facilitator; not for your role)"
    assert lines["/role"] == "give someone a role (lead; not for your role)"
    assert lines["/link"] == "this network's chats, also on another platform; a lead links them"
    assert lines["/decider"] == "who records decisions besides the lead (the decision-maker)"
    assert not any(word in line for line in lines.values() for word in ("trekker", "procesbegeleider", "penvoerder"))
