from hypothesis import given
from hypothesis import strategies as st

from bot.markup import WORD_JOINER, Span, escape, plain, spans


def test_spans():
    assert spans("a *b* _c_ `d*`") == [Span("a "), Span("b", bold=True), Span(" "), Span("c", italic=True),
                                       Span(" "), Span("d*", code=True)]
    assert plain("2 * 3 = 6_") == "2 * 3 = 6_"  # unbalanced markers stay text


def test_escape_neutralises_markup_mentions_and_direction():
    text = escape("*vet* _x_ `y` @channel \u202eabc")
    assert [s for s in spans(text) if s.bold or s.italic or s.code] == []
    assert "@" + WORD_JOINER + "channel" in plain(text)
    assert "\u202e" not in text


@given(st.text())
def test_escaped_text_is_always_plain_and_round_trips(value):
    escaped = escape(value)
    assert all(not (s.bold or s.italic or s.code) for s in spans(escaped))
    expected = "".join(ch for ch in value if ch not in "\u202e\u202d\u2066\u2067\u2068\u2069").replace("@", "@" + WORD_JOINER)
    assert plain(escaped) == expected


@given(st.text().filter(lambda s: "\n" not in s), st.text())
def test_user_text_inside_core_markup_stays_inside(a, b):
    # core markers close on the same line; user text with a newline simply shows no bold
    text = "*" + escape(a) + "* " + escape(b)
    bold = [s for s in spans(text) if s.bold]
    rest = [s for s in spans(text) if not s.bold]
    if a:
        assert "".join(s.text for s in bold) == plain(escape(a))
    assert all(not (s.italic or s.code) for s in rest)
