"""End-to-end: schemathesis fuzzes every operation of Berth's own spec (GET /api/v2.0/swagger.json) against the
whole stack, as the admin, and no answer may be a 5xx or break the response schema the spec gives for its
status (checks `not_a_server_error` and `response_schema_conformance`).

A fresh stack has nothing in it, so most generated names would only ever be 404s: the `world` fixture first
makes one of everything (a project with an image, an index, an accessory and a chart; labels; a member; a
robot; a user group; GC and purge runs), and the hooks (tests/e2e/fuzz_hooks.py) put those names and ids into
two thirds of the generated paths, the rest staying whatever schemathesis made of them.

Bounded and reproducible: a fixed number of examples per operation (`MAX_EXAMPLES`, plus what the coverage
phase derives from each schema), one worker, `--generation-deterministic` (the same cases on every run,
no example database), a request timeout, and a time limit on the whole run, whose passing is a failure
(never a slow pass). Deletes run last, in a second run, so that they do not take the world away from the
other operations before those are fuzzed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.e2e.fuzz_hooks import KNOWN_ENV
from tests.harness.oci import descriptor, digest_of, gzip_tar, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import REPO_ROOT, RegistryEndpoint
from tests.harness.stack import ADMIN_PASSWORD, StackProcess
from tests.harness.waiting import eventually
from tests.integration.core.test_artifacts import CONFIG, HELM_CONFIG, SBOM_TYPE, push_index

pytestmark = pytest.mark.e2e

ADMIN = ("admin", ADMIN_PASSWORD)
# The CLI of the venv's schemathesis (`python -m schemathesis.cli` is its `st` command).
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
CHECKS = "not_a_server_error,response_schema_conformance"
# Cases per operation in the fuzzing phase; the coverage phase adds its boundary cases of each schema.
MAX_EXAMPLES = 10
REQUEST_TIMEOUT_S = 30
# Far above a run on a loaded 2-core machine (about a minute): reaching it means something hangs.
RUN_LIMIT_S = 600
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def chart_archive(name: str, version: str) -> bytes:
    files = {
        f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode(),
        f"{name}/values.yaml": b"replicaCount: 1\n",
        f"{name}/README.md": f"# {name}\n".encode(),
    }
    return gzip_tar(files)


def ok(response: httpx.Response, *statuses: int) -> httpx.Response:
    assert response.status_code in (statuses or (200, 201)), (
        f"{response.request.method} {response.url}: {response.text}"
    )
    return response


def push_artifacts(registry: httpx.Client, repo: str) -> dict[str, str]:
    """An image (tags v1 and latest) with an SBOM accessory, an index of two images, a Helm chart."""
    manifest, image = push_image(registry, repo, "v1", config=json.dumps(CONFIG).encode(), layers=[b"fuzz layer"])
    ok(push_manifest(registry, repo, "latest", manifest, mt.OCI_MANIFEST))
    index, _ = push_index(registry, repo, "multi")
    push_blob(registry, repo, mt.EMPTY_JSON)
    sbom = b'{"sbom": "of the fuzz image"}'
    push_blob(registry, repo, sbom)
    accessory = image_manifest(
        mt.EMPTY_JSON,
        [sbom],
        config_media_type=mt.OCI_EMPTY,
        artifact_type=SBOM_TYPE,
        subject=descriptor(mt.OCI_MANIFEST, manifest),
    )
    ok(push_manifest(registry, repo, digest_of(accessory), accessory, mt.OCI_MANIFEST))
    chart_config = json.dumps({"name": "fuzzchart", "version": "0.1.0", "apiVersion": "v2"}).encode()
    chart = chart_archive("fuzzchart", "0.1.0")
    for blob in (chart_config, chart):
        push_blob(registry, repo, blob)
    chart_manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": descriptor(HELM_CONFIG, chart_config),
        "layers": [descriptor(HELM_CHART_LAYER, chart)],
    }
    ok(push_manifest(registry, repo, "0.1.0", json.dumps(chart_manifest).encode(), mt.OCI_MANIFEST))
    return {"image": image, "index": index, "accessory": digest_of(accessory)}


def created_id(response: httpx.Response) -> int:
    """The id at the end of a 201's Location (Harbor's way of naming what was created)."""
    return int(ok(response, 201).headers["Location"].rstrip("/").rsplit("/", 1)[1])


class Seeder:
    """Makes things through the API as the admin and returns what names them."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api

    def project(self, name: str) -> int:
        ok(self.api.post("/projects", json={"project_name": name, "metadata": {"public": "false"}}), 201)
        return int(ok(self.api.get(f"/projects/{name}")).json()["project_id"])

    def user(self, name: str) -> int:
        body = {"username": name, "email": f"{name}@example.com", "password": "Fuzz-Passw0rd", "realname": name}
        return created_id(self.api.post("/users", json=body))

    def member(self, project: str, username: str) -> int:
        body = {"role_id": 2, "member_user": {"username": username}}
        return created_id(self.api.post(f"/projects/{project}/members", json=body))

    def label(self, name: str, project_id: int | None = None) -> int:
        scope = {"scope": "p", "project_id": project_id} if project_id else {"scope": "g"}
        return created_id(self.api.post("/labels", json={"name": name, **scope}))

    def robot(self, name: str, project: str) -> int:
        access = [{"resource": "repository", "action": "pull"}]
        body = {
            "name": name,
            "duration": -1,
            "level": "project",
            "permissions": [{"kind": "project", "namespace": project, "access": access}],
        }
        return int(ok(self.api.post("/robots", json=body), 201).json()["id"])

    def group(self, name: str) -> int:
        # An HTTP group (type 2): what db_auth allows without a directory.
        return created_id(self.api.post("/usergroups", json={"group_name": name, "group_type": 2}))

    def retention(self, project_id: int) -> int:
        tags = [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": '{"untagged":true}'}]
        repos = {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
        rule = {"action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 5}}
        body = {
            "algorithm": "or",
            "rules": [{**rule, "tag_selectors": tags, "scope_selectors": repos}],
            "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
            "scope": {"level": "project", "ref": project_id},
        }
        return created_id(self.api.post("/retentions", json=body))

    def retention_run(self, policy_id: int) -> tuple[int, int]:
        """A finished dry run of the policy and one of its tasks."""
        eid = created_id(self.api.post(f"/retentions/{policy_id}/executions", json={"dry_run": True}))
        tasks = eventually(
            lambda: ok(self.api.get(f"/retentions/{policy_id}/executions/{eid}/tasks")).json(), "a retention task"
        )
        return eid, int(tasks[0]["id"])

    def run(self, job: str, parameters: dict[str, Any]) -> int:
        body = {"schedule": {"type": "Manual"}, "parameters": parameters}
        ok(self.api.post(f"/system/{job}/schedule", json=body), 201)
        runs = eventually(lambda: ok(self.api.get(f"/system/{job}")).json(), f"a {job} run")
        return int(runs[0]["id"])

    def webhook(self, project: str, name: str) -> int:
        # A public address: the SSRF guard takes it, and nothing here makes an event that is delivered there.
        target = {"type": "http", "address": "http://93.184.216.34/hook", "auth_header": "Bearer fuzz"}
        body = {"name": name, "event_types": ["QUOTA_EXCEED"], "targets": [target], "enabled": True}
        created = ok(self.api.post(f"/projects/{project}/webhook/policies", json=body), 201)
        return int(created.headers["Location"].rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def world(stack: StackProcess, registry_endpoint: RegistryEndpoint) -> dict[str, Any]:
    """One of everything, and the path parameter values that name it (what the hooks substitute): `known` for
    every operation, `delete` for the DELETE whose path ends as the key says, so that each delete takes away
    something of its own and every other operation still finds the rest."""
    # Fixed names (the stack and its database are this module's alone): a reproduction names the same things.
    suffix = "fuzz"
    project, doomed_project = f"fz-{suffix}", f"fz-del-{suffix}"
    with registry_endpoint.client() as registry, httpx.Client(base_url=stack.url + "/api/v2.0", auth=ADMIN) as api:
        seed = Seeder(api)
        project_id = seed.project(project)
        doomed_project_id = seed.project(doomed_project)
        digests = push_artifacts(registry, f"{project}/web")
        doomed = {repo: push_artifacts(registry, f"{project}/{repo}") for repo in ("del-repo", "del-art", "del-tag")}
        user = f"fz-user-{suffix}"
        user_id, doomed_user = seed.user(user), seed.user(f"fz-del-{suffix}")
        member_id = seed.member(project, user)
        doomed_member = seed.member(project, f"fz-del-{suffix}")
        label_ids = [seed.label(f"fz-g-{suffix}"), seed.label(f"fz-p-{suffix}", project_id)]
        doomed_label = seed.label(f"fz-del-{suffix}")
        ok(api.post(f"/projects/{project}/repositories/web/artifacts/v1/labels", json={"id": label_ids[0]}))
        robot_id, doomed_robot = seed.robot(f"fz-{suffix}", project), seed.robot(f"fz-del-{suffix}", project)
        group_id, doomed_group = seed.group(f"fz-group-{suffix}"), seed.group(f"fz-del-{suffix}")
        ok(api.post(f"/projects/{project}/metadatas/", json={"auto_scan": "true"}))
        gc_id = seed.run("gc", {"dry_run": True})
        purge_id = seed.run("purgeaudit", {"audit_retention_hour": 1, "dry_run": True})
        policy_id, doomed_policy = seed.retention(project_id), seed.retention(doomed_project_id)
        execution_id, task_id = seed.retention_run(policy_id)
        quota_id = ok(api.get("/quotas", params={"reference_id": str(project_id)})).json()[0]["id"]
        pools = [p["worker_pool_id"] for p in ok(api.get("/jobservice/pools")).json()]
        # The stack itself as a Harbor-type endpoint: the one remote at hand that answers.
        endpoint = {"name": f"fz-{suffix}", "url": stack.url, "type": "harbor"}
        created = ok(api.post("/registries", json=endpoint), 201)
        registry_id = int(created.headers["Location"].rsplit("/", 1)[1])
        webhook_id, doomed_webhook = seed.webhook(project, "fz-hook"), seed.webhook(project, "fz-del-hook")
    references = ["v1", "latest", "multi", "0.1.0", *digests.values()]
    known = {
        "project_name_or_id": [project, str(project_id)],
        "project_name": [project],
        "repository_name": ["web"],
        "reference": references,
        "tag_name": ["v1", "latest"],
        "addition": ["build_history", "readme.md", "values.yaml", "dependencies"],
        "label_id": label_ids,
        "mid": [member_id],
        "meta_name": ["public", "auto_scan"],
        "robot_id": [robot_id],
        "group_id": [group_id],
        "user_id": [user_id],
        "gc_id": [gc_id],
        "purge_id": [purge_id],
        "job_id": [gc_id, purge_id, execution_id],
        # /retentions/{id}, /quotas/{id} and /registries/{id} share the name.
        "id": [policy_id, quota_id, registry_id],
        "eid": [execution_id],
        "tid": [task_id],
        "pool_id": ["all", *pools],
        "job_type": ["GARBAGE_COLLECTION", "PURGE_AUDIT_LOG", "RETENTION", "all"],
        "webhook_policy_id": [webhook_id],
    }
    delete = {
        "/projects/{project_name_or_id}": {"project_name_or_id": [doomed_project]},
        "/repositories/{repository_name}": {"repository_name": ["del-repo"]},
        "/artifacts/{reference}": {"repository_name": ["del-art"], "reference": ["v1", *doomed["del-art"].values()]},
        "/tags/{tag_name}": {"repository_name": ["del-tag"], "reference": ["v1"], "tag_name": ["v1", "latest"]},
        "/members/{mid}": {"mid": [doomed_member]},
        "/metadatas/{meta_name}": {"meta_name": ["auto_scan"]},
        "/labels/{label_id}": {"label_id": [doomed_label, *label_ids]},
        "/robots/{robot_id}": {"robot_id": [doomed_robot]},
        "/usergroups/{group_id}": {"group_id": [doomed_group]},
        "/users/{user_id}": {"user_id": [doomed_user]},
        "/retentions/{id}": {"id": [doomed_policy]},
        "/webhook/policies/{webhook_policy_id}": {"webhook_policy_id": [doomed_webhook]},
    }
    return {"known": known, "delete": delete}


def fuzz(stack: StackProcess, world: dict[str, Any], workdir: Path, *selection: str) -> None:
    # No crash cache: schemathesis would replay an earlier run's failures first, so a run would depend on the
    # one before it. Its files (and any report) stay in `workdir`, out of the checkout.
    config = workdir / "schemathesis.toml"
    config.write_text("[cache]\nenabled = false\n")
    command = [
        *SCHEMATHESIS, "--config-file", str(config), "run", f"{stack.url}/api/v2.0/swagger.json",
        "--auth", f"{ADMIN[0]}:{ADMIN[1]}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers", "1",
        "--request-timeout", str(REQUEST_TIMEOUT_S),
        # A verdict on the generator (too many drawn values rejected on the way, here by the path parameter
        # hook's known values), not on the API: the operations are still fuzzed with what was drawn.
        "--suppress-health-check", "filter_too_much",
        "--no-color",
        *selection,
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks",
        KNOWN_ENV: json.dumps(world),
    }
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis found failures (exit {result.returncode}):\n{output[-20000:]}"
    assert "Tested:" in output, output[-5000:]


def test_no_operation_but_deletes_answers_a_5xx_or_breaks_its_schema(
    stack: StackProcess, world: dict[str, Any], tmp_path: Path
) -> None:
    fuzz(stack, world, tmp_path, "--exclude-method", "DELETE")


def test_no_delete_answers_a_5xx_or_breaks_its_schema(
    stack: StackProcess, world: dict[str, Any], tmp_path: Path
) -> None:
    fuzz(stack, world, tmp_path, "--include-method", "DELETE")
