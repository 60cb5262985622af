"""Log set-up for the ``bamboe`` command: human-readable text (the default) or one JSON object per
line (``BAMBOE_LOG_FORMAT=json``) for a log collector.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, then any extra
fields a call passes (``log.info("…", extra={"network_id": 3, "job_kind": "nudge"})``), and
``exception`` with the traceback when there is one. Bamboe never logs message text; as a second
line of defence the SQL parameters that SQLAlchemy puts into its error messages (which may hold
what someone typed) are cut out of tracebacks in both formats.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")
_HANDLER_NAME = "bamboe"

#: the attributes every LogRecord has; anything else on a record came in through ``extra``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

#: SQLAlchemy error texts carry the statement's parameters (as a repr, so on one line) on a line
#: of their own
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")


def redact(text: str) -> str:
    """``text`` without SQL parameters (SQLAlchemy's ``[parameters: …]`` in error messages)."""
    return _SQL_PARAMETERS.sub("[parameters hidden]", text)


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call added with ``extra=…`` (network id, job kind, outbox id, …)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
            entry.setdefault("error", record.exc_info[0].__name__ if record.exc_info[0] else None)
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value …`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as text, its extra fields appended as ``key=value``. Line breaks in the
        message are shown as ``\\n``: a value someone sent can never start a log line of its own."""
        record.message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        fields = extras(record)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def configure(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) in ``fmt``.

    Replaces the handler an earlier call installed (others, such as a test runner's, stay);
    returns the new handler. Raises :class:`ValueError` for
    an unknown format or level (the command line reports it and exits with status 2).
    """
    fmt = (fmt or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"BAMBOE_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    name = (level or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(name), int):
        raise ValueError(f"BAMBOE_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(name)
    # alembic announces each of its plugins at INFO on every start; the migrations it runs stay visible
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.DEBUG if name == "DEBUG" else logging.WARNING)
    return handler
