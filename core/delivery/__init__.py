"""Normalized events out: the outbox written with each change, claims under leases, the
dispatcher, the retry policy and circuit, and the operator's view of deliveries."""
