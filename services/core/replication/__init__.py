"""Harbor's replication policies (and, later, their executions)."""
