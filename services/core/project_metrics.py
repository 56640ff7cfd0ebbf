"""Harbor's project metrics, as its exporter names them: projects by visibility, and per project its
repositories, members, quota use and limit, and pulls. Read from the tables every `metric.refresh_seconds`
by a background task (one statement), so a scrape only reads the last reading."""

from __future__ import annotations

from services.common.db import Database
from services.common.metrics import ServiceMetrics
from services.core.statistics import store


class ProjectMetrics:
    def __init__(self, metrics: ServiceMetrics, db: Database, every_s: float) -> None:
        self._db = db
        self.lifespan = metrics.refreshed(self.refresh, every_s, "project")
        self._projects = metrics.gauge("harbor_project_total", "Total projects number", ("public",))
        self._repos = metrics.gauge(
            "harbor_project_repo_total", "Total project repos number", ("project_name", "public")
        )
        self._members = metrics.gauge(
            "harbor_project_member_total", "Total members number of a project", ("project_name",)
        )
        self._used = metrics.gauge(
            "harbor_project_quota_usage_byte", "The used resource of a project", ("project_name",)
        )
        self._hard = metrics.gauge(
            "harbor_project_quota_byte", "The quota of a project (-1: unlimited)", ("project_name",)
        )
        self._pulled = metrics.gauge("harbor_artifact_pulled", "The pull number of an artifact", ("project_name",))

    async def refresh(self) -> None:
        figures = await store.project_figures(self._db.pool)
        gauges = (self._projects, self._repos, self._members, self._used, self._hard, self._pulled)
        # A deleted project's series go with it.
        for gauge in gauges:
            gauge.clear()
        public = sum(1 for f in figures if f.public)
        self._projects.labels("true").set(public)
        self._projects.labels("false").set(len(figures) - public)
        for f in figures:
            self._repos.labels(f.name, str(f.public).lower()).set(f.repositories)
            self._members.labels(f.name).set(f.members)
            self._used.labels(f.name).set(f.quota_used)
            self._hard.labels(f.name).set(f.quota_hard)
            self._pulled.labels(f.name).set(f.pulls)
