"""Registry and core events: written to an outbox with the change, relayed to a Redis stream, consumed by
core's audit log (and later webhooks and replication)."""
