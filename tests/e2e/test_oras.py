"""The ORAS Python SDK (PyPI `oras`) against Berth through the token flow: artifacts with their own type and
annotations pushed with credentials, pulled back byte for byte, and read through the registry API.

oras-py's `push()` writes no `artifactType` field (it has no parameter for it: an artifact's type can only
be given there the OCI 1.0 way, as the config's mediaType). For an OCI 1.1 artifact manifest the test
writes the manifest itself and sends it, and the blobs, with the same client's `upload_blob` and
`upload_manifest`, so the requests and the token flow are still oras-py's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import oras.client
import oras.defaults
import oras.oci
import pytest

from tests.harness.plugin import RegistryEndpoint
from tests.harness.token import add_member, add_project, add_user

pytestmark = pytest.mark.e2e
PROJECT = "orasteam"
PASSWORDS = {"admin": "Harbor12345", "dev": "Passw0rd-1", "visitor": "Passw0rd-1"}
ARTIFACT_TYPE = "application/vnd.berth.test.v1"
LAYER_TYPE = "application/vnd.berth.test.layer.v1"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ANNOTATIONS = {"org.opencontainers.image.description": "a Berth test artifact", "com.example.build": "42"}


@pytest.fixture(scope="module")
def accounts(registry_endpoint: RegistryEndpoint) -> dict[str, str]:
    """role → user name; the project is private."""
    add_project(registry_endpoint.database, PROJECT)
    for user, role in (("dev", 2), ("visitor", 3)):
        add_user(registry_endpoint.database, user, PASSWORDS[user])
        add_member(registry_endpoint.database, PROJECT, user, role)
    return {"admin": "admin", "developer": "dev", "guest": "visitor"}


def client_for(endpoint: RegistryEndpoint, user: str | None, workdir: Path) -> tuple[oras.client.OrasClient, str]:
    """An oras client of the registry (plain HTTP), logged in as `user` (None: anonymous); the credentials go
    to a config file of the test's own, returned with the client, never to ~/.docker."""
    client = oras.client.OrasClient(hostname=endpoint.host, insecure=True)
    config = workdir / f"oras-{user or 'anonymous'}.json"
    config.write_text(json.dumps({"auths": {}}))
    if user is not None:
        result = client.login(user, PASSWORDS[user], hostname=endpoint.host, config_path=str(config))
        assert "Succeeded" in str(result)
    return client, str(config)


def ask_for_push_scope(client: oras.client.OrasClient, host: str, repo: str) -> int:
    """Makes oras-py fetch its token from a challenge for `pull,push` before it pushes; returns the status.

    oras-py keeps the first token it gets and, on a 401, sends that same token again: it only asks for a new
    one on a 403 (oras-project/oras-py#187). Its push() starts with a HEAD of each blob, whose challenge asks
    for `pull` alone, so the uploads that follow are refused with `insufficient_scope`, as distribution
    refuses them. Cancelling an upload that does not exist needs push, changes nothing, and answers 404.
    """
    url = f"{client.prefix}://{host}/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    status: int = client.do_request(url, "DELETE").status_code
    return status


def payload(workdir: Path, name: str) -> Path:
    path = workdir / "payload" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(os.urandom(150_000) + b"\x00\r\n end")
    return path


