"""Replication: copying artifacts between this registry and remote ones (Harbor's replication). `copier` is
the copy engine: one artifact with everything under it, from an ArtifactSource to a remote destination."""
