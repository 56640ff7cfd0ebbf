"""Search, statistics and per-project storage: read-only views computed from the tables, never counters."""
