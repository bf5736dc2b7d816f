"""Prometheus metrics of the notifications service (exposed on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SENT = Counter("notifications_sent_total", "E-mails the SMTP server accepted", ["template"])
FAILED = Counter(
    "notifications_failed_total",
    (
        "E-mails given up on: refused permanently (permanent), out of attempts (exhausted),"
        " impossible to write (unwritable) or to attempt (abandoned)"
    ),
    ["template", "reason"],
)
RETRIED = Counter(
    "notifications_retried_total",
    "Transient SMTP failures that were scheduled for another attempt",
    ["template"],
)
QUEUE_AGE = Gauge(
    "notifications_queue_age_seconds", "Age of the oldest pending delivery (0 when none)"
)
# Pending work only: the sent and failed totals are the counters above, and a count of the
# whole ledger would cost more as history grows.
PENDING = Gauge("notifications_pending_deliveries", "Deliveries waiting to be sent")
ROUTED = Counter("notifications_routed_total", "Deliveries created from notices", ["event_type"])
DIGEST_HELD = Counter(
    "notifications_digest_held_total", "Changes held back for a contact's daily digest"
)
REMINDERS_FIRED = Counter("notifications_reminders_fired_total", "Reminders that fell due")
DIGESTS_WRITTEN = Counter("notifications_digests_written_total", "Daily digests written")
