"""Repositories, artifacts and tags as Harbor's REST API shows them (rows written by the registry)."""
