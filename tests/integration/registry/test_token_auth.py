"""The registry half of the token flow: challenges, local verification, scopes, roles, anonymous pulls."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from services.common.auth.scopes import Access
from services.common.auth.tokens import TokenSigner, generate_key_and_certificate
from tests.harness.oci import push_image
from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.registry_auth import RegistryTokenAuth, fetch_token
from tests.harness.token import TokenServiceProcess, add_member, add_project, add_user
from tests.integration.registry.helpers import assert_error

pytestmark = pytest.mark.integration
SERVICE = "berth-registry"


def challenge(resp: httpx.Response) -> dict[str, str]:
    header = resp.headers["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def token_for(token_server: TokenServiceProcess, scopes: list[str], credentials: tuple[str, str] | None) -> str:
    return fetch_token(f"{token_server.url}/service/token", SERVICE, scopes, credentials)


def signed(token_server: TokenServiceProcess, *, key: bytes | None = None, now: int, ttl: int, name: str) -> str:
    config = yaml.safe_load(token_server.config_path.read_text())
    private_key = key or Path(config["token"]["private_key"]).read_bytes()
    token, _ = TokenSigner(private_key).sign(
        issuer="berth-token-issuer",
        subject="admin",
        audience=SERVICE,
        access=[Access("repository", name, ("pull", "push", "delete"))],
        ttl_seconds=ttl,
        now=now,
    )
    return token


def test_no_token_is_challenged_with_realm_service_and_scope(
    registry_server: RegistryProcess, token_server: TokenServiceProcess, repo_name: str
) -> None:
    base = httpx.get(f"{registry_server.url}/v2/")
    assert_error(base, 401, "UNAUTHORIZED")
    assert challenge(base) == {"realm": f"{token_server.url}/service/token", "service": SERVICE}

    pull = httpx.get(f"{registry_server.url}/v2/{repo_name}/manifests/v1")
    assert_error(pull, 401, "UNAUTHORIZED")
    assert challenge(pull)["scope"] == f"repository:{repo_name}:pull"

    push = httpx.post(f"{registry_server.url}/v2/{repo_name}/blobs/uploads/")
    assert challenge(push)["scope"] == f"repository:{repo_name}:pull,push"

    catalog = httpx.get(f"{registry_server.url}/v2/_catalog")
    assert challenge(catalog)["scope"] == "registry:catalog:*"


def test_a_token_for_one_repository_does_not_open_another(
    registry_server: RegistryProcess, token_server: TokenServiceProcess, repo_name: str
) -> None:
    token = token_for(token_server, [f"repository:{repo_name}:pull,push"], ("admin", "Harbor12345"))
    other = f"{repo_name}-other"

    r = httpx.get(f"{registry_server.url}/v2/{other}/tags/list", headers={"Authorization": f"Bearer {token}"})

    assert_error(r, 401, "UNAUTHORIZED")
    assert challenge(r)["error"] == "insufficient_scope"
    assert challenge(r)["scope"] == f"repository:{other}:pull"


@pytest.mark.parametrize(
    ("age", "ttl", "message"),
    [(4000, 1800, "expired"), (-600, 1800, "not valid yet")],
)
def test_expired_and_future_tokens_are_refused(
    registry_server: RegistryProcess,
    token_server: TokenServiceProcess,
    repo_name: str,
    age: int,
    ttl: int,
    message: str,
) -> None:
    token = signed(token_server, now=int(time.time()) - age, ttl=ttl, name=repo_name)

    r = httpx.get(f"{registry_server.url}/v2/{repo_name}/tags/list", headers={"Authorization": f"Bearer {token}"})

    body = assert_error(r, 401, "UNAUTHORIZED")
    assert body is not None and message in body["message"]
    assert challenge(r)["error"] == "invalid_token"


def test_tampered_tokens_and_tokens_of_another_key_are_refused(
    registry_server: RegistryProcess, token_server: TokenServiceProcess, repo_name: str
) -> None:
    good = token_for(token_server, [f"repository:{repo_name}:pull"], ("admin", "Harbor12345"))
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    foreign = signed(
        token_server, key=generate_key_and_certificate("x")[0], now=int(time.time()), ttl=60, name=repo_name
    )
    for token in (tampered, foreign, "not-a-jwt", good + "x"):
        r = httpx.get(f"{registry_server.url}/v2/{repo_name}/tags/list", headers={"Authorization": f"Bearer {token}"})
        assert_error(r, 401, "UNAUTHORIZED")


def test_anonymous_pulls_public_projects_only(
    registry_server: RegistryProcess, registry: httpx.Client, token_server: TokenServiceProcess, repo_name: str
) -> None:
    public = f"library/{repo_name.split('/')[1]}"
    push_image(registry, public, "v1")
    push_image(registry, repo_name, "v1")  # in the private project `test`
    with httpx.Client(
        base_url=registry_server.url, auth=RegistryTokenAuth(f"{token_server.url}/service/token", SERVICE, None)
    ) as anonymous:
        assert anonymous.get(f"/v2/{public}/manifests/v1").status_code == 200
        assert_error(anonymous.get(f"/v2/{repo_name}/manifests/v1"), 401, "UNAUTHORIZED")
        assert_error(anonymous.post(f"/v2/{public}/blobs/uploads/"), 401, "UNAUTHORIZED")


def test_pushing_to_a_project_that_does_not_exist_names_it(registry: httpx.Client) -> None:
    r = registry.post("/v2/nosuchproject/app/blobs/uploads/")

    body = assert_error(r, 403, "DENIED")
    assert body is not None and "project nosuchproject does not exist" in body["message"]


@pytest.mark.parametrize(
    ("role", "can_push", "can_delete"),
    [(1, True, True), (4, True, True), (2, True, False), (3, False, False), (5, False, False)],
)
def test_each_role_gets_what_harbor_grants(
    registry_server: RegistryProcess,
    registry: httpx.Client,
    token_server: TokenServiceProcess,
    module_database: TestDatabase,
    role: int,
    can_push: bool,
    can_delete: bool,
) -> None:
    project = f"roles{role}x{int(time.time() * 1000) % 100000}"
    add_project(module_database, project)
    user = f"user-{project}"
    add_user(module_database, user, "Secret-123")
    add_member(module_database, project, user, role)
    repo = f"{project}/app"
    _, digest = push_image(registry, repo, "v1")
    auth = RegistryTokenAuth(f"{token_server.url}/service/token", SERVICE, (user, "Secret-123"))
    with httpx.Client(base_url=registry_server.url, auth=auth) as member:
        assert member.get(f"/v2/{repo}/manifests/v1").status_code == 200
        pushed = member.post(f"/v2/{repo}/blobs/uploads/")
        assert pushed.status_code == (202 if can_push else 401), pushed.text
        deleted = member.delete(f"/v2/{repo}/manifests/{digest}")
        assert deleted.status_code == (202 if can_delete else 401), deleted.text
    # Nothing of another project, whatever the role here.
    with httpx.Client(base_url=registry_server.url, auth=auth) as member:
        assert member.get(f"/v2/test/{project}/tags/list").status_code == 401
