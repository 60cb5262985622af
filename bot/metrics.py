"""Prometheus metrics (served on ``/metrics`` by ``bamboe run``).

prometheus-client gives the exposition format, label handling and process metrics for free;
writing them by hand would only add bugs. Metrics carry platforms, kinds and reasons, never
message text, chat or user ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
