"""/api/v2.0/robots: Harbor's RobotCreate in, Robot out (never the secret nor its hash); the secret is
shown once, in RobotCreated (POST) and RobotSec (PATCH)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.identity.models import RobotLevel, RobotPermission, parse_permissions
from services.core.api.body import opt_bool, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.errors import BadRequest
from services.core.listing import parse_page, parse_q
from services.core.robots.models import NEVER, NewRobot, RobotChanges, RobotView
from services.core.robots.service import RobotService
from services.core.security.middleware import principal_of

# Harbor's UI sends q=Level=project,ProjectID=<id>; the lower-case spellings are accepted too.
Q_KEYS: dict[str, Any] = {"Level": "str", "level": "str", "ProjectID": "int", "project_id": "int"}


def _expires_at(robot: RobotView) -> int:
    return NEVER if robot.expires_at is None else int(robot.expires_at.timestamp())


def render(robot: RobotView) -> dict[str, Any]:
    return {
        "id": robot.id,
        "name": robot.name,
        "description": robot.description,
        "level": robot.level,
        "duration": robot.duration,
        "editable": True,
        "disable": robot.disabled,
        "expires_at": _expires_at(robot),
        "permissions": [p.to_json() for p in robot.permissions],
        "creation_time": harbor_time(robot.created_at),
        "update_time": harbor_time(robot.updated_at),
    }


def _level(value: str | None) -> RobotLevel | None:
    if value is None:
        return None
    if value == "project":
        return "project"
    if value == "system":
        return "system"
    raise BadRequest("level must be project or system")


def _duration(data: dict[str, Any]) -> int | None:
    value = data.get("duration")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise BadRequest("duration must be an integer: -1 (never) or a number of days")
    return value


def _permissions(data: dict[str, Any]) -> tuple[RobotPermission, ...] | None:
    if data.get("permissions") is None:
        return None
    try:
        return parse_permissions(data["permissions"])
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


class RobotsApi:
    def __init__(self, robots: RobotService) -> None:
        self._robots = robots

    def routes(self) -> list[web.RouteDef]:
        robot = f"{API}/robots/{{robot_id}}"
        return [
            web.get(f"{API}/robots", self.list, allow_head=False),
            web.post(f"{API}/robots", self.create),
            web.get(robot, self.get, allow_head=False),
            web.put(robot, self.update),
            web.patch(robot, self.refresh_secret),
            web.delete(robot, self.delete),
            # What a robot may be given (Harbor's PoliciesMap), for the robot creation form.
            web.get(f"{API}/permissions", self.permissions, allow_head=False),
        ]

    async def permissions(self, request: web.Request) -> web.Response:
        """GET /permissions: Harbor's Permissions, the resource/action pairs a robot may be given."""
        lists = await self._robots.permissions(principal_of(request))
        body = {
            level: [{"resource": resource, "action": action} for resource, action in lists[level]]
            for level in ("system", "project")
        }
        return web.json_response(body)

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        if "sort" in q:
            raise BadRequest("the robot list takes q (level, project_id), page and page_size; sort is not supported")
        terms = {t.key.lower().replace("projectid", "project_id"): t for t in parse_q(q.get("q"), Q_KEYS)}
        if any(t.op != "eq" for t in terms.values()):
            raise BadRequest("the robot list's q takes exact terms only (key=value)")
        level = _level(str(terms["level"].value)) if "level" in terms else None
        project_id = terms["project_id"].value if "project_id" in terms else None
        assert project_id is None or isinstance(project_id, int)
        page = parse_page(q.get("page"), q.get("page_size"))
        robots, total = await self._robots.list(principal_of(request), level, project_id, page)
        return web.json_response([render(r) for r in robots], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        data = await read_object(request)
        level = _level(opt_str(data, "level"))
        if level is None:
            raise BadRequest("level is required: project or system")
        permissions = _permissions(data)
        if not permissions:
            raise BadRequest("permissions is required")
        duration = _duration(data)
        new = NewRobot(
            name=opt_str(data, "name") or "",
            description=opt_str(data, "description") or "",
            level=level,
            duration=NEVER if duration is None else duration,
            disabled=bool(opt_bool(data, "disable")),
            permissions=permissions,
            secret=opt_str(data, "secret") or None,
        )
        robot, secret = await self._robots.create(principal_of(request), new)
        body = {
            "id": robot.id,
            "name": robot.name,
            "secret": secret,
            "creation_time": harbor_time(robot.created_at),
            "expires_at": _expires_at(robot),
        }
        return web.json_response(body, status=201, headers={"Location": f"{API}/robots/{robot.id}"})

    async def get(self, request: web.Request) -> web.Response:
        robot = await self._robots.get(principal_of(request), path_int(request, "robot_id"))
        return web.json_response(render(robot))

    async def update(self, request: web.Request) -> web.Response:
        robot_id = path_int(request, "robot_id")
        data = await read_object(request)
        changes = RobotChanges(
            description=opt_str(data, "description"),
            duration=_duration(data),
            disabled=opt_bool(data, "disable"),
            permissions=_permissions(data),
        )
        await self._robots.update(principal_of(request), robot_id, changes)
        return web.Response(status=200)

    async def refresh_secret(self, request: web.Request) -> web.Response:
        robot_id = path_int(request, "robot_id")
        data = await read_object(request) if request.can_read_body else {}
        secret = await self._robots.refresh_secret(principal_of(request), robot_id, opt_str(data, "secret") or None)
        return web.json_response({"secret": secret})

    async def delete(self, request: web.Request) -> web.Response:
        await self._robots.delete(principal_of(request), path_int(request, "robot_id"))
        return web.Response(status=200)
