"""The Matrix adapter's pure parts: rendering (commands as ``!``, escaping, choices, splitting) and
reading what members typed (commands, replies, threads, reactions), and which room is a
direct room the bot opened."""

from adapters.matrix import render, translate
from bot import i18n
from bot.events import Button
from bot.markup import command, escape


def test_command_spans_are_rendered_as_a_member_types_them_in_element():
    text = i18n.t("nl", "network.welcome", name="Netwerk")
    (part,) = render.render_parts(text)
    assert "Typ !help om" in part.body and "<code>!help</code>" in part.html and "/help" not in part.body
    (part,) = render.render_parts("Pauze? " + command("pauze 2w"))
    assert part.body == "Pauze? !pauze 2w"


def test_user_text_is_escaped_and_never_mentions():
    (part,) = render.render_parts("*Viering:* " + escape('@room <a href="x">hoi</a> & *niet vet*'))
    content = part.content()
    assert content["m.mentions"] == {} and content["format"] == "org.matrix.custom.html"
    assert "<strong>Viering:</strong>" in part.html and "&lt;a href" in part.html and "&amp;" in part.html
    assert "@room" not in part.body and "*niet vet*" in part.body and "<strong>niet" not in part.html


def test_choices_are_numbered_on_the_last_part_with_their_actions():
    buttons = (Button("Gelezen", "ann:read:3"), Button("Later", "ann:later:3"))
    parts = render.render_parts("\n".join("regel " * 200 for _ in range(20)), buttons)
    assert len(parts) > 1 and all(len(p.body) <= render.PART_LIMIT for p in parts)
    assert parts[-1].body.endswith("1\ufe0f\u20e3 Gelezen\n2\ufe0f\u20e3 Later")
    assert parts[-1].content()[render.CHOICES_KEY] == ["ann:read:3", "ann:later:3"]
    assert all(render.CHOICES_KEY not in p.content() for p in parts[:-1])
    assert render.choice_index("2\ufe0f\u20e3") == 1 and render.choice_index("2\u20e3") == 1
    assert render.choice_index("👍") is None


def test_a_very_long_line_is_cut_within_the_byte_limit():
    parts = render.render_parts("&" * 30_000)
    assert all(len((p.body + p.html).encode()) <= render.BYTE_LIMIT for p in parts)
    assert "".join(p.body for p in parts) == "&" * 30_000


def test_what_a_member_typed_reaches_the_core_in_its_form():
    names = frozenset({"pauze", "status", "help"})
    assert translate.core_text("!pauze 2w", names) == "/pauze 2w"
    assert translate.core_text("!Status", names) == "/status"
    assert translate.core_text("!belangrijk: morgen geen sessie", names) == "!belangrijk: morgen geen sessie"
    assert translate.core_text("!!!", names) == "!!!"
    assert translate.core_text("> <@bot:x> Wat ging goed?\n> tweede regel\n\nHet overleg.", names) == "Het overleg."


def test_answers_are_recognised_by_reply_or_thread():
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                               "m.in_reply_to": {"event_id": "$other"}}}
    assert translate.answer_target(thread) == "$root"
    assert translate.answer_target({"m.relates_to": {"m.in_reply_to": {"event_id": "$nudge"}}}) == "$nudge"
    assert translate.answer_target({"body": "x"}) is None
    assert translate.is_edit({"m.relates_to": {"rel_type": "m.replace", "event_id": "$a"}})
    assert translate.annotation({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$m", "key": "1️⃣"}}) \
        == ("$m", "1️⃣")


def test_invites_from_other_servers_are_not_allowed_by_default():
    servers = frozenset({"example.org"})
    assert translate.allowed("@anna:example.org", servers) and not translate.allowed("@eve:evil.test", servers)
    assert translate.allowed("@eve:evil.test", frozenset({"*"}))


def test_only_a_room_the_bot_opened_for_the_member_is_its_direct_room():
    bot, dewi, cem = "@bot:x", "@dewi:x", "@cem:x"

    def state(creator: str, **members: dict) -> list[dict]:  # GET /rooms/{id}/state
        return [{"type": "m.room.create", "state_key": "", "sender": creator, "content": {"room_version": "10"}},
                *({"type": "m.room.member", "state_key": who, "sender": creator, "content": content}
                  for who, content in members.items())]

    joined, direct = {"membership": "join"}, {"membership": "invite", "is_direct": True}
    assert translate.opened_for(state(bot, **{bot: joined, dewi: direct}), bot, dewi)
    assert translate.opened_for(state(bot, **{bot: joined, dewi: joined}), bot, dewi)  # she accepted it
    assert not translate.opened_for(state(bot, **{bot: joined, dewi: direct, cem: direct}), bot, dewi)
    assert not translate.opened_for(state(bot, **{bot: joined, dewi: {"membership": "invite"}}), bot, dewi)
    assert not translate.opened_for(state(dewi, **{dewi: joined, bot: joined}), bot, dewi)  # her room
    assert not translate.opened_for(state(bot, **{bot: joined, dewi: {"membership": "leave"}}), bot, dewi)
    assert translate.opened_for(state(bot, **{bot: joined, dewi: direct, cem: {"membership": "leave"}}), bot, dewi)


def test_a_room_upgrade_is_read_from_the_tombstone_and_the_create_event():
    assert translate.replacement({"body": "This room has been replaced", "replacement_room": "!new"}) == "!new"
    assert translate.replacement({"replacement_room": "#alias:x"}) is None and translate.replacement({}) is None
    assert translate.predecessor({"room_version": "11", "predecessor": {"room_id": "!old", "event_id": "$t"}}) \
        == "!old"
    assert translate.predecessor({"predecessor": {"room_id": "!old"}}) == "!old"  # room version 12: no event id
    assert translate.predecessor({"predecessor": "!old"}) is None and translate.predecessor({}) is None


def test_an_edit_names_its_message_and_holds_the_new_text() -> None:
    new = {"msgtype": "m.text", "body": "Een bewoner belde"}
    edit = {"msgtype": "m.text", "body": "* Een bewoner belde", "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}
    assert translate.replaced(edit) == ("$orig", "Een bewoner belde")  # not the "* " fallback
    assert translate.replaced({**edit, "m.new_content": {"msgtype": "m.image", "body": "x.png"}}) is None
    assert translate.replaced({"msgtype": "m.text", "body": "gewoon"}) is None
    assert translate.replaced({k: v for k, v in edit.items() if k != "m.new_content"}) is None


def test_a_redaction_names_its_message_in_every_room_version() -> None:
    v11 = {"type": "m.room.redaction", "content": {"redacts": "$orig"}}
    older = {"type": "m.room.redaction", "redacts": "$orig", "content": {}}
    assert translate.redacted(v11) == translate.redacted(older) == "$orig"
    assert translate.redacted({"type": "m.room.redaction", "content": {"redacts": 5}}) is None
