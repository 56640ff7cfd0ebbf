"""Harbor's REST API, one module per API group; `setup_routes` is the whole URL map."""

from __future__ import annotations

from aiohttp import web

from services.core.api.artifacts import ArtifactsApi
from services.core.api.audit import AuditApi
from services.core.api.common import API
from services.core.api.labels import LabelsApi
from services.core.api.ldap import LdapApi
from services.core.api.login import LoginApi
from services.core.api.members import MembersApi
from services.core.api.projects import ProjectsApi
from services.core.api.repositories import RepositoriesApi
from services.core.api.robots import RobotsApi
from services.core.api.statistics import StatisticsApi
from services.core.api.system import SystemApi, healthz
from services.core.api.usergroups import UserGroupsApi
from services.core.api.users import UsersApi


def setup_routes(
    app: web.Application,
    *,
    system: SystemApi,
    projects: ProjectsApi,
    members: MembersApi,
    users: UsersApi,
    robots: RobotsApi,
    login: LoginApi,
    usergroups: UserGroupsApi,
    ldap: LdapApi,
    audit: AuditApi,
    repositories: RepositoriesApi,
    artifacts: ArtifactsApi,
    labels: LabelsApi,
    statistics: StatisticsApi,
) -> None:
    r = app.router
    r.add_get("/healthz", healthz)
    # Harbor's UI session paths, outside /api/v2.0.
    r.add_post("/c/login", login.login)
    r.add_get("/c/log_out", login.logout, allow_head=False)
    r.add_get(f"{API}/health", system.health)
    r.add_get(f"{API}/systeminfo", system.systeminfo)
    # The fixed /users/... paths before /users/{user_id}, which would take them (and answer 400).
    r.add_get(f"{API}/users/current", system.current_user)
    r.add_get(f"{API}/users/search", users.search, allow_head=False)
    r.add_get(f"{API}/users", users.list, allow_head=False)
    r.add_post(f"{API}/users", users.create)
    user = f"{API}/users/{{user_id}}"
    r.add_get(user, users.get, allow_head=False)
    r.add_put(user, users.update)
    r.add_delete(user, users.delete)
    r.add_put(f"{user}/password", users.change_password)
    r.add_put(f"{user}/sysadmin", users.set_sysadmin)

    r.add_get(f"{API}/projects", projects.list, allow_head=False)
    r.add_head(f"{API}/projects", projects.head_by_name)
    r.add_post(f"{API}/projects", projects.create)
    one = f"{API}/projects/{{project_name_or_id}}"
    # GET answers HEAD too (aiohttp's allow_head): same checks, no body, as Harbor does.
    r.add_get(one, projects.get)
    r.add_put(one, projects.update)
    r.add_delete(one, projects.delete)

    r.add_get(f"{one}/summary", statistics.project_summary, allow_head=False)
    r.add_get(f"{API}/search", statistics.search, allow_head=False)
    r.add_get(f"{API}/statistics", statistics.statistics, allow_head=False)

    r.add_get(f"{one}/logs", audit.list_project, allow_head=False)
    r.add_get(f"{API}/audit-logs", audit.list_all, allow_head=False)
    r.add_get(f"{one}/auditlog-exts", audit.list_project_ext, allow_head=False)
    r.add_get(f"{API}/auditlog-exts", audit.list_ext, allow_head=False)
    r.add_get(f"{API}/auditlog-exts/events", audit.event_types, allow_head=False)

    r.add_get(f"{one}/members", members.list, allow_head=False)
    r.add_post(f"{one}/members", members.create)
    r.add_get(f"{one}/members/{{mid}}", members.get, allow_head=False)
    r.add_put(f"{one}/members/{{mid}}", members.update)
    r.add_delete(f"{one}/members/{{mid}}", members.delete)

    r.add_get(f"{API}/robots", robots.list, allow_head=False)
    r.add_post(f"{API}/robots", robots.create)
    robot = f"{API}/robots/{{robot_id}}"
    r.add_get(robot, robots.get, allow_head=False)
    r.add_put(robot, robots.update)
    r.add_patch(robot, robots.refresh_secret)
    r.add_delete(robot, robots.delete)
    # What a robot may be given (Harbor's PoliciesMap), for the robot creation form.
    r.add_get(f"{API}/permissions", robots.permissions, allow_head=False)

    # /usergroups/search before /usergroups/{group_id}, which would take it (and answer 400).
    r.add_get(f"{API}/usergroups/search", usergroups.search, allow_head=False)
    r.add_get(f"{API}/usergroups", usergroups.list, allow_head=False)
    r.add_post(f"{API}/usergroups", usergroups.create)
    group = f"{API}/usergroups/{{group_id}}"
    r.add_get(group, usergroups.get, allow_head=False)
    r.add_put(group, usergroups.update)
    r.add_delete(group, usergroups.delete)

    r.add_post(f"{API}/ldap/ping", ldap.ping)
    r.add_get(f"{API}/ldap/users/search", ldap.search_users, allow_head=False)
    r.add_post(f"{API}/ldap/users/import", ldap.import_users)
    r.add_get(f"{API}/ldap/groups/search", ldap.search_groups, allow_head=False)

    # Repositories and artifacts. `{repository_name}` is one path segment: a `/` in it arrives encoded
    # twice (a%252Fb) and is decoded by the handler.
    r.add_get(f"{API}/repositories", repositories.list_all, allow_head=False)
    r.add_get(f"{one}/repositories", repositories.list, allow_head=False)
    repo = f"{one}/repositories/{{repository_name}}"
    r.add_get(repo, repositories.get, allow_head=False)
    r.add_put(repo, repositories.update)
    r.add_delete(repo, repositories.delete)
    r.add_get(f"{repo}/artifacts", artifacts.list, allow_head=False)
    r.add_post(f"{repo}/artifacts", artifacts.copy)
    artifact = f"{repo}/artifacts/{{reference}}"
    r.add_get(artifact, artifacts.get, allow_head=False)
    r.add_delete(artifact, artifacts.delete)
    r.add_get(f"{artifact}/tags", artifacts.list_tags, allow_head=False)
    r.add_post(f"{artifact}/tags", artifacts.create_tag)
    r.add_delete(f"{artifact}/tags/{{tag_name}}", artifacts.delete_tag)
    r.add_post(f"{artifact}/labels", labels.attach)
    r.add_delete(f"{artifact}/labels/{{label_id}}", labels.detach)

    r.add_get(f"{API}/labels", labels.list, allow_head=False)
    r.add_post(f"{API}/labels", labels.create)
    label = f"{API}/labels/{{label_id}}"
    r.add_get(label, labels.get, allow_head=False)
    r.add_put(label, labels.update)
    r.add_delete(label, labels.delete)
