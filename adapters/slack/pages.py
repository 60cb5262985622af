"""The pages a browser shows at the end of installing Bamboe in a Slack workspace
(``GET /slack/oauth_redirect``): plain bilingual text, Dutch first, then English.

A Python module rather than an ``.html`` file so it is packaged without package-data settings.
"""

from __future__ import annotations

import html
from string import Template

PAGE = Template("""<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1d2b21; }
h1 { color: #2f5d3a; font-size: 1.5rem; }
p.en { color: #4a4a4a; }
a { color: #2f5d3a; }
</style>
</head>
<body>
<h1>$title</h1>
<p lang="nl">$nl</p>
<p lang="en" class="en">$en</p>
<p><a href="$href">$link</a></p>
</body>
</html>
""")

#: page → (title, Dutch text, English text, link text); ``$team`` is the workspace's name
TEXTS: dict[str, tuple[str, str, str, str]] = {
    "installed": (
        "Bamboe is geïnstalleerd · Bamboe is installed",
        "Bamboe is toegevoegd aan $team. Nodig Bamboe uit in het kanaal van je lerend netwerk met "
        "<code>/invite @Bamboe</code>; typ daarna <code>/bamboe help</code>.",
        "Bamboe was added to $team. Invite Bamboe to your learning network's channel with "
        "<code>/invite @Bamboe</code>, then type <code>/bamboe help</code>.",
        "Open Slack",
    ),
    "expired": (
        "Installatielink verlopen · Install link expired",
        "Deze installatielink is verlopen, al gebruikt of in een andere browser geopend. Begin opnieuw.",
        "This install link has expired, was already used or was opened in another browser. Please start again.",
        "Opnieuw installeren · Install again",
    ),
    "cancelled": (
        "Installatie geannuleerd · Installation cancelled",
        "Bamboe is niet geïnstalleerd: de installatie werd in Slack geannuleerd.",
        "Bamboe was not installed: the installation was cancelled in Slack.",
        "Opnieuw installeren · Install again",
    ),
    "failed": (
        "Installatie mislukt · Installation failed",
        "Slack gaf Bamboe geen toegang tot de werkruimte. Probeer het opnieuw; lukt het niet, neem dan "
        "contact op met wie Bamboe beheert.",
        "Slack did not give Bamboe access to the workspace. Please try again; if it keeps failing, contact "
        "whoever runs Bamboe.",
        "Opnieuw installeren · Install again",
    ),
    "invalid": (
        "Installatielink klopt niet · Install link not valid",
        "Deze installatielink klopt niet: wat na <code>?team=</code> staat is geen Slack-werkruimte-id "
        "(zoals T0123ABCD). Begin opnieuw.",
        "This install link is not valid: what follows <code>?team=</code> is no Slack workspace id "
        "(such as T0123ABCD). Please start again.",
        "Opnieuw installeren · Install again",
    ),
    "unavailable": (
        "Installatie niet gelukt · Installation failed",
        "Bamboe kon de installatie nu niet afronden. Probeer het over een paar minuten opnieuw.",
        "Bamboe could not complete the installation just now. Please try again in a few minutes.",
        "Opnieuw installeren · Install again",
    ),
}

#: slack-bolt's failure reasons (and Slack's ``error`` parameter) → the page to show
REASONS = {
    "invalid_browser": "expired",
    "invalid_state": "expired",
    "access_denied": "cancelled",
    "missing_code": "failed",
    "invalid_code": "failed",
    "storage_error": "unavailable",
}

#: relative to ``/slack/oauth_redirect``, so it also works behind a path prefix
INSTALL_AGAIN = "install"


def page_for(reason: str) -> str:
    """The page for a failure ``reason``."""
    return REASONS.get(reason, "failed")


def render(page: str, *, team: str = "", href: str = INSTALL_AGAIN) -> str:
    """The HTML of ``page``; ``team`` and ``href`` are escaped."""
    title, nl, en, link = TEXTS[page]
    name = html.escape(team) if team else "je werkruimte"
    name_en = html.escape(team) if team else "your workspace"
    return PAGE.substitute(
        title=title,
        nl=Template(nl).safe_substitute(team=f"<strong>{name}</strong>"),
        en=Template(en).safe_substitute(team=f"<strong>{name_en}</strong>"),
        href=html.escape(href, quote=True),
        link=link,
    )
