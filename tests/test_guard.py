"""The step-2 guard: open questions vs closed questions, advice dressed as questions and statements."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.guard import Label, classify

CORPUS = Path(__file__).with_name("guard_corpus.yaml")
MIN_ACCURACY = 0.90


def load_corpus() -> list[dict]:
    entries = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    return entries


def test_corpus_is_well_formed():
    entries = load_corpus()
    assert all(set(e) == {"text", "label", "lang"} for e in entries)
    assert all(e["label"] in {label.value for label in Label} for e in entries)
    assert all(e["lang"] in {"nl", "en"} for e in entries)
    texts = [e["text"] for e in entries]
    assert len(texts) == len(set(texts)), "duplicate sentences in the corpus"
    langs = Counter(e["lang"] for e in entries)
    labels = Counter(e["label"] for e in entries)
    assert len(entries) >= 100 and langs["nl"] >= 70 and langs["en"] >= 30
    assert all(labels[label.value] >= 15 for label in Label)


def test_corpus_accuracy():
    entries = load_corpus()
    right, total, misses = Counter(), Counter(), []
    for entry in entries:
        got = classify(entry["text"]).value
        total[entry["label"]] += 1
        total[entry["lang"]] += 1
        if got == entry["label"]:
            right[entry["label"]] += 1
            right[entry["lang"]] += 1
        else:
            misses.append((entry["text"], entry["label"], got))
    accuracy = sum(right[label.value] for label in Label) / len(entries)
    print(f"\nguard corpus: {len(entries)} sentences, accuracy {accuracy:.3f}")
    for key in [label.value for label in Label] + ["nl", "en"]:
        print(f"  {key:16} {right[key]:3}/{total[key]:3} = {right[key] / total[key]:.3f}")
    for text, expected, got in misses:
        print(f"  MISS {text!r}: expected {expected}, got {got}")
    assert accuracy >= MIN_ACCURACY


CLEAR_CASES = {
    Label.OPEN: [
        "Wat maakt deze situatie voor jou zo lastig?",
        "Hoe reageerde de jongen toen je dat zei?",
        "Wie zijn er betrokken bij het gezin?",
        "Welke rol speelt de school?",
        "Waardoor is het contact verslechterd?",
        "Waarom is dit voor jou zo belangrijk?",
        "Kun je iets vertellen over de buurt?",
        "Vertel eens hoe het eerste gesprek ging",
        "wat heb je zelf al geprobeerd",
        "What makes this so hard for you?",
        "Could you describe a normal day for her?",
        "Tell me more about the mother",
    ],
    Label.CLOSED: [
        "Is de moeder op de hoogte?",
        "Heeft de vader werk?",
        "Ben je zelf ook bezorgd?",
        "Woont mevrouw alleen?",
        "Zijn er nog andere hulpverleners betrokken?",
        "Weet de school ervan",
        "Klopt het dat de huur niet betaald is?",
        "Denk je dat ze hulp wil?",
        "Is the mother aware of the debts?",
        "Do the children know?",
        "Did the police get involved",
        "Are there other professionals involved?",
    ],
    Label.ADVICE_QUESTION: [
        "Heb je al met de school gebeld?",
        "Heb je al geprobeerd de schuldhulp in te schakelen?",
        "Waarom bel je niet gewoon de huisarts?",
        "Zou je niet eerst met de vader praten?",
        "Kun je niet gewoon een huisbezoek doen?",
        "Moet je niet eerst Veilig Thuis bellen?",
        "Wat als je het gezin zelf laat kiezen?",
        "Is het geen idee om de buurvrouw te vragen?",
        "Have you tried the food bank?",
        "Why don't you call the GP?",
        "Shouldn't you report this?",
        "What if you let the family decide?",
    ],
    Label.STATEMENT: [
        "Je moet gewoon de huisarts bellen.",
        "Ik zou de school inschakelen.",
        "Bel de huisarts.",
        "Dat klinkt heftig.",
        "Bedankt voor het delen!",
        "Wat een lastige situatie.",
        "Volgens mij moet je dit melden.",
        "Ik zou het melden. Wat vind jij?",
        "I would call the school.",
        "You should report this.",
        "Just call the GP.",
        "Thanks for sharing 🙏",
    ],
}


@pytest.mark.parametrize(
    "text, expected",
    [(text, label) for label, texts in CLEAR_CASES.items() for text in texts],
)
def test_clear_cases(text, expected):
    assert classify(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "?",
        "...",
        "🙂🙂👍",
        "😀" * 500,
        "\u200f\u202eمرحبا كيف حالك",
        "שלום, מה שלומך",
        "\u202eWat maakt het lastig?\u202c",
        "\x00\x01 bel de huisarts",
        "a" * 10_000,
        "Wat maakt het lastig? " * 500,
        ("heb je al " * 1000)[:10_000],
        ("waarom " + "x " * 5000 + "niet"),
    ],
)
def test_never_raises(text):
    assert isinstance(classify(text), Label)


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂👍", "...", "مرحبا كيف حالك", "שלום", "a" * 10_000])
def test_non_questions_are_statements(text):
    assert classify(text) is Label.STATEMENT


def test_long_input_is_fast():
    texts = ["a " * 5_000, "Heb je al " * 1_000, "waarom " + "x " * 5_000 + "niet?", "je, " * 2_500]
    start = time.perf_counter()
    for text in texts:
        classify(text)
    assert time.perf_counter() - start < 1.0


def test_not_a_str_is_tolerated():
    assert classify(None) is Label.STATEMENT  # type: ignore[arg-type]