def push_artifact(client: oras.client.OrasClient, target: str, path: Path) -> None:
    """An OCI 1.1 artifact: `artifactType`, the empty config, `path` as its one titled layer, annotations."""
    layer = oras.oci.NewLayer(str(path), media_type=LAYER_TYPE)
    layer["annotations"] = {oras.defaults.annotation_title: path.name}
    empty = path.parent / "empty.json"
    empty.write_bytes(b"{}")
    config = {"mediaType": EMPTY_JSON, "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
    for blob, descriptor in ((path, layer), (empty, config)):
        response = client.upload_blob(str(blob), target, descriptor)
        assert response.status_code in (200, 201), response.text
    manifest = oras.oci.NewManifest()
    manifest.update(
        mediaType=OCI_MANIFEST, artifactType=ARTIFACT_TYPE, config=config, layers=[layer], annotations=ANNOTATIONS
    )
    response = client.upload_manifest(manifest, client.get_container(target))
    assert response.status_code == 201, response.text


def registry_manifest(endpoint: RegistryEndpoint, repo: str, tag: str) -> dict[str, Any]:
    with endpoint.client() as api:
        tags = api.get(f"/v2/{repo}/tags/list")
        assert tags.status_code == 200, tags.text
        assert tag in tags.json()["tags"]
        response = api.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        assert response.status_code == 200, response.text
        manifest: dict[str, Any] = response.json()
        return manifest


def test_an_oci_artifact_with_its_own_type_round_trips(
    accounts: dict[str, str], registry_endpoint: RegistryEndpoint, tmp_path: Path
) -> None:
    repo = f"{PROJECT}/artifact"
    target = f"{registry_endpoint.host}/{repo}:v1"
    source = payload(tmp_path, "data.bin")
    pusher, _ = client_for(registry_endpoint, accounts["developer"], tmp_path)
    assert ask_for_push_scope(pusher, registry_endpoint.host, repo) == 404
    push_artifact(pusher, target, source)

    stored = registry_manifest(registry_endpoint, repo, "v1")
    assert stored["artifactType"] == ARTIFACT_TYPE
    assert stored["annotations"] == ANNOTATIONS
    assert stored["config"]["mediaType"] == EMPTY_JSON
    assert [layer["mediaType"] for layer in stored["layers"]] == [LAYER_TYPE]

    puller, config = client_for(registry_endpoint, accounts["guest"], tmp_path)
    outdir = tmp_path / "pulled"
    files = puller.pull(target=target, config_path=config, outdir=str(outdir))
    assert [Path(f).name for f in files] == ["data.bin"]
    assert (outdir / "data.bin").read_bytes() == source.read_bytes()


def test_oras_push_with_annotations_and_a_config_type_round_trips(
    accounts: dict[str, str], registry_endpoint: RegistryEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = f"{PROJECT}/pushed"
    target = f"{registry_endpoint.host}/{repo}:v1"
    source = payload(tmp_path, "notes.txt")
    config_file = tmp_path / "payload" / "config.json"
    config_file.write_text('{"berth": "test"}')
    # oras-py's push() wants the files under the working directory.
    monkeypatch.chdir(tmp_path / "payload")
    client, config = client_for(registry_endpoint, accounts["admin"], tmp_path)
    assert ask_for_push_scope(client, registry_endpoint.host, repo) == 404
    response = client.push(
        target=target,
        config_path=config,
        files=["notes.txt"],
        manifest_config=f"config.json:{ARTIFACT_TYPE}",
        manifest_annotations=ANNOTATIONS,
    )
    assert response.status_code == 201, response.text

    stored = registry_manifest(registry_endpoint, repo, "v1")
    assert stored["config"]["mediaType"] == ARTIFACT_TYPE  # the artifact's type, OCI 1.0 style
    assert stored["annotations"] == ANNOTATIONS
    with registry_endpoint.client() as api:
        assert api.get(f"/v2/{repo}/blobs/{stored['config']['digest']}").content == config_file.read_bytes()

    anonymous, config = client_for(registry_endpoint, None, tmp_path)
    with pytest.raises(ValueError, match="Unauthorized"):
        anonymous.pull(target=target, config_path=config, outdir=str(tmp_path / "anonymous"))

    outdir = tmp_path / "pulled"
    client.pull(target=target, config_path=config, outdir=str(outdir))
    assert (outdir / "notes.txt").read_bytes() == source.read_bytes()


def test_a_guest_may_not_push_an_artifact(
    accounts: dict[str, str], registry_endpoint: RegistryEndpoint, tmp_path: Path
) -> None:
    client, _ = client_for(registry_endpoint, accounts["guest"], tmp_path)
    assert ask_for_push_scope(client, registry_endpoint.host, f"{PROJECT}/guest-artifact") == 401
    # oras-py turns the registry's refusal of the upload into a ValueError carrying the error body.
    with pytest.raises(ValueError, match=r"UNAUTHORIZED.*visitor may not push"):
        push_artifact(client, f"{registry_endpoint.host}/{PROJECT}/guest-artifact:v1", payload(tmp_path, "x.bin"))
    with registry_endpoint.client() as api:
        assert api.get(f"/v2/{PROJECT}/guest-artifact/tags/list").status_code == 404


def test_anonymous_clients_pull_public_artifacts(
    accounts: dict[str, str], registry_endpoint: RegistryEndpoint, tmp_path: Path
) -> None:
    target = f"{registry_endpoint.host}/library/oras-public:v1"
    source = payload(tmp_path, "public.bin")
    admin, _ = client_for(registry_endpoint, accounts["admin"], tmp_path)
    assert ask_for_push_scope(admin, registry_endpoint.host, "library/oras-public") == 404
    push_artifact(admin, target, source)

    anonymous, config = client_for(registry_endpoint, None, tmp_path)
    outdir = tmp_path / "pulled"
    anonymous.pull(target=target, config_path=config, outdir=str(outdir))
    assert (outdir / "public.bin").read_bytes() == source.read_bytes()
