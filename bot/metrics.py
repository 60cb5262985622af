"""Prometheus metrics (served on ``/metrics`` by ``bamboe run``).

prometheus-client gives the exposition format, label handling and process metrics for free;
writing them by hand would only add bugs. Metrics carry platforms, kinds and reasons, never
message text, chat or user ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_SENT = Counter("bamboe_messages_sent_total", "Messages delivered to a platform", ["platform"])
MESSAGES_FAILED = Counter(
    "bamboe_messages_failed_total",
    "Send attempts that failed (reason: retry = transient, rate_limited, undeliverable, not_started)",
    ["platform", "reason"],
)
DISPATCH_LAG = Histogram(
    "bamboe_dispatch_lag_seconds",
    "Time from a message becoming due (created or released) to its delivery",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
HANDLER_SECONDS = Histogram(
    "bamboe_handler_seconds",
    "Time for the core to handle one inbound event (decide and store)",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOBS_RUN = Counter("bamboe_jobs_total", "Planned jobs finished, by outcome", ["outcome"])

# Gauges read from the database when ``/metrics`` is scraped (``bamboe.runtime.App.refresh_gauges``):
# they describe the shared queue, so every replica reports the same values.
OUTBOX_DEPTH = Gauge(
    "bamboe_outbox_messages",
    "Outbox messages not delivered yet, by platform and state (pending: queued or deferred; "
    "sending: claimed by a replica; waiting: a private message until the person starts the bot)",
    ["platform", "state"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "bamboe_outbox_oldest_pending_seconds",
    "Age of the oldest outbox message still pending or sending (0 when none)",
    ["platform"],
)
JOBS_DUE = Gauge("bamboe_jobs_due", "Planned jobs past their due time and not run yet (pending or lease expired)")
JOBS_OLDEST_DUE_SECONDS = Gauge(
    "bamboe_jobs_oldest_due_seconds", "How long the oldest due job has been waiting to run (0 when none)"
)
DATABASE_UP = Gauge("bamboe_database_up", "1 when the database answered the last scrape's queries, else 0")
ADAPTER_READY = Gauge("bamboe_adapter_ready", "1 while a platform adapter is connected, else 0", ["platform"])
