"""The client of a remote registry: endpoint health checks now, replication's transport later."""
