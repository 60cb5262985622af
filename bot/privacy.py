"""Spotting a citizen's personal data in what members write (standard library only).

Practice cases from the social domain belong in the chat anonymised ("een moeder uit de wijk").
When a message holds something that looks like personal data — a BSN (passing the 11-proef), a
Dutch phone number, an e-mail address, an IBAN (passing its mod-97 check) or a postcode with a
house number — the bot stores the message with that part masked and privately asks the author
to anonymise it. Checksums keep false alarms on ordinary numbers rare, and a date (with a time)
is never read as a phone number or a BSN.

Every pattern runs in linear time on any text (the screen sees every inbound message): each one
either has a bounded length or may only start where a run of its characters starts (a lookbehind
for the same class), so no start position re-scans what an earlier one scanned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("bsn", "phone", "email", "iban", "address")

# the lookbehind makes a local part start only where its run starts (else: quadratic on "____…")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", re.IGNORECASE)
# 06-12345678, 06 1234 5678, 06-12 34 56 78, +31 6 12345678, +31 (0)6 12345678, 0031612345678,
# 010-1234567, 020 123 4567, (010) 123 45 67; not followed by ":00" or ".00" (then it ends in a time),
# nor the minutes of a time before a date ("14:00 2026-02-13", "om 10:00 12-02-2026": "00 2026…")
_PHONE = re.compile(r"(?<![\w+./-])(?<![0-9][:.])"
                    r"(?:\+31|0031|0|\(0(?=\d{1,3}\)))[ -]?(?:\(0\))?(?:[ -]?\)?[ -]?\d){9}(?!\d|[:.]\d)")
_BSN = re.compile(r"(?<![\d.:/-])\d(?:[. ]?\d){7,8}(?![\d:/-])")
#: a Dutch date at the start of a match (01-02-2026, 1.2.2026): then it is a date, not a number
_DATE = re.compile(r"(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|1[0-2])\1\d{4}(?!\d)")
# 1234 AB 12, 1234AB 12a, 1234 ab, 12 (postcode with house number, either order)
_ADDRESS = re.compile(
    r"\b[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}\b[ ,]*(?:nr\.? ?)?\d{1,5}(?: ?[a-z]\b)?"
    r"|\b[A-Z][a-z]+(?:straat|laan|weg|plein|singel|gracht|kade|hof|dijk|pad|steeg|park)\s\d{1,5}(?: ?[a-z]\b)?",
    re.UNICODE)


@dataclass(frozen=True)
class Finding:
    """One piece of personal data in a text: its kind and where it is."""

    kind: str
    start: int
    end: int


def _bsn_ok(digits: str) -> bool:
    """The 11-proef for a BSN (8 digits get a leading zero)."""
    digits = digits.zfill(9)
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


def _iban_ok(raw: str) -> bool:
    """The mod-97 check of an IBAN."""
    iban = raw.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def find(text: str) -> list[Finding]:
    """Everything in ``text`` that looks like a citizen's personal data, in order, not overlapping."""
    found: list[Finding] = []
    for m in _EMAIL.finditer(text):
        found.append(Finding("email", m.start(), m.end()))
    for m in _IBAN.finditer(text):
        if _iban_ok(m.group()):
            found.append(Finding("iban", m.start(), m.end()))
    for m in _PHONE.finditer(text):
        if not _DATE.match(m.group()):
            found.append(Finding("phone", m.start(), m.end()))
    for m in _BSN.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if _bsn_ok(digits) and not _DATE.match(m.group()):
            found.append(Finding("bsn", m.start(), m.end()))
    for m in _ADDRESS.finditer(text):
        found.append(Finding("address", m.start(), m.end()))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    result: list[Finding] = []
    for item in found:
        if not result or item.start >= result[-1].end:
            result.append(item)
    return result


def mask(text: str, findings: list[Finding] | None = None, labels: dict[str, str] | None = None) -> str:
    """``text`` with each finding replaced by ``[label]`` (``labels`` names the kinds in the
    network's language, e.g. ``[telefoonnummer]``; without it the kind itself)."""
    findings = find(text) if findings is None else findings
    out, last = [], 0
    for item in findings:
        out.append(text[last:item.start])
        out.append(f"[{(labels or {}).get(item.kind, item.kind)}]")
        last = item.end
    out.append(text[last:])
    return "".join(out)
