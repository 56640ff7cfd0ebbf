"""Tag retention: Harbor's /retentions API over migration 0020's policies, runs (jobs) and tasks."""
