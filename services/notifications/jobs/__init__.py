"""The background work: the delivery worker and the periodic jobs (reminders, digests)."""
