"""Project quotas: Harbor's /quotas API over migration 0019's rows."""
