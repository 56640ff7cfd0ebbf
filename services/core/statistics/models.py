"""What search, statistics and a project summary show; rows come from the registry's and identity's tables."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SearchRepository:
    """Harbor's SearchRepository: a repository with its project's id, name and public flag."""

    project_id: int
    project_name: str
    project_public: bool
    repository_name: str
    pull_count: int
    artifact_count: int


@dataclass(frozen=True, slots=True)
class Counts:
    """Projects and repositories, public, private-and-visible-to-the-caller, and in all; storage in bytes."""

    public_projects: int
    private_projects: int
    total_projects: int
    public_repositories: int
    private_repositories: int
    total_repositories: int
    storage: int


@dataclass(frozen=True, slots=True)
class ProjectUsage:
    """A project's members by role (users and groups alike, as Harbor counts them), its storage (the quota's
    usage) and its storage limit (-1 unlimited)."""

    project_admins: int
    maintainers: int
    developers: int
    guests: int
    limited_guests: int
    storage: int
    storage_limit: int = -1


@dataclass(frozen=True)
class ProjectFigures:
    """One project's figures for the metrics: repositories, pulls, members, quota (-1: unlimited)."""

    name: str
    public: bool
    repositories: int
    pulls: int
    members: int
    quota_used: int
    quota_hard: int
